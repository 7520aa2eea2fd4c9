"""Nothing we did not write is deleted: `--out` is replaced only when it is a build of ours (its marker), never a
user's folder, the current directory or the source; leftovers of killed writers are cleaned, live ones and
anything without our marker are not."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import unifybench_pp
from unifybench_pp import SourceError, SplitConfig
from unifybench_pp.files import MARKER, NotOurs, _held, remove_leftovers, replace_directory, staged_directory

from .run_fixtures import make_run

ROOT = Path(__file__).parents[1]


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def cli_build(source: Path, out: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cli", "build-dataset", "--source", str(source), "--out", out,
                           "--quiet"], capture_output=True, text=True, cwd=cwd, env=env)


def assert_refused(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_a_users_folder_holding_a_manifest_json_is_not_replaced(release: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    (out / "thesis.tex").write_text("years of work")
    before = tree(out)
    assert_refused(cli_build(release, str(out), tmp_path), "not a UnifyBench++ build", "was not written by ubpp")
    assert tree(out) == before


def test_out_dot_does_not_empty_the_current_folder(release: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("keep")
    assert_refused(cli_build(release, ".", work), str(work), "is the current folder")
    assert tree(work) == {"notes.txt": b"keep"}
    ours = tmp_path / "deep" / "ours"
    unifybench_pp.build(release, ours, SplitConfig(), quiet=True)
    before = tree(ours)  # even a build of ours: replacing it would leave the shell in a deleted folder
    assert_refused(cli_build(release, ".", ours), "is the current folder")
    assert_refused(cli_build(release, str(ours.parent), ours), "holds the current folder")
    assert tree(ours) == before


@pytest.mark.parametrize("where", ["parent", "same", "inside"])
def test_out_overlapping_the_source_is_refused(where: str, release: Path) -> None:
    out = {"parent": release.parent, "same": release, "inside": release / "built"}[where]
    before = tree(release.parent)
    word = {"parent": "contains", "same": "is the source", "inside": "is inside"}[where]
    assert_refused(cli_build(release, str(out), release.parent), f"--out {word}")
    assert tree(release.parent) == before


def test_a_build_of_ours_is_replaced_but_not_once_a_user_adds_a_file(release: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    unifybench_pp.build(release, out, SplitConfig(), quiet=True)
    assert (out / MARKER).is_file()
    unifybench_pp.build(release, out, SplitConfig(seed=3), quiet=True)  # ours: replaced
    assert unifybench_pp.load(out).manifest["seed"] == 3
    (out / "images" / "my-notes.txt").write_text("mine")
    with pytest.raises(SourceError, match="holds images/my-notes.txt, which ubpp did not write"):
        unifybench_pp.build(release, out, SplitConfig(), quiet=True)
    assert (out / "images" / "my-notes.txt").read_text() == "mine"
    assert unifybench_pp.load(out).manifest["seed"] == 3


def test_an_empty_folder_is_filled_and_a_file_is_refused(release: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    unifybench_pp.build(release, empty, SplitConfig(), quiet=True)
    assert (empty / "manifest.json").is_file()
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(SourceError, match="exists and is not a folder"):
        unifybench_pp.build(release, file, SplitConfig(), quiet=True)


def test_a_forged_marker_that_hides_a_users_file_is_not_enough(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with staged_directory(target, "model bundle") as staging:
        (staging / "weights.bin").write_bytes(b"w")
    (target / "user.txt").write_text("mine")
    staging = tmp_path / "new"
    staging.mkdir()
    with pytest.raises(NotOurs, match="holds user.txt, which ubpp did not write"):
        replace_directory(staging, target, "model bundle")
    assert (target / "user.txt").read_text() == "mine" and (target / "weights.bin").exists()


def test_replace_directory_protects_checkpoints_and_bundles_too(tmp_path: Path) -> None:
    """The trainer's checkpoints and the model bundles go through replace_directory: a user's folder in the
    way is refused, a folder of ours is replaced."""
    target = tmp_path / "step-000010"
    target.mkdir()
    (target / "optimizer.bin").write_bytes(b"someone else's")
    staging = tmp_path / "step-000010.tmp"
    staging.mkdir()
    (staging / "optimizer.bin").write_bytes(b"ours")
    with pytest.raises(NotOurs, match="was not written by ubpp"):
        replace_directory(staging, target, "checkpoint")
    assert (target / "optimizer.bin").read_bytes() == b"someone else's"
    shutil.rmtree(target)
    replace_directory(staging, target, "checkpoint")
    again = tmp_path / "again"
    again.mkdir()
    (again / "optimizer.bin").write_bytes(b"newer")
    replace_directory(again, target, "checkpoint")
    assert (target / "optimizer.bin").read_bytes() == b"newer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000010"]


def test_a_folder_ubpp_wrote_as_one_kind_is_not_replaced_as_another(mini_build: Path, tmp_path: Path) -> None:
    """A published leaderboard given to `build-dataset --out` (or a build given to `leaderboard --out`) is
    refused, nothing changed: each writer replaces only what its own kind of marker seals."""
    from typer.testing import CliRunner

    from cli import app

    site = tmp_path / "site"
    make_run(tmp_path / "runs", "A", {"rec.weight": 0.5}, ["understand"])
    built = CliRunner().invoke(app, ["leaderboard", str(tmp_path / "runs"), "--out", str(site)])
    assert built.exit_code == 0, built.output
    before = sorted(p.relative_to(site) for p in site.rglob("*"))
    rebuilt = CliRunner().invoke(app, ["build-dataset", "--out", str(site), "--quiet"])
    assert rebuilt.exit_code == 2 and "is a leaderboard site that ubpp wrote, not a benchmark build" in rebuilt.output
    assert sorted(p.relative_to(site) for p in site.rglob("*")) == before
    shutil.copytree(mini_build, tmp_path / "build")
    published = CliRunner().invoke(app, ["leaderboard", str(tmp_path / "runs"), "--out", str(tmp_path / "build")])
    assert published.exit_code == 2 and (tmp_path / "build" / "manifest.json").is_file()
    assert "not a leaderboard site to replace" in published.output, published.output


KILLED_WRITER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from unifybench_pp.files import staged_directory
    with staged_directory(Path(sys.argv[1]), "benchmark build") as staging:
        (staging / "half.bin").write_bytes(b"x" * 1000)
        os.kill(os.getpid(), 9)
""")


