"""Paired comparison of two runs on the same benchmark: which column differences are real.

Both runs scored the same items, so the comparison is paired: per concept,
the difference of the two models' concept scores over the items both have,
each run's score averaging all its samples of them as its summary does
(Rec.: the difference of the concept weights); then the mean over the
shared concepts, as the leaderboard aggregates. Items of a concept are
correlated and concepts are the sampling unit, so the interval resamples
concepts (paired bootstrap) and the p-value comes from a sign-flip
permutation test over concepts (exact for up to 16 concepts, Monte Carlo
beyond), which assumes only that the per-concept differences are symmetric
around zero under the null. The paired t-test's p-value (scipy) is reported
beside it.

Each column's p answers for that column alone: over 15 columns up to one in
twenty passes p < 0.05 by chance, and a trained model's one significant
column may be that one. So a comparison also says how many columns chance
alone would pass (each column's own rate: the exact test's p is discrete, so
with six concepts only the two all-same-sign patterns of 64 pass, 0.031), and
every column carries q, the Benjamini-Hochberg adjusted p over the columns
compared together (scipy's `false_discovery_control`): the columns with
q < α keep the expected share of false discoveries among them below α. With
six concepts the smallest p is 0.031, so q < 0.05 needs most columns there.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from unifybench_pp.schema import item_concept

from .metrics import METRICS, MetricResult
from .rundir import Run, RunError
from .text_metrics import rec_weight
from .variance import parse_observation

if TYPE_CHECKING:
    import pandas as pd

EXACT_UP_TO = 16
"""Concepts up to which the permutation test enumerates every sign pattern."""


def value_text(value: float, signed: bool = False) -> str:
    """A mean, a difference or an interval bound as every shown comparison prints it (the terminal, .md, .tex):
    4 decimals, so a difference and its interval read with the digits of the means."""
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def p_text(value: float | None) -> str:
    """A p or q value as every shown comparison prints it: 3 decimals ("" when the column has none)."""
    return "" if value is None else f"{value:.3f}"


@dataclass(frozen=True)
class PairedDifference:
    metric: str
    a: float | None
    """Run A's mean over the shared concepts (None when nothing is shared)."""
    b: float | None
    difference: float | None
    """A minus B."""
    ci95: tuple[float, float] | None
    p_value: float | None
    """Sign-flip permutation test over concepts."""
    p_ttest: float | None
    concepts: int
    items: int
    reason: str = ""
    """Why there is no difference (a column one run lacks, no shared items)."""
    coverage_a: str | None = None
    """Run A's column coverage ("21/24") when it left items unscored; the means are over shared scored items."""
    coverage_b: str | None = None
    q_value: float | None = None
    """Benjamini-Hochberg adjusted p over the columns compared together (`with_q_values`)."""
    concept_differences: tuple[float, ...] = ()
    """The per-concept differences the test flipped (what `chance_rate` needs)."""

    def shown(self, side: str) -> str:
        """A side's mean as printed: with its run's coverage when that column is incomplete ("0.3750 (21/24)")."""
        value, coverage = (self.a, self.coverage_a) if side == "a" else (self.b, self.coverage_b)
        return value_text(value) + (f" ({coverage})" if coverage else "")

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value is not None and self.p_value < alpha


def concept_scores(result: MetricResult, items: set[str]) -> dict[str, float]:
    """A metric's concept scores computed over the given items only (the harness's per-concept rule)."""
    by_concept: dict[str, list[str]] = {}
    for item in sorted(items):
        by_concept.setdefault(item_concept(item), []).append(item)
    scores = {}
    for concept, ids in by_concept.items():
        values = [result.per_item[i] for i in ids]
        if METRICS[result.name].aggregate == "rec_weight":
            positive = [result.item_details.get(i, {}).get("polarity") == "positive" for i in ids]
            scores[concept] = rec_weight([v == 1.0 for v in values], positive, result.protocol)
        else:
            scores[concept] = float(np.mean(values))
    return scores


