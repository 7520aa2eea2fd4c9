"""The library's evaluation entry points: a model name to a scored run (`ubpp evaluate`, the demo), and a
predictions file to scores (`ubpp score`).

The adapter registry supplies what a name implies (its leaderboard group,
size and display name, and the adapter options its protocol switches on);
the caller's own options win. Everything else is `EvalConfig`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from baselines.registry import adapters, create
from unifybench_pp.builder import build_holding
from unifybench_pp.errors import SettingsError, SourceError
from unifybench_pp.files import visible_entries
from unifybench_pp.jsonio import loads, write_json
from unifybench_pp.loader import Benchmark
from unifybench_pp.runlock import run_lock

from .metrics import MetricResult
from .rundir import SCORED_FILE, RunError, read_run_info, scored_run_info, write_run
from .runner import HARNESS_FLOW, EvalConfig, EvalResult, check_capabilities, check_selection, run_evaluation
from .scoring import OutputError, Scorers, check_settings, read_predictions, score
from .scoring_config import ScoringConfig


def evaluate_model(bench: Benchmark, model: str, *, checkpoint: str | None = None,
                   options: dict[str, Any] | None = None, scoring: ScoringConfig | None = None, device: str = "cpu",
                   on_task: Callable[[str, int], Callable[[int], None]] = lambda task, total: lambda n: None,
                   say: Callable[[str], None] = lambda message: None, **settings: Any) -> EvalResult:
    """Evaluate `model` on `bench` (resuming a finished or interrupted run); `settings` are EvalConfig fields.

    `reasoning_input` "harness" (the default here) is what the authors' harness feeds this model's Rea. Gen.:
    the model's own rewrite (`own`), or what the adapter names as `harness_reasoning_input` (BAGEL:
    `implicit`); `run_evaluation` resolves it and the run records the resolved input."""
    scoring = scoring or ScoringConfig(device=device)
    check_settings(scoring)
    spec = adapters().get(model)
    chosen = {**(spec.options_for(scoring.protocol) if spec else {}), **(options or {})}
    implied = {"model_type": spec.model_type, "default_size": spec.model_size,
               "default_name": spec.display_name or model} if spec else {}
    config = EvalConfig(model=model, checkpoint=checkpoint, options=chosen, device=device, scoring=scoring,
                        **{"reasoning_input": HARNESS_FLOW, **implied, **settings})  # checked before weights load
    if spec:  # an unknown task, or one the model cannot do, is refused before its weights load
        check_selection(bench, config)
        check_capabilities(spec.capabilities, config)
    built = create(model, checkpoint, device, **chosen)
    if config.default_size == "-" and getattr(built, "size", None):  # the adapter knows its checkpoint's
        config = replace(config, default_size=built.size)
    return run_evaluation(bench, built, config, on_task, say=say)


@dataclass
class ScoredFile:
    results: list[MetricResult]
    judge_usage: dict[str, Any] | None


def score_file(bench: Benchmark, predictions: Path, *, scoring: ScoringConfig, out: Path | None = None,
               run_dir: Path | None = None, model: str = "my-model", model_type: str = "Unified Model",
               model_size: str = "-", wait: bool = False, say: Callable[[str], None] = lambda message: None
               ) -> ScoredFile:
    """Score a predictions file written by any model; optionally write the scores (`out`) and a run directory.

    Image outputs must be usable files inside the predictions file's folder (otherwise a SourceError naming
    the file and the item); a run directory is written under its run lock, as `ubpp evaluate` writes one.
    """
    check_settings(scoring)
    check_score_outputs(bench, predictions, out, run_dir)
    predicted = read_predictions(predictions, bench)
    base = predictions.parent.resolve()
    scorers = Scorers(scoring)
    with run_lock(run_dir, wait=wait, say=say) if run_dir else nullcontext():
        try:
            results = score(bench, predicted, scorers, base=base)
        except OutputError as error:
            raise SourceError(predictions, f"item {error.item_id}", error.reason,
                              "write the image inside the predictions file's folder and name it by a relative path"
                              ) from None
        if out:
            write_json(out, [r.to_dict() for r in results])
        if run_dir:
            info = scored_run_info(model, model_type, model_size, bench, predicted, results, scoring,
                                   scorers.judge_usage())
            write_run(run_dir, info, predicted, results, base)
    return ScoredFile(results, scorers.judge_usage())


def check_score_outputs(bench: Benchmark, predictions: Path, out: Path | None, run_dir: Path | None) -> None:
    """SettingsError, before anything is scored (a judge costs money), when `out` or `run_dir` would replace what
    is not a scoring's to replace: the predictions file, a benchmark build (`build_holding`), an `ubpp evaluate`
    run (its resume would then take the file's predictions as its own), a user's file or folder."""
    fix = "fix: give a new path"
    if out is not None:
        target = out.resolve()
        if target == predictions.resolve():
            raise SettingsError(f"--out {out} is the predictions file: the scores would replace it ({fix})")
        if holder := build_holding(target, bench.root):
            raise SettingsError(f"--out {out} lies inside the benchmark build {holder} ({fix})")
        if run_dir is not None and target.is_relative_to(run_dir.resolve()):
            raise SettingsError(f"--out {out} lies inside --run-dir {run_dir}, which holds the scores already ({fix})")
        if target.is_dir():
            raise SettingsError(f"--out {out} is a folder: it names the scores' JSON file (fix: e.g. "
                                f"--out {out / 'scores.json'})")
        if target.exists() and not _scores_file(target):
            raise SettingsError(f"--out {out} exists and is not a scores file ubpp wrote; it is left as it is ({fix})")
    if run_dir is not None:
        folder = run_dir.resolve()
        if holder := build_holding(folder, bench.root):
            raise SettingsError(f"--run-dir {run_dir} lies inside the benchmark build {holder} ({fix})")
        if folder.exists() and not folder.is_dir():
            raise SettingsError(f"--run-dir {run_dir} is a file, not a folder ({fix})")
        held = visible_entries(folder) if folder.is_dir() else []
        if held:
            try:
                adapter = read_run_info(folder).adapter
            except RunError:
                raise SettingsError(f"--run-dir {run_dir} holds {held[0]} and is not a run folder; it is left as it "
                                    f"is ({fix}, or an empty folder)") from None
            if adapter != SCORED_FILE:
                raise SettingsError(f"--run-dir {run_dir} holds an `ubpp evaluate` run of {adapter}: a scored file "
                                    f"would replace its predictions, and its resume would take them as its own "
                                    f"({fix})")


def _scores_file(path: Path) -> bool:
    """Whether `path` holds what `score --out` writes (a JSON list of metric records): one a re-run may replace."""
    try:
        records = loads(path.read_text(encoding="utf-8"))  # strict, as ubpp writes it
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(records, list) and all(isinstance(r, dict) and {"name", "task", "protocol"} <= r.keys()
                                             for r in records)
