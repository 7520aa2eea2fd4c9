"""How far a judge can be trusted: agreement of two judges (or a judge and people) on the same outputs.

The unit of agreement is one judgement: an item's {0, 0.5, 1} score for the
text judges (VQA, QA, Dense Rea.), one clause verdict {0, 1} for the image
judges (Dense Gen., Dense Rea. Gen.). Cohen's kappa (scikit-learn) treats the
scores as categories; Krippendorff's alpha (the `krippendorff` package) uses
the ordinal level for {0, 0.5, 1} and the nominal level for binary verdicts;
the shift is the mean score of B minus A over the shared units. Human ratings
come as a CSV with columns `metric,id,score` (and `clause` for per-clause
verdicts, counted from 0), the way DreamBench++ reports judge-human agreement.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from unifybench_pp.files import atomic_write
from unifybench_pp.paths import NotText, UnsafePath, read_regular_text

from .metrics import METRICS, MetricResult
from .rundir import AGREEMENT_FILE, Run, RunError

Unit = tuple[str, int]
"""(item id, clause index); -1 for a whole-item judgement."""


@dataclass(frozen=True)
class Agreement:
    metric: str
    judge_a: str
    judge_b: str
    units: int
    kappa: float | None
    alpha: float | None
    shift: float | None
    """Mean score of B minus mean score of A over the shared units."""
    exact: float | None
    """Share of units where both gave the same score."""

    def to_dict(self) -> dict:
        return asdict(self)


def judgements(result: MetricResult) -> dict[Unit, float]:
    """The judge's individual judgements behind a judged metric: item scores, or each clause verdict."""
    units: dict[Unit, float] = {}
    for item, detail in result.item_details.items():
        verdicts = detail.get("verdicts")
        if verdicts is not None:
            units.update({(item, k): float(v) for k, v in enumerate(verdicts) if v is not None})
        elif result.per_item.get(item) is not None and "judge" in detail:
            units[(item, -1)] = float(result.per_item[item])
    return units


def agreement(metric: str, a: dict[Unit, float], b: dict[Unit, float], judge_a: str, judge_b: str) -> Agreement:
    import krippendorff
    from sklearn.metrics import cohen_kappa_score

    shared = sorted(set(a) & set(b))
    if not shared:
        return Agreement(metric, judge_a, judge_b, 0, None, None, None, None)
    left = np.array([a[u] for u in shared])
    right = np.array([b[u] for u in shared])
    labels = [str(v) for v in left], [str(v) for v in right]
    one_category = len(set(labels[0]) | set(labels[1])) < 2
    kappa = None if one_category else float(cohen_kappa_score(*labels))
    level = "nominal" if set(np.unique(np.concatenate([left, right]))) <= {0.0, 1.0} else "ordinal"
    alpha = None if one_category else float(krippendorff.alpha(reliability_data=np.stack([left, right]),
                                                                level_of_measurement=level))
    return Agreement(metric, judge_a, judge_b, len(shared), kappa, alpha, float(right.mean() - left.mean()),
                     float((left == right).mean()))


def judged_metrics() -> list[str]:
    return [name for name, spec in METRICS.items() if spec.needs == "judge"]


def judged_in(run: Run) -> list[str]:
    """The judged columns the run computed with judgements behind them: the only ones agreement can measure, so
    the only ones worth paying a second judge for; none is a RunError (exit 2), with a second judge or people."""
    found = [name for name in judged_metrics() if (result := run.results.get(name)) is not None
             and result.value is not None and judgements(result)]
    if not found:
        raise RunError(f"{run.path}: no judged column was computed in this run, so there is no judgement to agree "
                       f"with (fix: score it with a judge first: ubpp evaluate or ubpp score with OPENAI_API_KEY or "
                       f"--judge-base-url)")
    return found


