"""Score a model's predictions on a built benchmark: every Table 1 metric it can compute.

A prediction is the model's text (understanding tasks) or the path of its
image (generation tasks), keyed by task and item id. Scorer models load on
first use; one that cannot load makes its metrics "not computed (reason)".

Image outputs are checked once, before any metric: the path must stay inside
`base` (see unifybench_pp.paths) and the file must decode (see `unifybench_pp.images.decoded`).
`ubpp score` stops at the first unusable one (OutputError, one line);
`ubpp evaluate` records each as a failed item with its reason instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from unifybench_pp import Benchmark, SourceError
from unifybench_pp.errors import UbppError
from unifybench_pp.images import BadImage, decoded
from unifybench_pp.jsonio import BadLine, parse_jsonl
from unifybench_pp.paths import NotText, UnsafePath, inside, read_regular_text
from unifybench_pp.schema import GENERATION_TASKS, item_concept

from .item_scores import Context, ItemScore
from .judge import Judge
from .metrics import MetricResult, MetricSpec, aggregate, metrics_for, not_computed
from .scorers.blip2 import Blip2Scorer
from .scorers.clip import ClipScorer, parse_clip_spec
from .scorers.dinov2 import DinoScorer
from .scorers.face import FaceScorer
from .scorers.pixels import PixelScorer
from .scorers.text_embed import TextEmbedder
from .scorers.unavailable import ScorerUnavailable
from .scoring_config import ScoringConfig
from .variance import observation_id, parse_observation

Predictions = dict[str, dict[str, str]]
"""task -> item id -> output text or image path."""


@dataclass
class Scorers:
    """Scorer models for one run, each loaded at most once; failures are kept as reasons."""

    config: ScoringConfig
    _loaded: dict[str, Any] = field(default_factory=dict)

    def get(self, kind: str) -> Any:
        """The scorer, or raise ScorerUnavailable with the (remembered) reason."""
        if kind not in self._loaded:
            try:
                self._loaded[kind] = self._load(kind)
            except ScorerUnavailable as error:
                self._loaded[kind] = error
        value = self._loaded[kind]
        if isinstance(value, ScorerUnavailable):
            raise value
        return value

    def judge_usage(self) -> dict[str, Any] | None:
        """Requests, cache hits, failures, tokens and cost of this run's judge, if one was used."""
        judge = self._loaded.get("judge")
        return judge.usage.to_dict(judge.model) if isinstance(judge, Judge) else None

    def _load(self, kind: str) -> Any:
        c = self.config
        if kind == "clip":
            return ClipScorer(c.clip, device=c.device, batch_size=c.batch_size, trusted_file=c.clip_trusted_file)
        if kind == "judge":
            return Judge(c.judge_model, base_url=c.judge_base_url, cache_path=c.judge_cache,
                         concurrency=c.judge_concurrency, timeout=c.judge_timeout, max_retries=c.judge_retries)
        if kind == "text_sim":
            return TextEmbedder(c.text_embedder, device=c.device, batch_size=c.batch_size)
        if kind == "dino":
            return DinoScorer(c.dinov2, device=c.device, batch_size=c.batch_size)
        if kind == "blip2":
            return Blip2Scorer(c.blip2, device=c.device, batch_size=c.batch_size)
        if kind in ("mtcnn", "facenet"):
            return FaceScorer(c.facenet, device=c.device)
        if kind == "pixels":
            return PixelScorer(batch_size=c.batch_size)
        raise KeyError(kind)


def check_settings(config: ScoringConfig) -> None:
    """Refuse settings that cannot mean what they say (ClipSpecError) before anything runs: a CLIP spec whose
    activation contradicts its weights, an untrusted TorchScript file."""
    parse_clip_spec(config.clip, config.clip_trusted_file)


