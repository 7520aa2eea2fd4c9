"""Paths that a run or a predictions file names: relative, and inside its folder once symlinks resolve.

Run directories come from other people (a leaderboard maintainer builds the
page from submitted runs), so a path in one is untrusted input: an absolute
path, a `..` or a symlink pointing out would make `ubpp score` read, and the
leaderboard publish, any file on the maintainer's machine. Every reader and
writer of such a path goes through `inside`.
"""

from __future__ import annotations

from pathlib import Path


class PathEscape(ValueError):
    """A named path that is refused; the message says why."""


def inside(root: Path, name: str) -> Path:
    """The resolved `root / name`, or PathEscape when `name` is absolute, climbs with `..` or leads outside."""
    relative = Path(name)
    if not name or relative.is_absolute():
        raise PathEscape(f"path {name!r} is not relative to its folder")
    if ".." in relative.parts:
        raise PathEscape(f"path {name!r} climbs out of its folder with '..'")
    try:
        base = root.resolve()
        target = (base / relative).resolve()
    except (OSError, ValueError) as error:  # a symlink loop, a NUL byte
        raise PathEscape(f"path {name!r} cannot be resolved ({error})") from None
    if not target.is_relative_to(base):
        raise PathEscape(f"path {name!r} leads outside its folder through a symlink")
    return target
