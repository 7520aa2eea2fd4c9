"""Files and folders we create follow the user's umask: under 022 a second user can read a build, a run and a
model bundle (mkstemp / mkdtemp would have made them 0600 / 0700)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import unifybench_pp
from cli import app
from unifybench_pp import SplitConfig
from unifybench_pp.files import atomic_write, staged_directory


@pytest.fixture()
def umask() -> Iterator[callable]:
    before = os.umask(0o022)
    os.umask(before)
    yield os.umask
    os.umask(before)


def modes(root: Path) -> set[tuple[str, int]]:
    """(kind, permission bits) of `root` and everything under it."""
    found = {("dir", stat.S_IMODE(root.stat().st_mode))}
    for path in root.rglob("*"):
        found.add(("dir" if path.is_dir() else "file", stat.S_IMODE(path.stat().st_mode)))
    return found


@pytest.mark.parametrize("mask, folder, file", [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)])
def test_a_build_follows_the_umask(mask: int, folder: int, file: int, umask, release: Path, tmp_path: Path) -> None:
    umask(mask)
    out = unifybench_pp.build(release, tmp_path / "bench", SplitConfig(), quiet=True).out
    unifybench_pp.build(release, out, SplitConfig(), quiet=True)  # a rebuild too
    assert modes(out) == {("dir", folder), ("file", file)}


def test_a_scored_run_and_a_replaced_folder_are_readable_by_others(umask, mini_build: Path, tmp_path: Path) -> None:
    umask(0o022)
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"task": "qa", "id": "qa/ast/000", "output": "x"}) + "\n")
    result = CliRunner().invoke(app, ["score", str(mini_build), str(preds), "--run-dir", str(tmp_path / "run"),
                                      "--judge-cache", str(tmp_path / "j.sqlite")])
    assert result.exit_code == 0, result.output
    assert modes(tmp_path / "run") == {("dir", 0o755), ("file", 0o644)}
    # model bundles and checkpoints are written so
    with staged_directory(tmp_path / "model", "model bundle") as staging:
        atomic_write(staging / "concepts" / "bo.safetensors", b"rows")
    assert modes(tmp_path / "model") == {("dir", 0o755), ("file", 0o644)}
