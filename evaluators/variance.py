"""Where a column's variance comes from: concepts, items, sampling and the judge.

An observation is one score of one item for one sampled output (`--samples
K`, seeds differ) and one judge call (`--judge-repeats J`, same prompt,
separate cache entries). Its id is `<item id>#<sample>@<repeat>` (sample and
repeat 0 keep the plain item id, so a run without repetitions has the same
ids as before). The variance components come from the nested design
concept > item > sample > judge call by the method of moments (each level's
spread of means, less what the levels below contribute), clipped at zero;
a level that was not repeated cannot be told apart from the one above it and
is reported as None (it stays inside that level's component).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from unifybench_pp.schema import item_concept

_SUFFIX = re.compile(r"^(?P<item>.*?)(?:#(?P<sample>[0-9]+))?(?:@(?P<repeat>[0-9]+))?$")  # ASCII: #١ is no sample
DETECT = 0.05
"""The difference the power statement is made for (two-sided alpha 0.05, power 0.8)."""


def observation_id(item_id: str, sample: int = 0, repeat: int = 0) -> str:
    return item_id + (f"#{sample}" if sample else "") + (f"@{repeat}" if repeat else "")


def parse_observation(key: str) -> tuple[str, int, int]:
    """(item id, sample, repeat) of an observation id."""
    match = _SUFFIX.match(key)
    return match["item"], int(match["sample"] or 0), int(match["repeat"] or 0)


@dataclass(frozen=True)
class VarianceComponents:
    concept: float | None
    item: float | None
    sampling: float | None
    judge: float | None
    shares: dict[str, float]
    """Each estimated component over their sum (they add up to 1)."""
    concept_mean_sd: float
    """Standard deviation of the concept means: the spread the leaderboard's interval reflects."""
    concepts_needed: int | None
    """Concepts needed to tell two models DETECT apart (paired over concepts, independent errors)."""

    def to_dict(self) -> dict:
        return asdict(self)


def _var(values: list[float]) -> float:
    return float(np.var(values, ddof=1)) if len(values) > 1 else 0.0


def decompose(per_observation: dict[str, float | None]) -> VarianceComponents | None:
    """Variance components of one column from its observations (None below two concepts)."""
    tree: dict[str, dict[str, dict[int, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for key, value in per_observation.items():
        if value is not None:
            item, sample, _ = parse_observation(key)
            tree[item_concept(item)][item][sample].append(value)
    if len(tree) < 2:
        return None
    calls = [v for items in tree.values() for samples in items.values() for v in samples.values()]
    repeats = float(np.mean([len(v) for v in calls]))
    judge = float(np.mean([_var(v) for v in calls])) if repeats > 1 else None
    sample_means = [[float(np.mean(v)) for v in samples.values()] for items in tree.values()
                    for samples in items.values()]
    samples = float(np.mean([len(s) for s in sample_means]))
    sampling = (max(0.0, float(np.mean([_var(s) for s in sample_means])) - (judge or 0.0) / repeats)
                if samples > 1 else None)
    below_item = (sampling or 0.0) / samples + (judge or 0.0) / (samples * repeats)
    item_means = {c: [float(np.mean([np.mean(v) for v in s.values()])) for s in items.values()]
                  for c, items in tree.items()}
    per_concept = float(np.mean([len(v) for v in item_means.values()]))
    item = max(0.0, float(np.mean([_var(v) for v in item_means.values()])) - below_item)
    concept_means = [float(np.mean(v)) for v in item_means.values()]
    concept = max(0.0, _var(concept_means) - (item + below_item) / per_concept)
    estimated = {name: value for name, value in (("concept", concept), ("item", item), ("sampling", sampling),
                                                  ("judge", judge)) if value is not None}
    total = sum(estimated.values())
    shares = {name: (value / total if total > 0 else 0.0) for name, value in estimated.items()}
    sd = float(np.sqrt(_var(concept_means)))
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    needed = int(np.ceil(2 * (z * sd / DETECT) ** 2)) if sd > 0 else None
    return VarianceComponents(concept, item, sampling, judge, shares, sd, needed)
