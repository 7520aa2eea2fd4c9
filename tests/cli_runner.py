"""`ubpp ARGS` run in this process, as the console script would run it in `cwd`: the same app, without a new
interpreter's few seconds of imports per call. An exception the CLI lets escape comes back as the traceback a
console script would print, so tests that forbid tracebacks still see them."""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from pathlib import Path

from typer.testing import CliRunner

from cli import app

UBPP = Path(sys.executable).with_name("ubpp")
"""The console script `pip install -e .` puts beside the interpreter running the tests."""


def ubpp(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, list(args), env={"COLUMNS": "120", **(env or {})})
    finally:
        os.chdir(previous)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["ubpp", *args], result.exit_code, result.stdout, stderr)