def read_human_ratings(path: Path) -> dict[str, dict[Unit, float]]:
    """metric -> unit -> score from a CSV with columns metric, id, score and optionally clause (a UTF-8 BOM, as
    spreadsheets write one, is allowed). A score is a judgement on the judges' scale, 0 to 1; a unit rated twice
    is refused rather than one rating silently winning."""
    columns = "(columns: metric,id,score[,clause])"
    try:
        text = read_regular_text(path).removeprefix("\ufeff")
    except (UnsafePath, NotText) as error:
        raise RunError(f"{path}: {error}") from None
    except OSError as error:
        raise RunError(f"{path}: cannot read human ratings ({error.strerror})") from None
    reader = csv.DictReader(text.splitlines())
    absent = [c for c in ("metric", "id", "score") if c not in (reader.fieldnames or [])]
    if absent:
        raise RunError(f"{path}: line 1: the header lacks {', '.join(absent)} {columns}")
    ratings: dict[str, dict[Unit, float]] = {}
    first: dict[tuple[str, Unit], int] = {}
    for number, row in enumerate(reader, start=2):
        try:
            metric = row["metric"]
            if metric not in judged_metrics():
                raise ValueError(f"{metric!r} is not a judged metric ({', '.join(judged_metrics())})")
            clause = int(row["clause"]) if row.get("clause") not in (None, "") else -1
            score = float(row["score"])
            if not math.isfinite(score):
                raise ValueError(f"score {row['score']!r} is not a finite number")
            if not 0 <= score <= 1:
                raise ValueError(f"score {row['score']!r} is outside the judges' scale, 0 to 1")
            unit = (row["id"], clause)
            if (metric, unit) in first:
                raise ValueError(f"{metric} {row['id']}" + (f" clause {clause}" if clause >= 0 else "")
                                 + f" is rated again (first on line {first[metric, unit]}): keep one rating per unit")
            first[metric, unit] = number
            ratings.setdefault(metric, {})[unit] = score
        except (KeyError, ValueError, TypeError) as error:
            raise RunError(f"{path}: line {number}: {error} {columns}") from None
    return ratings


def rescore_with(run: Run, bench, scorers) -> dict[str, MetricResult]:
    """The run's outputs scored again by another judge (`scorers`): every judged metric the run computed."""
    from .scoring import score_metric

    predictions: dict[str, dict[str, str]] = {}
    for (task, item), record in run.predictions.items():
        predictions.setdefault(task, {})[item] = record["output"]
    return {name: score_metric(METRICS[name], bench, predictions.get(METRICS[name].task, {}), scorers, run.path)
            for name in judged_in(run)}


def run_agreement(run: Run, other: dict[str, dict[Unit, float]], other_name: str) -> list[Agreement]:
    """Per judged metric the run computed: its judge against `other` (another judge's or people's judgements)."""
    found = []
    for name in judged_in(run):
        result = run.results[name]
        if other.get(name):
            measured = agreement(name, judgements(result), other[name], result.model or "judge", other_name)
            if measured.units:  # no unit in common: nothing measured, nothing to store
                found.append(measured)
    return found


def record_agreement(run: Run, found: list[Agreement]) -> Path:
    """Merge into the run's AGREEMENT_FILE (one entry per metric and other judge), atomically."""
    entries = {(e["metric"], e["judge_b"]): e for e in run.agreements}
    entries.update({(a.metric, a.judge_b): a.to_dict() for a in found})
    path = run.path / AGREEMENT_FILE
    atomic_write(path, json.dumps(sorted(entries.values(), key=lambda e: (e["metric"], e["judge_b"])), indent=2))
    return path


def second_judge_judgements(run: Run, bench, scoring) -> dict[str, dict[Unit, float]]:
    """The run's outputs judged again with `scoring`'s judge, under the run's own protocol."""
    from dataclasses import replace

    from .scoring import Scorers

    rescored = rescore_with(run, bench, Scorers(replace(scoring, protocol=run.info.protocol)))
    missing = [r.not_computed for r in rescored.values() if r.not_computed and r.details.get("scorer_missing")]
    if missing:
        raise RunError(f"second judge not available: {missing[0]}")
    return {name: judgements(result) for name, result in rescored.items() if result.value is not None}
