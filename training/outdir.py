"""Whether `ubpp train --out` may hold this run: checked before the model loads, so a mistyped --out (a user's
folder, a benchmark build, a published site, a file) is refused in one line and nothing in it is touched.

A training folder holds only what the trainer writes (`RUN_ENTRIES`), and with `run_per_concept` one such
folder per concept; hidden entries (locks, staging folders) are the trainer's own. A folder laid out for the
other `run_per_concept` value is refused too: resuming it with the other value used to start a fresh run beside
the half-done one.
"""

from __future__ import annotations

from pathlib import Path

from baselines.showo.bundle import RUN_CONFIG, TRAINED_MODEL, is_concept_run
from unifybench_pp.files import NotOurs, check_replaceable, visible_entries

LAUNCH = "launch.json"
"""How the run was launched (processes, groups per step)."""
METRICS = "metrics.jsonl"
SAMPLES = "samples.jsonl"
CHECKPOINTS = "checkpoints"
BASE = "base"
"""The tiny random base that `showo: tiny` builds in the run."""
TRACKERS = "syncr1"
"""The trackers' logs, under accelerate's project dir (the run)."""
RUN_ENTRIES = frozenset({RUN_CONFIG, LAUNCH, METRICS, SAMPLES, CHECKPOINTS, TRAINED_MODEL, BASE, TRACKERS})
"""What one training run writes in its folder; the trainer writes each under these names."""

BUNDLE_KIND = "model bundle"
"""The marker kind of the evaluation bundle the trainer exports to `<run>/model`."""

_FIX = "fix: give a new or empty folder, or the --out of an earlier `ubpp train` run"


def out_problem(out: Path, per_concept: bool) -> str | None:
    """Why `out` cannot hold a training run with this `run_per_concept`, or None when it can (absent, empty, or
    an earlier run laid out the same way)."""
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file, not a folder ({_FIX})"
    if not out.is_dir():
        return None
    if is_concept_run(out):
        return (f"--out {out} is the run of concept folder {out.name} inside a run per concept: give --out "
                f"{out.parent} (with run_per_concept: true) to resume it; each concept's run there goes on")
    entries = visible_entries(out)
    if per_concept:
        flat = sorted(set(entries) & RUN_ENTRIES)
        if flat:
            return (f"--out {out} holds {flat[0]}: a run trained with run_per_concept: false (one model for all "
                    f"concepts); set it to false to resume that run ({_FIX})")
        for name in entries:
            problem = _run_folder_problem(out / name) if (out / name).is_dir() else "is a file"
            if problem:
                return f"--out {out}: {name} {problem}, so it is not a concept's training run ({_FIX})"
        return None
    nested = [name for name in entries if name not in RUN_ENTRIES and (out / name).is_dir()
              and set(visible_entries(out / name)) & RUN_ENTRIES]
    if nested:
        return (f"--out {out} holds {nested[0]}/, a concept's own run: the folder was trained with run_per_concept: "
                f"true; set it to true to resume those runs ({_FIX})")
    problem = _run_folder_problem(out)
    return None if problem is None else f"--out {out} {problem} ({_FIX})"


def _run_folder_problem(folder: Path) -> str | None:
    """What in one run's folder the trainer did not write (its model bundle checked as the export will check it)."""
    foreign = [name for name in visible_entries(folder) if name not in RUN_ENTRIES]
    if foreign:
        return f"holds {foreign[0]}, which `ubpp train` does not write"
    try:
        check_replaceable(folder / TRAINED_MODEL, BUNDLE_KIND)
    except NotOurs as error:
        return f"holds a model/ the run could not replace: it {error.problem}"
    return None
