"""One writer per output directory: `ubpp evaluate`, `ubpp score --run-dir` and the trainer take this lock.

The lock is an OS file lock (filelock: flock on POSIX), so the kernel frees
it when its holder dies, even by kill -9: a stale lock needs no clean-up and
is simply taken over. The lock file itself carries no data (filelock owns
its bytes); the holder (pid, host, start time) is written beside it so a
refused writer can name who has the directory, and a holder file left
behind tells the next writer that the previous one was killed.

Each shard of a sharded evaluation locks its own name (`shard-i-of-n`), so
shards never wait for each other; the run-wide name guards the shared files
(predictions.jsonl, run.json, scores, summary).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import UbppError
from .files import atomic_write


def utc_now() -> str:
    """The minute, in UTC, as runs and lock holders record it."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


class RunLocked(UbppError, RuntimeError):
    """Another live process writes the directory (the CLI prints it as one line, exit code 2)."""


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    started: str

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started}"


def _paths(directory: Path, name: str) -> tuple[Path, Path]:
    return directory / f".ubpp-{name}.lock", directory / f".ubpp-{name}.holder.json"


def holder(directory: Path, name: str = "run") -> Holder | None:
    """Who holds (or last held without releasing) the lock, as far as its holder file says."""
    try:
        return Holder(**json.loads(_paths(directory, name)[1].read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


@contextmanager
def run_lock(directory: Path, name: str = "run", wait: bool = False,
             say: Callable[[str], None] = lambda message: None) -> Iterator[Holder]:
    """Hold `directory`'s lock `name` for the block; yields this process's holder record.

    Busy: raise RunLocked naming the holder, or with `wait` block until it is
    free (saying whom it waits for). `say` also reports a stale lock taken over.
    A folder this call created is removed again when the block leaves nothing
    in it but the lock (a refused or failed first write leaves no trace).
    """
    created = not directory.exists()
    lock_path, holder_path = _paths(directory, name)
    lock = _acquire(directory, lock_path, name, wait, say)
    try:
        stale = holder(directory, name)
        if stale is not None:
            say(f"took over the lock of {directory} left by {stale}, which ended without releasing it")
        me = Holder(os.getpid(), socket.gethostname(), utc_now())
        atomic_write(holder_path, json.dumps(asdict(me)) + "\n")
        try:
            yield me
        finally:
            with suppress(FileNotFoundError):
                holder_path.unlink()
    finally:
        if created and [p.name for p in directory.iterdir()] == [lock_path.name]:
            lock_path.unlink()  # still holding it: a waiter wakes on a removed file and starts over
            directory.rmdir()
        lock.release()


def _acquire(directory: Path, lock_path: Path, name: str, wait: bool, say: Callable[[str], None]) -> FileLock:
    """The lock, taken on the lock file that is in place (not one its holder removed while we waited)."""
    while True:
        directory.mkdir(parents=True, exist_ok=True)
        lock = FileLock(lock_path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            other = holder(directory, name)
            who = str(other) if other else "another process"
            if not wait:
                raise RunLocked(f"{directory} is being written by {who}: wait for it to finish, "
                                f"or pass --wait to start when it does") from None
            say(f"waiting for {who} to finish writing {directory}")
            lock.acquire()
        if lock_path.exists():
            return lock
        lock.release()