def observations(bench: Benchmark, task: str, preds: dict[str, str], repeat: int = 0
                 ) -> tuple[list, dict[str, str]]:
    """The task's items once per predicted sample (ids `<item>#<sample>@<repeat>`), and their outputs."""
    known = {item.id: item for item in bench.tasks[task]}
    items, outputs = [], {}
    for key, output in preds.items():
        item, sample, _ = parse_observation(key)
        if item in known:
            observed = observation_id(item, sample, repeat)
            items.append(replace(known[item], id=observed))
            outputs[observed] = output
    order = {item.id: k for k, item in enumerate(bench.tasks[task])}
    items.sort(key=lambda i: (order[parse_observation(i.id)[0]], i.id))
    return items, outputs


class OutputError(UbppError, ValueError):
    """An image output that cannot be scored: the item and why."""

    def __init__(self, item_id: str, reason: str) -> None:
        self.item_id, self.reason = item_id, reason
        super().__init__(f"item {item_id}: {reason}")


def unusable_outputs(predictions: Predictions, base: Path) -> dict[str, str]:
    """Item id -> why its image output cannot be scored (outside `base`, missing, not an image, too large)."""
    problems = {}
    for task in GENERATION_TASKS:
        for item_id, name in predictions.get(task, {}).items():
            try:
                with decoded(inside(base, name)):
                    pass
            except UnsafePath as error:
                problems[item_id] = f"output {error}"
            except BadImage as error:
                problems[item_id] = f"output {name!r}: {error}"
    return problems


def weight_zero_concepts(spec: MetricSpec, bench: Benchmark, evaluated: set[str], protocol: str) -> list[str]:
    """`syncr1`, Table 1's Rec.: the evaluated concepts without Rec. items, each a concept of weight 0 (the harness
    scores a concept's empty Rec. run as recall 0 on both sides and averages it in); `strict` leaves them out."""
    if protocol != "syncr1" or spec.aggregate != "rec_weight" or spec.benchmark != "unifybench":
        return []
    with_items = {item.concept for item in bench.tasks[spec.task]}
    return sorted(evaluated - with_items)


NO_PREDICTIONS = "no predictions for this task"
"""Why a task without a single prediction is not computed (a run says more: see `runner.why_unpredicted`)."""


def score_metric(spec: MetricSpec, bench: Benchmark, preds: dict[str, str], scorers: Scorers,
                 base: Path, unusable: dict[str, str] | None = None, evaluated: set[str] | None = None
                 ) -> MetricResult:
    """One metric over the task's predicted items: item scores, concept means, the mean over concepts.

    Each sampled output is an observation of its item; judged metrics ask the
    judge `judge_repeats` times, each repetition another observation. Outputs
    in `unusable` (keyed like `preds`) are not shown to the scorer: each is a
    failed item carrying its reason. `evaluated` names the concepts the
    predictions cover in any task (see `weight_zero_concepts`).
    """
    protocol = scorers.config.protocol
    unusable = unusable or {}
    repeats = scorers.config.judge_repeats if spec.needs == "judge" else 1
    items: list = []
    scores = []
    try:
        for repeat in range(repeats):
            observed, outputs = observations(bench, spec.task, preds, repeat)
            if not observed:
                return not_computed(spec, protocol, NO_PREDICTIONS)
            problem = {i.id: unusable.get(observation_id(*parse_observation(i.id)[:2])) for i in observed}
            usable = [i for i in observed if problem[i.id] is None]
            ctx = Context(bench, outputs, protocol, scorers.get, base, repeat, spec.judge_template)
            scored = iter(spec.score_items()(ctx, usable) if usable else [])
            items += observed
            scores += [ItemScore(None, {"error": problem[i.id]}) if problem[i.id] else next(scored) for i in observed]
        model = _model_id(spec, scorers)
    except ScorerUnavailable as error:
        return not_computed(spec, protocol, str(error), scorer_missing=True)
    result = MetricResult(spec.name, spec.task, protocol, model)
    if spec.needs == "judge":
        judge = scorers.get("judge")
        result.template_hash = judge.template_hash(spec.judge_template)
        errors = [d["judge_error"] for d in (s.detail for s in scores) if "judge_error" in d]
        if errors:
            result.details["errors"] = errors[:5]
            if len(errors) == len(items):
                result.not_computed = f"judge failed on every item ({errors[-1]})"
    return aggregate(spec, result, items, scores,
                     weight_zero_concepts(spec, bench, evaluated or set(), protocol), len(bench.tasks[spec.task]))


