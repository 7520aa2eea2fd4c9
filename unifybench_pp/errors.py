"""The errors a user can fix: one base, so the CLI prints every one of them as one line with its exit code, and
anything else (a bug) keeps its traceback."""

from __future__ import annotations

from pathlib import Path


class UbppError(Exception):
    """A problem the user can fix (bad input, a missing model, a setting out of range): the CLI prints
    `error: <message>` on one line and exits with `exit_code`. The message names the fix."""

    exit_code = 2


class SettingsError(UbppError, ValueError):
    """A setting or option that cannot be used as given (a `ValueError` too, for callers that validate)."""


class SourceError(UbppError):
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
