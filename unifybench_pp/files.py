"""Writing files and folders so that a reader, or a process killed midway, never sees half of one, and so that
nothing we did not write is ever deleted.

Every output of the project goes through here: benchmark builds, run
directories, locks, training logs, checkpoints and model bundles.

A folder that replaces another (a build, a model bundle, a checkpoint) is
filled in a hidden sibling `.<name>.tmp-<hex>`, sealed with a marker file
(MARKER) listing every entry it holds, and swapped in. The folder it replaces
must be provably ours: absent, empty, or sealed by us and holding nothing the
marker does not list. Anything else (a user's folder that happens to hold a
`manifest.json`, the current directory, a release) is refused with NotOurs.

A writer holds an flock on its staging folder while it lives, and on the
folder it replaces while it renames it to `.<name>.old-<hex>` and removes
it; such a folder of ours left by a killed writer (its marker says so, and no
live process holds it) is removed by the next writer of the same target.

Files and folders are created with the user's umask (tempfile's mkstemp and
mkdtemp would make them 0600 / 0700, unreadable to anyone else).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MARKER = ".ubpp-written.json"
"""Written into every folder we stage: who wrote it, its state, and every entry it holds."""
_WRITER = "ubpp"
_STATES = ("staging", "complete")
_FIX = "choose a new or empty folder, or move what is there elsewhere yourself"


class NotOurs(ValueError):
    """A folder we were asked to replace that we cannot prove we wrote; nothing was changed."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem} (fix: {_FIX})")


def _new_name(parent: Path, prefix: str) -> Path:
    return parent / f"{prefix}{secrets.token_hex(6)}"


def _new_folder(parent: Path, prefix: str) -> Path:
    """A new empty folder `parent/<prefix><hex>`, with the umask's permissions."""
    while True:
        path = _new_name(parent, prefix)
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def atomic_write(path: Path, data: str | bytes) -> None:
    """Replace `path` with `data` through a temporary sibling: readers see the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = _new_name(path.parent, f".{path.name}.")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def append_durably(path: Path, data: str) -> None:
    """Append and fsync: a log line is on disk before the work it records is taken as done."""
    with path.open("ab") as handle:
        handle.write(data.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())


def visible_entries(folder: Path) -> list[str]:
    """The names in `folder`, sorted, hidden ones left out: locks, markers and staging folders are ubpp's own, and
    a `.DS_Store` says nothing of what the folder holds."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def _entries(folder: Path) -> list[str]:
    """Every file, folder and link under `folder` (links not followed), relative, sorted; the marker excluded."""
    found = []
    def unreadable(error: OSError) -> None:
        raise error

    for parent, folders, files in os.walk(folder, onerror=unreadable):
        relative = Path(parent).relative_to(folder)
        found += [(relative / name).as_posix() for name in folders + files]
    return sorted(name for name in found if name != MARKER)


def _write_marker(folder: Path, state: str, entries: list[str], kind: str) -> None:
    atomic_write(folder / MARKER, json.dumps({"written_by": _WRITER, "state": state, "entries": entries,
                                              "kind": kind}, indent=1, sort_keys=True) + "\n")


def _marker(folder: Path) -> dict | None:
    """The folder's marker if it is one of ours (a regular file with our fields), else None."""
    path = folder / MARKER
    try:
        if not path.is_file() or path.is_symlink():
            return None
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(marker, dict) and marker.get("written_by") == _WRITER and marker.get("state") in _STATES
            and isinstance(marker.get("entries"), list) and isinstance(marker.get("kind", ""), str)):
        return None
    return marker


def sealed_entries(folder: Path) -> list[str] | None:
    """The entries our marker in `folder` lists, or None when it holds no valid marker of ours."""
    marker = _marker(folder)
    return None if marker is None else marker["entries"]


def sealed_kind(folder: Path) -> str | None:
    """What ubpp sealed `folder` as (a benchmark build, a leaderboard site, a model bundle; "" for markers older
    than kinds), or None when it holds no valid marker of ours: how an output knows a folder it must not write in."""
    marker = _marker(folder)
    return None if marker is None else marker.get("kind", "")


