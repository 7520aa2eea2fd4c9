"""The one error type bad benchmark input raises, so the CLI can print it as one line."""

from __future__ import annotations

from pathlib import Path


class SourceError(Exception):
    """Malformed benchmark input: names the file, the place in it, the problem and the fix.

    The CLI prints ``str(error)`` as a single line and exits with code 2.
    """

    def __init__(self, file: str | Path, where: str, problem: str, fix: str) -> None:
        self.file = str(file)
        self.where = where
        self.problem = problem
        self.fix = fix
        location = f"{self.file}:{where}" if where else self.file
        super().__init__(f"{location}: {problem} (fix: {fix})")
