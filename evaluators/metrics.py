"""The metric registry: every Table 1 column and supplementary metric, defined once.

A metric is its name, task, column title, what it needs (a scorer model, the
judge, or nothing), how it scores items (per protocol, in `item_scores`) and
how items aggregate. Scoring, availability, `ubpp doctor` and the leaderboard
all read this registry: adding a metric is one entry here.

Aggregation is the harness's: the mean of a concept's items (Rec.: the
concept's weighted recall), then the unweighted mean over concepts. Items of
one concept are correlated and the aggregate averages concepts, so the 95%
interval comes from a bootstrap that resamples concepts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any

import numpy as np

from unifybench_pp.schema import GENERATION_TASKS

from .text_metrics import rec_weight
from .variance import decompose, parse_observation

if TYPE_CHECKING:
    from .item_scores import ItemScore

ITEMS = "evaluators.item_scores:"
"""Where the item scorers live."""


@dataclass(frozen=True)
class MetricSpec:
    """What a metric is. How it scores is named, not bound (`scorer`), so reading the registry (the leaderboard,
    `ubpp compare`, `ubpp doctor`) loads no model code and no torch."""

    name: str
    task: str
    title: str
    needs: str
    """The scorer it needs: none | judge | clip | text_sim | dino | blip2 | mtcnn | facenet | pixels."""
    scorer: str
    """`module:function` that scores the task's predicted items under `ctx.protocol` (`evaluators.item_scores`),
    imported when scoring."""
    description: str
    judge_template: str | None = None
    """The judge prompt template it asks (`evaluators/templates/<name>.txt`) when `needs` is judge."""
    higher_is_better: bool = True
    """Which way the leaderboard reads the column: its ranking (best in bold) and its arrows against a compared
    row."""
    aggregate: str = "concept_mean"
    """concept_mean, or rec_weight (per concept (positive recall + negative recall) / 2)."""
    table1: bool = True
    """False for supplementary metrics: reported beside their table, never in its columns."""
    benchmark: str = "unifybench"
    """The benchmark format (manifest `format`) whose builds it scores: `unifybench` (Table 1) or one of
    Table 5's (`yollava`, `mcllava`, `dreambench`)."""

    def __post_init__(self) -> None:
        if (self.needs == "judge") != (self.judge_template is not None):
            raise ValueError(f"{self.name}: a judged metric names its template, and only a judged one")

    def score_items(self) -> Callable[..., list]:
        module, _, function = self.scorer.partition(":")
        return getattr(import_module(module), function)


_CLIP_I = "CLIP ViT-B/32 cosine of the image to the concept's first test image (strict: mean over all test images)"
_CLAUSES = ("GPT judge, one binary verdict per comma clause of the {} (the concept token shown as 'the subject'), "
            "mean over clauses")