def check_replaceable(target: Path, kind: str) -> None:
    """NotOurs unless `target` is absent, an empty folder, or a `kind` folder we sealed that holds only what we
    wrote.

    Entries we wrote and someone removed are fine; one entry we did not write (a user's file added to a
    build) is enough to refuse, and the message names it. A folder we wrote as another kind (a published
    leaderboard given to `build-dataset --out`) is refused too; markers older than kinds name none.
    """
    target = Path(os.path.abspath(target))  # "." is the current folder, not a root (symlinks kept to be refused)
    if target == target.parent:
        raise NotOurs(target, "is the root of the file system")
    here = Path.cwd().resolve()
    if here == target.resolve() or here.is_relative_to(target.resolve()):
        where = "is" if here == target.resolve() else "holds"
        raise NotOurs(target, f"{where} the current folder: replacing it would leave the shell in a deleted folder")
    if target.is_symlink():
        raise NotOurs(target, "is a symbolic link: name the folder it points to")
    if not target.exists():
        above = next(parent for parent in target.parents if parent.exists())
        if not above.is_dir():
            raise NotOurs(target, f"cannot be made: {above} is a file, not a folder")
        return
    if not target.is_dir():
        raise NotOurs(target, "exists and is not a folder")
    present = _entries(target)
    if not present and not (target / MARKER).exists():
        return
    marker = _marker(target)
    if marker is None:
        raise NotOurs(target, f"holds {present[0] if present else MARKER} and was not written by ubpp (no valid "
                              f"{MARKER}; outputs of ubpp versions before it was added have none either)")
    if marker.get("kind", kind) != kind:
        raise NotOurs(target, f"is a {marker['kind']} that ubpp wrote, not a {kind}")
    unknown = sorted(set(present) - set(marker["entries"]))
    if unknown:
        more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
        raise NotOurs(target, f"holds {unknown[0]}{more}, which ubpp did not write")


@contextmanager
def _held(folder: Path, wait: bool = True) -> Iterator[bool]:
    """An exclusive flock on `folder` for the block: yields False (without it) when busy and not `wait`.

    The kernel drops the lock when its holder dies, so a held folder is one a live writer is filling.
    """
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        same = os.stat(folder, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        yield same  # False: the folder was renamed (a writer finished) between open and lock
    finally:
        os.close(fd)


def _remove_ours(folder: Path) -> None:
    """Delete a folder of ours, its marker last, so a kill midway leaves it still recognisably ours."""
    for entry in folder.iterdir():
        if entry.name == MARKER:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    (folder / MARKER).unlink(missing_ok=True)
    folder.rmdir()


def remove_leftovers(target: Path) -> list[Path]:
    """Remove `.<target>.tmp-*` / `.<target>.old-*` folders of ours whose writer is dead; returns them.

    Skipped: folders without our marker, folders a live writer holds, `.old-` folders holding anything
    their marker does not list.
    """
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(tmp|old)-[A-Za-z0-9_]+")
    removed = []
    for candidate in sorted(target.parent.iterdir()) if target.parent.is_dir() else []:
        kind = pattern.fullmatch(candidate.name)
        if not kind or candidate.is_symlink() or not candidate.is_dir():
            continue
        try:
            with _held(candidate, wait=False) as mine:
                marker = _marker(candidate)
                if not mine or marker is None:
                    continue
                if kind[1] == "old" and set(_entries(candidate)) - set(marker["entries"]):
                    continue
                _remove_ours(candidate)
                removed.append(candidate)
        except FileNotFoundError:
            continue  # renamed or removed by its writer meanwhile
    return removed


def seal(folder: Path, kind: str) -> None:
    """Mark `folder` as a `kind` written by us, listing every entry it holds now."""
    _write_marker(folder, "complete", _entries(folder), kind)


def replace_directory(staging: Path, target: Path, kind: str) -> None:
    """Seal the finished folder `staging` and put it in `target`'s place.

    `target` must be ours (check_replaceable); it is renamed to a hidden `.<name>.old-*` sibling first and
    removed only once the new folder is in place; if that fails, it is put back.
    """
    seal(staging, kind)
    while True:
        check_replaceable(target, kind)
        if not target.exists():
            os.replace(staging, target)
            return
        with _held(target) as mine:
            if not mine:  # another writer replaced it while we waited: check the new one
                continue
            check_replaceable(target, kind)
            old = _new_name(target.parent, f".{target.name}.old-")
            os.replace(target, old)
            try:
                os.replace(staging, target)
            except BaseException:
                os.replace(old, target)
                raise
            try:
                _remove_ours(old)
            except OSError:  # the new folder is in place; the next writer's remove_leftovers retries this
                pass
            return


@contextmanager
def staged_directory(target: Path, kind: str) -> Iterator[Path]:
    """An empty sibling folder to fill; it becomes `target` when the block ends, and is removed if it fails.

    Refused (NotOurs) before the block runs when `target` is not ours to replace; leftovers of killed
    writers of `target` are removed first.
    """
    check_replaceable(target, kind)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    staging = _new_folder(target.parent, f".{target.name}.tmp-")
    with _held(staging):
        _write_marker(staging, "staging", [], kind)
        try:
            yield staging
            replace_directory(staging, target, kind)
        except BaseException:
            if staging.exists():
                _remove_ours(staging)
            raise