def _model_id(spec: MetricSpec, scorers: Scorers) -> str:
    if spec.needs == "none":
        return "rule"
    scorer = scorers.get(spec.needs)
    return getattr(scorer, "model_id", None) or getattr(scorer, "detector_id", spec.needs)


def score(bench: Benchmark, predictions: Predictions, scorers: Scorers, base: Path = Path("."),
          unusable: Literal["raise", "fail"] = "raise") -> list[MetricResult]:
    """Every metric of the benchmark's format: its table's columns in order, then the supplementary ones.

    Image paths in `predictions` are relative to `base` and must stay inside it.
    An unusable image output raises OutputError, or with `unusable="fail"` fails its item.
    """
    problems = unusable_outputs(predictions, base)
    if problems and unusable == "raise":
        raise OutputError(*next(iter(problems.items())))
    evaluated = {item_concept(item_id) for outputs in predictions.values() for item_id in outputs}
    return [score_metric(spec, bench, predictions.get(spec.task, {}), scorers, base, problems, evaluated)
            for spec in metrics_for(bench.manifest.get("format", "unifybench"))]


def read_predictions(path: Path, bench: Benchmark) -> Predictions:
    """Predictions JSONL: one {"task", "id", "output"} per line; every id must exist in the benchmark."""
    known = {task: {item.id for item in items} for task, items in bench.tasks.items()}
    predictions: Predictions = {}
    expected = ("expected JSON with 'task', 'id' and 'output'",
                'write {"task": "qa", "id": "qa/bo/000", "output": "..."}')
    try:
        text = read_regular_text(path).removeprefix("\ufeff")  # a BOM, as some editors save
    except FileNotFoundError:
        raise SourceError(path, "", "predictions file not found", "pass the JSONL your model wrote") from None
    except UnsafePath as error:
        raise SourceError(path, "", f"predictions file {error}", "pass the JSONL file your model wrote") from None
    except NotText as error:
        raise SourceError(path, f"byte {error.offset}", error.reason, "write the predictions as UTF-8 text") from None
    first_line: dict[tuple[str, str], int] = {}
    try:  # line by line: a bad line stops the reading there, before the rest is parsed into memory
        for number, record in parse_jsonl(text):
            try:
                task, item_id, output = record["task"], record["id"], record["output"]
                if not isinstance(task, str) or not isinstance(item_id, str):
                    raise TypeError("task and id must be strings")
            except (KeyError, TypeError):
                raise SourceError(path, f"line {number}", *expected) from None
            item, sample, repeat = parse_observation(item_id)
            if task not in known or item not in known[task]:
                raise SourceError(path, f"line {number}", f"unknown item {item_id!r} of task {task!r} in "
                                  f"{bench.version}", "score against the benchmark build the predictions were made on")
            if repeat:
                raise SourceError(path, f"line {number}", f"{item_id!r}: '@{repeat}' marks a judge's repeat, which "
                                  f"scoring adds", "name the item, and '#N' for its N-th sample when there are several")
            item_id = observation_id(item, sample)  # 'x#0' and 'x#00' are x: one item, scored once
            if not isinstance(output, str):
                raise SourceError(path, f"line {number}", "'output' must be a string (text or image path)",
                                  "write the text, or the image path relative to the predictions file")
            if (task, item_id) in first_line:
                raise SourceError(path, f"line {number}", f"item {item_id!r} of task {task!r} is predicted again "
                                  f"(first on line {first_line[task, item_id]})", "keep one prediction per item")
            first_line[task, item_id] = number
            predictions.setdefault(task, {})[item_id] = output
    except BadLine as error:
        raise SourceError(path, f"line {error.number}", f"malformed JSON ({error.reason}); {expected[0]}",
                          expected[1]) from None
    if not predictions:
        raise SourceError(path, "", "the predictions file holds no prediction", "pass the JSONL your model wrote")
    return predictions
