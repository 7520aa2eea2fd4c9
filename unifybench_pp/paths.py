"""Names that become paths, and paths that are read: one rule for each, used by every reader and writer.

Writing: a concept id, a model name or a benchmark version becomes one file
or folder name through `path_component`, which never lets two names share a
path and never lets a name climb out (`..`, a separator, an absolute path).

Reading: release folders, built benchmarks, run directories and predictions
come from other people, so a path they name is untrusted. `inside` keeps a
named path, symlinks resolved, within its root; `read_regular` opens regular
files only (a FIFO would block the reader forever, a device has side effects)
and checks that before opening. A symlink loop is a refusal, not a crash.
Every refusal is an UnsafePath whose message is one line.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_LONGEST = 120
"""Characters of a path component before it is cut and suffixed with a hash (file systems allow 255 bytes)."""


class UnsafePath(ValueError):
    """A name or path that is refused: it would escape its folder, collide, or is not a regular file."""


class OutsideRoot(UnsafePath):
    """A path that is absolute or, symlinks resolved, leads outside its root."""


def path_component(name: str, what: str = "name") -> str:
    """`name` as a single file or folder name that no other name maps to.

    Names of `[A-Za-z0-9_.-]` stay as they are (so existing layouts do not
    move); any other character becomes `%XX` per UTF-8 byte, as does a
    leading dot (no hidden files). `%` and `~` are never left as they are, so
    the encoding is reversible and two names never share a component; a
    component longer than _LONGEST is cut and suffixed `~<sha256 of the name>`.
    Case is kept: see `check_distinct` for file systems that ignore it.
    """
    if not isinstance(name, str) or not name.strip():
        raise UnsafePath(f"{what} {name!r} is empty")
    if "\0" in name:
        raise UnsafePath(f"{what} {name!r} contains a NUL byte")
    if name in (".", ".."):
        raise UnsafePath(f"{what} {name!r} would name the folder itself or its parent")
    if "/" in name or "\\" in name:
        raise UnsafePath(f"{what} {name!r} contains a path separator (an absolute or nested path)")
    units = [c if c in _PLAIN else "".join(f"%{byte:02X}" for byte in c.encode("utf-8")) for c in name]
    if units[0] == ".":
        units[0] = "%2E"
    encoded = "".join(units)
    if len(encoded) <= _LONGEST:
        return encoded
    kept, length = [], 0
    for unit in units:
        if length + len(unit) > _LONGEST - 17:
            break
        kept.append(unit)
        length += len(unit)
    return "".join(kept) + "~" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]


def check_distinct(names: list[str], what: str) -> None:
    """UnsafePath unless every name is a valid path component and no two are equal or differ only in case
    (one file on macOS and Windows, whose file systems ignore case)."""
    seen: dict[str, str] = {}
    for name in names:
        key = path_component(name, what).casefold()
        if key in seen:
            same = seen[key] == name
            raise UnsafePath(f"{what} {name!r} appears twice" if same else
                             f"{what}s {seen[key]!r} and {name!r} differ only in case, so they would share files")
        seen[key] = name


def inside(root: Path, name: str) -> Path:
    """The resolved `root / name`; UnsafePath when `name` is absolute or, symlinks resolved, leads outside `root`,
    or cannot be resolved (a symlink loop, a NUL byte)."""
    relative = Path(name)
    if not name or relative.is_absolute():
        raise OutsideRoot(f"path {name!r} is not relative to its folder")
    if "\0" in name:
        raise UnsafePath(f"path {name!r} contains a NUL byte")
    try:
        base = root.resolve()
        target = (base / relative).resolve()
    except (OSError, RuntimeError) as error:  # Python < 3.13 reports a symlink loop as RuntimeError
        raise UnsafePath(f"path {name!r} cannot be resolved ({_reason(error)})") from None
    if not target.is_relative_to(base):
        raise OutsideRoot(f"path {name!r} leads outside its folder"
                         + (" through a symlink" if ".." not in relative.parts else " with '..'"))
    return target


def _reason(error: Exception) -> str:
    if isinstance(error, RuntimeError) or getattr(error, "errno", None) == errno.ELOOP:
        return "a symbolic link loop"
    return getattr(error, "strerror", None) or str(error)


def check_regular(path: Path) -> None:
    """UnsafePath unless `path` (symlinks followed) is a regular file; FileNotFoundError when it is absent.

    The message says what the path is instead; callers put the name in front.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise
    except OSError as error:
        raise UnsafePath(f"cannot be read: {_reason(error)}") from None
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a special file")
        raise UnsafePath(f"is {kind}, not a regular file")


def read_regular(path: Path) -> bytes:
    """The bytes of a regular file, refusing anything else before opening it (and again, race-free, after)."""
    check_regular(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePath("is not a regular file")
        os.set_blocking(fd, True)
        return handle.read()


def entries(folder: Path) -> list[Path]:
    """A folder's entries, sorted; UnsafePath when it cannot be listed (no permission, an I/O error)."""
    try:
        return sorted(folder.iterdir())
    except OSError as error:
        raise UnsafePath(f"cannot be listed: {_reason(error)}") from None


class NotText(ValueError):
    """Bytes that are not UTF-8 text or that hold a NUL (no text file of ours or of a release does): the offset
    says where to repair the file."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"{reason} at byte {offset}")
        self.offset, self.reason = offset, reason


def utf8_text(data: bytes) -> str:
    """`data` decoded as UTF-8; NotText at the first byte that is not UTF-8 or is NUL."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotText(error.start, f"not UTF-8 text (byte 0x{data[error.start]:02x})") from None
    if (nul := data.find(b"\0")) >= 0:
        raise NotText(nul, "a NUL byte")
    return text


def read_regular_text(path: Path) -> str:
    """A regular file's UTF-8 text (NotText for bytes that are not)."""
    return utf8_text(read_regular(path))