def test_leftovers_of_a_killed_build_are_removed_by_the_next_one(release: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    unifybench_pp.build(release, out, SplitConfig(), quiet=True)
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(out)], env={**os.environ,
                                                                                  "PYTHONPATH": str(ROOT)})
    assert killed.returncode == -signal.SIGKILL
    # a kill between the two renames of a replacement leaves the previous build under an .old- name
    os.replace(out, tmp_path / ".out.old-0123456789ab")
    not_ours = tmp_path / ".out.tmp-feedfacecafe"  # same pattern, no marker: never touched
    not_ours.mkdir()
    (not_ours / "x").write_text("x")
    live = tmp_path / ".out.tmp-livelivelive"  # a writer still filling it
    live.mkdir()
    (live / MARKER).write_text('{"written_by": "ubpp", "state": "staging", "entries": []}')
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out."))
    assert len(leftovers) == 4, leftovers
    with _held(live):
        unifybench_pp.build(release, out, SplitConfig(), quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".out.tmp-feedfacecafe", ".out.tmp-livelivelive", "out", "release"])
    assert remove_leftovers(out) == [live]  # its writer is gone now


def test_the_dataset_card_shows_names_from_the_release_as_text(release: Path, tmp_path: Path) -> None:
    """A build name and an image file name carrying HTML, `|` and a backtick: the card and SPLITS.md render them
    as text (a hub page renders Markdown), the `|` escaped so no table row gains a cell."""
    hostile = "x|<img src=x onerror=alert(1)>`"
    (release / "concept/train/ada/0.png").rename(release / f"concept/train/ada/{hostile}.png")
    listed = json.loads((release / "concept/train/train_images.json").read_text())
    listed["ada"] = [f"{hostile}.png" if name == "0.png" else name for name in listed["ada"]]
    (release / "concept/train/train_images.json").write_text(json.dumps(listed))
    out = unifybench_pp.build(release, tmp_path / "bench", SplitConfig(), name=hostile, quiet=True).out
    card, splits = (out / "README.md").read_text(), (out / "SPLITS.md").read_text()
    for text in (card, splits):
        outside_code = re.sub(r"(`+)(?!`).+?(?<!`)\1(?!`)", "", text)  # inside a code span, <img is shown as is
        assert "<img" not in outside_code and "x|" not in text, outside_code
    assert card.startswith("# x\\|&lt;img src=x onerror=alert(1)&gt;\\` (UnifyBench++)")  # text, not markup
    assert "| ``concept/train/ada/x\\|<img src=x onerror=alert(1)>`.png`` |" in card  # a code span shows it
