"""`ubpp train --out`: which folders may hold a run (checked before the model loads)."""

from __future__ import annotations

from pathlib import Path

from training.outdir import BUNDLE_KIND, out_problem
from unifybench_pp.files import seal


def _run(folder: Path) -> Path:
    """A run folder as the trainer leaves it: its logs, a checkpoint and a sealed model bundle."""
    (folder / "checkpoints" / "step-000002").mkdir(parents=True)
    for name in ("config.yaml", "launch.json", "metrics.jsonl", "samples.jsonl"):
        (folder / name).write_text("")
    (folder / "model").mkdir()
    (folder / "model" / "config.json").write_text("{}")
    seal(folder / "model", BUNDLE_KIND)
    (folder / ".ubpp-train.lock").write_text("")
    return folder


def test_new_empty_and_earlier_runs_are_accepted(tmp_path: Path) -> None:
    assert out_problem(tmp_path / "absent", per_concept=True) is None
    (tmp_path / "empty").mkdir()
    assert out_problem(tmp_path / "empty", per_concept=False) is None
    assert out_problem(_run(tmp_path / "flat"), per_concept=False) is None
    _run(tmp_path / "per" / "ast")
    _run(tmp_path / "per" / "cam")
    assert out_problem(tmp_path / "per", per_concept=True) is None


def test_what_train_does_not_write_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("mine")
    assert "is a file, not a folder" in out_problem(tmp_path / "file", per_concept=True)
    build = tmp_path / "build"
    build.mkdir()
    (build / "manifest.json").write_text("{}")
    assert "manifest.json is a file, so it is not a concept's training run" in out_problem(build, per_concept=True)
    assert "holds manifest.json, which `ubpp train` does not write" in out_problem(build, per_concept=False)
    run = _run(tmp_path / "run")
    (run / "notes.txt").write_text("mine")
    assert "holds notes.txt" in out_problem(run, per_concept=False)
    (run / "notes.txt").unlink()
    (run / "model" / "extra.bin").write_text("mine")  # the export would refuse to replace model/ after training
    assert "holds a model/ the run could not replace: it holds extra.bin" in out_problem(run, per_concept=False)


def test_a_folder_laid_out_for_the_other_run_per_concept_is_refused(tmp_path: Path) -> None:
    flat = _run(tmp_path / "flat")
    assert "a run trained with run_per_concept: false" in out_problem(flat, per_concept=True)
    _run(tmp_path / "per" / "ast")
    assert "holds ast/, a concept's own run" in out_problem(tmp_path / "per", per_concept=False)