def _flipped_means(differences: np.ndarray, signs: np.ndarray | None = None) -> np.ndarray:
    """|mean| of the differences under each sign pattern: every one of the 2^n unless `signs` are given."""
    if signs is None:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(differences))))
    return np.abs((signs * differences).mean(axis=1))


def sign_flip_p_value(differences: np.ndarray, resamples: int = 20000, seed: int = 0) -> float:
    """Two-sided p-value of mean(differences) under random sign flips of each concept's difference."""
    observed = abs(differences.mean()) - 1e-12
    n = len(differences)
    if n <= EXACT_UP_TO:
        return float((_flipped_means(differences) >= observed).mean())
    signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(resamples, n))
    hits = int((_flipped_means(differences, signs) >= observed).sum())
    return (hits + 1) / (resamples + 1)  # the observed pattern counts once: a Monte Carlo p is never 0


def chance_rate(differences: np.ndarray, alpha: float) -> float:
    """How often the sign-flip test gives p < alpha when nothing differs (every sign pattern of these differences
    equally likely): the exact share of patterns for up to EXACT_UP_TO concepts, alpha beyond (Monte Carlo)."""
    if len(differences) > EXACT_UP_TO:
        return alpha
    spread = np.sort(_flipped_means(differences))
    at_least = len(spread) - np.searchsorted(spread, spread - 1e-12, side="left")  # patterns as extreme as each
    return float((at_least / len(spread) < alpha).mean())