#: Table 1 columns in the paper's order, then the supplementary metrics.
METRICS: dict[str, MetricSpec] = {spec.name: spec for spec in [
    MetricSpec("rec.weight", "rec", "Weight", "none", ITEMS + "rec",
               "(positive recall + negative recall) / 2 per concept; yes/no as words (strict: a parsed answer)",
               aggregate="rec_weight"),
    MetricSpec("rea.bleu", "rea", "BLEU", "none", ITEMS + "answer_bleu",
               "character BLEU (nltk, weights 0.7/0.3, smoothing 1) of the rewrite against the explicit prompt"),
    MetricSpec("dense_rea.gpt", "dense_rea", "GPT", "judge", ITEMS + "judge_rewrite",
               "GPT judge of the rewrite against the explicit dense prompt, {0, 0.5, 1}",
               judge_template="prompt_similarity"),
    MetricSpec("vqa.bleu", "vqa", "BLEU", "none", ITEMS + "answer_bleu",
               "character BLEU against the reference answer"),
    MetricSpec("vqa.gpt", "vqa", "GPT", "judge", ITEMS + "judge_answer", "GPT judge of the answer, {0, 0.5, 1}",
               judge_template="text_answer"),
    MetricSpec("qa.bleu", "qa", "BLEU", "none", ITEMS + "answer_bleu",
               "character BLEU against the reference answer"),
    MetricSpec("qa.gpt", "qa", "GPT", "judge", ITEMS + "judge_answer", "GPT judge of the answer, {0, 0.5, 1}",
               judge_template="text_answer"),
    MetricSpec("pure_gen.clip_t", "pure_gen", "CLIP-T", "clip", ITEMS + "clip_t",
               "CLIP ViT-B/32 cosine of the image to the template with the class noun"),
    MetricSpec("pure_gen.clip_i", "pure_gen", "CLIP-I", "clip", ITEMS + "clip_i", _CLIP_I),
    MetricSpec("dense_gen.gpt", "dense_gen", "GPT", "judge", ITEMS + "judge_clauses",
               _CLAUSES.format("dense prompt"),
               judge_template="clause_binary"),
    MetricSpec("dense_gen.clip_i", "dense_gen", "CLIP-I", "clip", ITEMS + "clip_i", _CLIP_I),
    MetricSpec("rea_gen.clip_t", "rea_gen", "CLIP-T", "clip", ITEMS + "clip_t",
               "CLIP ViT-B/32 cosine of the image to the explicit prompt (token as is; strict: the class noun)"),
    MetricSpec("rea_gen.clip_i", "rea_gen", "CLIP-I", "clip", ITEMS + "clip_i", _CLIP_I),
    MetricSpec("dense_rea_gen.gpt", "dense_rea_gen", "GPT", "judge", ITEMS + "judge_clauses",
               _CLAUSES.format("explicit dense prompt"), judge_template="clause_binary"),
    MetricSpec("dense_rea_gen.clip_i", "dense_rea_gen", "CLIP-I", "clip", ITEMS + "clip_i", _CLIP_I),
    # Supplementary: the trainer's reward experts used as metrics.
    MetricSpec("rea.text_sim", "rea", "Text sim.", "text_sim", ITEMS + "text_similarity",
               "MiniLM sentence-embedding cosine of the rewrite to the explicit prompt", table1=False),
    MetricSpec("dense_rea.text_sim", "dense_rea", "Text sim.", "text_sim", ITEMS + "text_similarity",
               "MiniLM sentence-embedding cosine of the rewrite to the explicit dense prompt", table1=False),
    MetricSpec("pure_gen.dino", "pure_gen", "DINOv2", "dino", ITEMS + "dino",
               "DINOv2 cosine of the image to the concept's test images", table1=False),
    MetricSpec("pure_gen.blip2", "pure_gen", "BLIP-2", "blip2", ITEMS + "blip2",
               "BLIP-2 image-text similarity to the CLIP-T text", table1=False),
    MetricSpec("pure_gen.face_found", "pure_gen", "Face found", "mtcnn", ITEMS + "face_found",
               "share of person-concept images where MTCNN finds a face (p > 0.9)", table1=False),
    MetricSpec("pure_gen.face_sim", "pure_gen", "FaceNet", "facenet", ITEMS + "face_similarity",
               "FaceNet cosine of the face to the test photos' faces (0 when none), person concepts", table1=False),
    # Table 5: Yo'LLaVA, MC-LLaVA (single-concept subset) and DreamBench, as their authors score them.
    MetricSpec("yollava.rec.weight", "rec", "Weight", "none", ITEMS + "yollava_rec",
               "(positive + negative accuracy) / 2 per concept over every test photo; a reply other than exactly "
               "Yes / No is dropped, as test-sks-acc.py drops it (strict: a parsed answer)",
               aggregate="rec_weight", benchmark="yollava"),
    MetricSpec("yollava.vqa.acc", "vqa_choice", "Acc", "none", ITEMS + "yollava_choice",
               "multiple choice: right when the correct option's text occurs in the reply (strict: the option "
               "the reply picks by letter or by naming exactly one option)", benchmark="yollava"),
    MetricSpec("yollava.qa.acc", "qa_choice", "Acc", "none", ITEMS + "yollava_choice",
               "text-only multiple choice, scored as VQA", benchmark="yollava"),
    MetricSpec("yollava.clip_i", "pure_gen", "CLIP-I", "clip", ITEMS + "clip_i_all",
               "CLIP cosine of each 'A photo of <c>.' image to the concept's test photos, averaged",
               benchmark="yollava"),
    MetricSpec("mcllava.rec.weight", "rec", "Weight", "none", ITEMS + "mcllava_rec",
               "(positive recall + negative recall) / 2 per concept; the reply must equal Yes / No, as eval.py "
               "compares (strict: a parsed answer)", aggregate="rec_weight", benchmark="mcllava"),
    MetricSpec("mcllava.vqa.bleu", "vqa", "BLEU", "none", ITEMS + "answer_bleu",
               "character BLEU (nltk, weights 0.7/0.3, smoothing 1) against the reference answer, as eval.py",
               benchmark="mcllava"),
    MetricSpec("mcllava.qa.acc", "qa_choice", "Acc", "none", ITEMS + "mcllava_choice",
               "text-only multiple choice: the reply must equal the correct letter (strict: the letter it picks)",
               benchmark="mcllava"),
    MetricSpec("dreambench.clip_i", "pure_gen", "CLIP-I", "clip", ITEMS + "clip_i_all",
               "CLIP cosine of each image to every real photo of the subject, averaged (DreamBooth's CLIP-I)",
               benchmark="dreambench"),
    MetricSpec("dreambench.clip_t", "pure_gen", "CLIP-T", "clip", ITEMS + "clip_t",
               "CLIP cosine of the image to the prompt without the subject token ('a dog in the jungle')",
               benchmark="dreambench"),
    MetricSpec("dreambench.dino", "pure_gen", "DINO", "dino", ITEMS + "dino",
               "DINOv2 cosine to every real photo, averaged (DreamBench reports DINO ViT-S/16)", table1=False,
               benchmark="dreambench"),
    # Offline stand-ins for image quality (the tiny preset's `colour` / `ssim` rewards): they need no weights, so the
    # mini benchmark shows generation moving where CLIP is not here. Weak proxies, never CLIP-I or GPT columns.
    *(MetricSpec(f"{task}.{name}", task, title, "pixels", scorer, description, table1=False)
      for task in GENERATION_TASKS
      for name, title, scorer, description in (
          ("colour", "Colour (stand-in)", ITEMS + "colour",
           "offline stand-in: RGB histogram intersection with the concept's test images (not CLIP-I)"),
          ("ssim", "SSIM (stand-in)", ITEMS + "ssim",
           "offline stand-in: structural similarity at 32 px to the concept's test images (not CLIP-I)"))),
]}


