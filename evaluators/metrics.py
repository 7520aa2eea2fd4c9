"""The 15 columns of the paper's Table 1 as named metrics, and their result record."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from unifybench_pp.schema import Concept


@dataclass(frozen=True)
class MetricSpec:
    name: str
    task: str
    kind: str
    """rec | bleu | judge_* | clip_t | clip_i | text_sim | face_found | face_sim | dino | blip2"""
    title: str
    table1: bool = True
    """False for supplementary metrics: reported beside Table 1, never in its columns."""


#: Table 1 columns in the paper's order, then the supplementary metrics.
METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in [
        MetricSpec("rec.weight", "rec", "rec", "Weight"),
        MetricSpec("rea.bleu", "rea", "bleu", "BLEU"),
        MetricSpec("dense_rea.gpt", "dense_rea", "judge_dense_rea", "GPT"),
        MetricSpec("vqa.bleu", "vqa", "bleu", "BLEU"),
        MetricSpec("vqa.gpt", "vqa", "judge_answer", "GPT"),
        MetricSpec("qa.bleu", "qa", "bleu", "BLEU"),
        MetricSpec("qa.gpt", "qa", "judge_answer", "GPT"),
        MetricSpec("pure_gen.clip_t", "pure_gen", "clip_t", "CLIP-T"),
        MetricSpec("pure_gen.clip_i", "pure_gen", "clip_i", "CLIP-I"),
        MetricSpec("dense_gen.gpt", "dense_gen", "judge_alignment", "GPT"),
        MetricSpec("dense_gen.clip_i", "dense_gen", "clip_i", "CLIP-I"),
        MetricSpec("rea_gen.clip_t", "rea_gen", "clip_t", "CLIP-T"),
        MetricSpec("rea_gen.clip_i", "rea_gen", "clip_i", "CLIP-I"),
        MetricSpec("dense_rea_gen.gpt", "dense_rea_gen", "judge_alignment", "GPT"),
        MetricSpec("dense_rea_gen.clip_i", "dense_rea_gen", "clip_i", "CLIP-I"),
        # Supplementary: the reward experts' scorers used as metrics (semantic similarity, identity).
        MetricSpec("rea.text_sim", "rea", "text_sim", "Text sim.", table1=False),
        MetricSpec("dense_rea.text_sim", "dense_rea", "text_sim", "Text sim.", table1=False),
        MetricSpec("pure_gen.dino", "pure_gen", "dino", "DINOv2", table1=False),
        MetricSpec("pure_gen.blip2", "pure_gen", "blip2", "BLIP-2", table1=False),
        MetricSpec("pure_gen.face_found", "pure_gen", "face_found", "Face found", table1=False),
        MetricSpec("pure_gen.face_sim", "pure_gen", "face_sim", "FaceNet", table1=False),
    ]
}


@dataclass
class MetricResult:
    """One column for one model: the aggregate, its 95% CI, and every item's score.

    `value is None` exactly when `not_computed` gives the reason; failed items
    (judge gave no valid answer) are excluded from the mean and counted.
    """

    name: str
    task: str
    protocol: str
    model: str | None
    value: float | None = None
    ci95: tuple[float, float] | None = None
    n: int = 0
    failed: int = 0
    unparseable: int = 0
    not_computed: str | None = None
    template_hash: str | None = None
    per_item: dict[str, float | None] = field(default_factory=dict)
    item_details: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per item: the judge's answer (e.g. verdicts per segment), or its error."""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["ci95"] = list(self.ci95) if self.ci95 else None
        return record


def not_computed(spec: MetricSpec, protocol: str, reason: str, model: str | None = None,
                 scorer_missing: bool = False) -> MetricResult:
    """`scorer_missing`: the reason is a model or judge that is not here (so `ubpp doctor`'s hint applies)."""
    return MetricResult(spec.name, spec.task, protocol, model, not_computed=reason,
                        details={"scorer_missing": True} if scorer_missing else {})


def bootstrap_ci(
    n: int, statistic: Callable[[np.ndarray], np.ndarray], resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile 95% interval; `statistic` maps a (resamples, n) index matrix to one value per row."""
    rng = np.random.default_rng(seed)
    values = statistic(rng.integers(0, n, size=(resamples, n)))
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)


def mean_with_ci(scores: list[float]) -> tuple[float, tuple[float, float]]:
    array = np.asarray(scores, dtype=np.float64)
    return float(array.mean()), bootstrap_ci(len(array), lambda idx: array[idx].mean(axis=1))


def weighted_accuracy_ci(correct: list[bool], positive: list[bool]) -> tuple[float, float]:
    c, p = np.asarray(correct, dtype=float), np.asarray(positive, dtype=bool)

    def weight(idx: np.ndarray) -> np.ndarray:
        cs, ps = c[idx], p[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            acc_pos = (cs * ps).sum(1) / ps.sum(1)
            acc_neg = (cs * ~ps).sum(1) / (~ps).sum(1)
        return np.nanmean(np.stack([acc_pos, acc_neg]), axis=0)

    return bootstrap_ci(len(c), weight)


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


def with_class_noun(prompt: str, concept: Concept) -> str:
    """Replace the concept token by its class noun for CLIP-T: "a photo of <bo>" -> "a photo of a dog"."""
    noun = concept.class_noun

    def replace(match: re.Match[str]) -> str:
        before = prompt[: match.start()].rstrip().lower()
        if re.search(r"\b(a|an|the|my|your|his|her|their|our)$", before):
            return noun
        return f"{_article(noun)} {noun}"

    return re.sub(re.escape(concept.token), replace, prompt)