def paired_bootstrap_ci(differences: np.ndarray, resamples: int = 4000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, len(differences), size=(resamples, len(differences)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def paired_difference(a: MetricResult | None, b: MetricResult | None, name: str) -> PairedDifference:
    difference = _paired_difference(a, b, name)
    return replace(difference, coverage_a=a.coverage if a else None, coverage_b=b.coverage if b else None)


def _scored_items(result: MetricResult) -> set[str]:
    """The items a run scored, whatever its samples (`--samples`) and judge repeats."""
    return {parse_observation(key)[0] for key, value in result.per_item.items() if value is not None}


def _observations_of(result: MetricResult, items: set[str]) -> set[str]:
    """Every scored observation of these items: a run of several samples is compared on all of them, as its own
    summary averages them (pairing observation ids kept only sample 0 against a one-sample run)."""
    return {key for key, value in result.per_item.items() if value is not None and parse_observation(key)[0] in items}


def _paired_difference(a: MetricResult | None, b: MetricResult | None, name: str) -> PairedDifference:
    missing = [label for label, r in (("A", a), ("B", b)) if r is None or r.value is None]
    if missing:
        return PairedDifference(name, None, None, None, None, None, None, 0, 0,
                                f"not computed in run {' and '.join(missing)}")
    shared = _scored_items(a) & _scored_items(b)
    if not shared:
        return PairedDifference(name, None, None, None, None, None, None, 0, 0, "no item scored in both runs")
    scores_a, scores_b = concept_scores(a, _observations_of(a, shared)), concept_scores(b, _observations_of(b, shared))
    concepts = sorted(scores_a)
    diffs = np.array([scores_a[c] - scores_b[c] for c in concepts])
    mean_a = float(np.mean([scores_a[c] for c in concepts]))
    mean_b = float(np.mean([scores_b[c] for c in concepts]))
    if len(concepts) < 2:
        return PairedDifference(name, mean_a, mean_b, float(diffs.mean()), None, None, None, len(concepts),
                                len(shared), "one shared concept: no interval")
    p_t = float(stats.ttest_1samp(diffs, 0.0).pvalue) if diffs.std() > 0 else (1.0 if diffs.mean() == 0 else 0.0)
    return PairedDifference(name, mean_a, mean_b, float(diffs.mean()), paired_bootstrap_ci(diffs),
                            sign_flip_p_value(diffs), p_t, len(concepts), len(shared),
                            concept_differences=tuple(float(d) for d in diffs))


def with_q_values(differences: list[PairedDifference]) -> list[PairedDifference]:
    """The same differences, each with a p-value given its q over all of them that have one."""
    tested = [k for k, d in enumerate(differences) if d.p_value is not None]
    if not tested:
        return list(differences)
    q = stats.false_discovery_control([differences[k].p_value for k in tested], method="bh")
    adjusted = dict(zip(tested, (float(v) for v in q)))
    return [replace(d, q_value=adjusted.get(k)) for k, d in enumerate(differences)]


def chance_note(differences: list[PairedDifference], alpha: float) -> str:
    """How many of the tested columns passed, against how many would by chance alone: read beside the p column."""
    tested = [d for d in differences if d.p_value is not None]
    if not tested:
        return "no column has two concepts both runs scored: nothing to test"
    passed = sum(d.significant(alpha) for d in tested)
    chance = sum(chance_rate(np.array(d.concept_differences), alpha) for d in tested)
    discoveries = sum(d.q_value is not None and d.q_value < alpha for d in tested)
    return (f"columns with p < {alpha}: {passed} of {len(tested)}, where chance alone gives {chance:.2f}; "
            f"with q < {alpha} (Benjamini-Hochberg over the {len(tested)}): {discoveries}")


def check_comparable(a: Run, b: Run) -> None:
    """Refuse (one line) to compare runs whose numbers do not mean the same thing."""
    for field, what in (("benchmark_version", "benchmark versions"), ("protocol", "protocols"),
                        ("reasoning_input", "reasoning inputs")):
        left, right = getattr(a.info, field), getattr(b.info, field)
        if left != right:
            raise RunError(f"cannot compare runs on different {what} ({left} vs {right}): "
                           f"compare runs of the same benchmark build, protocol and reasoning input")


def compare_runs(a: Run, b: Run) -> list[PairedDifference]:
    """Every metric either run reports (its benchmark's, computed or not), A minus B, paired over shared concepts
    and items, in registry order."""
    check_comparable(a, b)
    return with_q_values([paired_difference(a.results.get(name), b.results.get(name), name) for name in METRICS
                          if name in a.results or name in b.results])


FRAME_KEYS = ("metric", "reason")
"""The first columns of every `to_frame` table, whatever the runs: how `compare --out` knows its own earlier file."""


def to_frame(differences: list[PairedDifference], name_a: str, name_b: str, alpha: float = 0.05,
             shown: bool = False) -> "pd.DataFrame":
    """One row per metric, for Markdown / CSV / LaTeX output: its difference, or (numbers empty) why there is none,
    as the terminal table shows it. Counts are whole numbers. `shown`: the numbers as text with the terminal's digits
    (`value_text`, `p_text`: files people read), else at full precision (files programs read)."""
    import pandas as pd

    def value(number: float | None, signed: bool = False) -> float | str:
        return "" if number is None else value_text(number, signed) if shown else number

    def p(number: float | None) -> float | str:
        return p_text(number) if shown or number is None else number

    columns = [*FRAME_KEYS, name_a, name_b, "difference", "ci95_low", "ci95_high", "p_value", "q_value", "p_ttest",
               "significant", "concepts", "items", f"{name_a} coverage", f"{name_b} coverage"]
    rows = []
    for d in differences:
        if d.difference is None:
            rows.append([d.metric, d.reason, *[""] * (len(columns) - len(FRAME_KEYS))])
            continue
        low, high = d.ci95 or (None, None)
        rows.append([d.metric, "", value(d.a), value(d.b), value(d.difference, True), value(low, True),
                     value(high, True), p(d.p_value), p(d.q_value), p(d.p_ttest), d.significant(alpha), d.concepts,
                     d.items, d.coverage_a or "complete", d.coverage_b or "complete"])
    return pd.DataFrame(rows, columns=columns, dtype=object)  # object: a count stays an int beside empty cells
