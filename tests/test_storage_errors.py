"""Writes the system refuses, on a real small or read-only file system (tmpfs; skipped where it cannot be
mounted): one line naming what is kept, exit 1, nothing half-written, and the same command resumes once there
is room."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app


@contextmanager
def tmpfs(where: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def grow(where: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(where)], check=True)


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


def ubpp(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args], prog_name="ubpp")


def one_line(result, code: int, *needles: str) -> str:
    assert result.exit_code == code and isinstance(result.exception, SystemExit), (result.exception, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert all(needle in lines[0] for needle in needles), lines[0]
    return lines[0]


def test_a_full_disk_during_a_rebuild_keeps_the_previous_build_and_leaves_nothing(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "1400k") as disk:  # room for one mini build (~0.9 MB), not for two at once
        assert ubpp("build-dataset", "--out", disk / "bench", "-q").exit_code == 0
        before = tree(disk / "bench")
        one_line(ubpp("build-dataset", "--out", disk / "bench", "--seed", "7", "-q"), 1,
                 "No space left on device", "--out is unchanged")
        assert tree(disk / "bench") == before
        assert sorted(p.name for p in disk.iterdir()) == ["bench"]  # the staging folder is gone
        grow(disk, "4m")
        assert ubpp("build-dataset", "--out", disk / "bench", "--seed", "7", "-q").exit_code == 0


def test_a_full_disk_during_evaluate_resumes_to_the_same_run(mini_build: Path, tmp_path: Path) -> None:
    command = ("evaluate", "--model", "real-images", "--benchmark", mini_build, "--limit", "4",
               "--judge-cache", tmp_path / "judge.sqlite", "--runs-dir")
    assert ubpp(*command, tmp_path / "reference").exit_code == 0
    with tmpfs(tmp_path / "disk", "300k") as disk:  # a few of the 16 photos fit
        one_line(ubpp(*command, disk / "runs"), 1, "No space left on device", "re-run the same command to resume")
        grow(disk, "16m")
        assert ubpp(*command, disk / "runs").exit_code == 0
        resumed = tree(disk / "runs")
    reference = tree(tmp_path / "reference")
    same = {name for name in reference if not name.endswith("run.json")}  # run.json holds times
    assert len(same) > 16 and {name: resumed[name] for name in same} == {name: reference[name] for name in same}


def test_a_read_only_out_is_one_line(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as ro:
        one_line(ubpp("build-dataset", "--out", ro / "bench", "-q"), 1, "Read-only file system", "--out is unchanged")
        assert list(ro.iterdir()) == []