def metrics_for(benchmark_format: str) -> list[MetricSpec]:
    """The metrics that score a build of this format, in registry order."""
    return [spec for spec in METRICS.values() if spec.benchmark == benchmark_format]


@dataclass
class MetricResult:
    """One column for one model: the aggregate over concepts, its 95% CI, every item's and concept's score.

    `value is None` exactly when `not_computed` gives the reason. `failed`
    items (judge errors after retries, unusable outputs; under `strict`,
    unparseable replies) are left out of their concept's mean and counted,
    and make the column incomplete (`coverage`), as do `missing` items (the
    run predicted only part of the task); `unparseable` counts judge
    replies without a usable score under either protocol (scored 0 under
    `syncr1`, as the harness; a failure under `strict`).
    """

    name: str
    task: str
    protocol: str
    model: str | None
    value: float | None = None
    ci95: tuple[float, float] | None = None
    n: int = 0
    n_concepts: int = 0
    failed: int = 0
    unparseable: int = 0
    not_computed: str | None = None
    missing: int = 0
    """The task's items that have no prediction (a run with --limit or --concepts, a predictions file covering
    part of the benchmark): the value is over the rest, not the column the paper reports."""
    coverage: str | None = None
    """"scored/expected" (e.g. "21/24") when items were left unscored (`failed`), "predicted/all predicted" (e.g.
    "3/18 predicted", in items) when some were not predicted (`missing`), or both: the value covers only those, so
    it is shown with this and never ranked as a whole column's; None when every item was scored."""
    template_hash: str | None = None
    per_item: dict[str, float | None] = field(default_factory=dict)
    per_concept: dict[str, float] = field(default_factory=dict)
    item_details: dict[str, dict[str, Any]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    variance: dict[str, Any] | None = None
    """Variance components (concept, item, sampling, judge), their shares and a power statement."""

    @property
    def complete(self) -> bool:
        return self.failed == 0 and self.missing == 0

    def shown(self, digits: int = 4) -> str:
        """The value as printed: with its coverage when incomplete ("0.3750 (21/24)")."""
        text = f"{self.value:.{digits}f}" if self.value is not None else "n/c"
        return f"{text} ({self.coverage})" if self.coverage else text

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["ci95"] = list(self.ci95) if self.ci95 else None
        return record


def not_computed(spec: MetricSpec, protocol: str, reason: str, model: str | None = None,
                 scorer_missing: bool = False) -> MetricResult:
    """`scorer_missing`: the reason is a model or judge that is not here (so `ubpp doctor`'s hint applies)."""
    return MetricResult(spec.name, spec.task, protocol, model, not_computed=reason,
                        details={"scorer_missing": True} if scorer_missing else {})


def incomplete(results: list[MetricResult]) -> list[MetricResult]:
    """The columns with items left unscored (what `--require-complete` refuses)."""
    return [r for r in results if not r.complete]


def concept_bootstrap_ci(per_concept: list[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile 95% interval of the mean over concepts, resampling concepts with replacement."""
    values = np.asarray(per_concept, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def aggregate(spec: MetricSpec, result: MetricResult, items: list, scores: list[ItemScore],
              weight_zero: list[str] = (), task_items: int | None = None) -> MetricResult:
    """Fill the per-item, per-concept and overall values of `result` from the item scores; `weight_zero` concepts
    (no items, `syncr1` Rec.) join the mean over concepts with 0. `task_items`: how many items the task holds
    (the ones not among `items` are `missing`); None: `items` are all of them."""
    by_concept: dict[str, list[tuple[Any, float]]] = {}
    for item, item_score in zip(items, scores, strict=True):
        result.per_item[item.id] = item_score.value
        if item_score.detail:
            result.item_details[item.id] = item_score.detail
        result.unparseable += int(item_score.detail.get("unparseable", 0))  # a flag, or a count of replies
        if item_score.value is None:
            result.failed += "skipped" not in item_score.detail
            continue
        by_concept.setdefault(item.concept, []).append((item, item_score.value))
    for concept, scored in by_concept.items():
        values = [v for _, v in scored]
        if spec.aggregate == "rec_weight":
            positive = [i.polarity == "positive" for i, _ in scored]
            result.per_concept[concept] = rec_weight([v == 1.0 for v in values], positive, result.protocol)
        else:
            result.per_concept[concept] = sum(values) / len(values)
    if weight_zero and result.per_concept:
        result.per_concept.update(dict.fromkeys(weight_zero, 0.0))
        result.details["weight_zero_concepts"] = list(weight_zero)
    result.n = sum(len(v) for v in by_concept.values())
    result.n_concepts = len(result.per_concept)
    predicted = len({parse_observation(item.id)[0] for item in items})  # items, whatever their observations
    result.missing = 0 if task_items is None else task_items - predicted
    parts = [f"{result.n}/{result.n + result.failed}"] if result.failed else []
    if result.missing:  # counted in items, the ones a metric skips included: exact
        parts.append(f"{predicted}/{task_items} predicted")
    result.coverage = ", ".join(parts) or None
    if result.per_concept:
        concept_values = list(result.per_concept.values())
        result.value = sum(concept_values) / len(concept_values)
        result.ci95 = concept_bootstrap_ci(concept_values)
        components = decompose(result.per_item)
        result.variance = components.to_dict() if components else None
    else:
        result.not_computed = result.not_computed or "no item could be scored"
    return result
