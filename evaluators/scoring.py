"""Score a model's predictions on a built benchmark: every Table 1 metric it can compute.

A prediction is the model's text (understanding tasks) or the path of its
image (generation tasks), keyed by task and item id. Scorer models load on
first use; one that cannot load makes its metrics "not computed (reason)".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unifybench_pp import Benchmark, SourceError

from .judge import DEFAULT_JUDGE_MODEL, Judge, JudgeRequest
from .metrics import (
    METRICS,
    MetricResult,
    MetricSpec,
    mean_with_ci,
    not_computed,
    weighted_accuracy_ci,
    with_class_noun,
)
from .scorers.base import ScorerUnavailable
from .scorers.blip2 import DEFAULT_BLIP2, Blip2Scorer
from .scorers.clip import DEFAULT_CLIP, ClipScorer
from .scorers.dinov2 import DEFAULT_DINOV2, DinoScorer
from .scorers.face import FaceScorer
from .scorers.pixels import PixelScorer
from .scorers.text_embed import DEFAULT_TEXT_EMBEDDER, TextEmbedder
from .text_metrics import Protocol, bleu, rec_item_score, rec_weight

Predictions = dict[str, dict[str, str]]
"""task -> item id -> output text or image path."""


@dataclass
class ScoringConfig:
    protocol: Protocol = "unictokens"
    clip: str = DEFAULT_CLIP
    judge_model: str = DEFAULT_JUDGE_MODEL
    judge_base_url: str | None = None
    judge_cache: Path = Path.home() / ".cache" / "ubpp" / "judge.sqlite"
    judge_concurrency: int = 8
    text_embedder: str = DEFAULT_TEXT_EMBEDDER
    dinov2: str = DEFAULT_DINOV2
    blip2: str = DEFAULT_BLIP2
    facenet: str | None = None
    """FaceNet weights (`vggface2` to download, or a state-dict file); MTCNN ships with the package."""
    device: str | None = None
    batch_size: int = 32


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
            return ClipScorer(c.clip, device=c.device, batch_size=c.batch_size)
        if kind == "judge":
            return Judge(c.judge_model, base_url=c.judge_base_url, cache_path=c.judge_cache,
                         concurrency=c.judge_concurrency)
        if kind == "text_sim":
            return TextEmbedder(c.text_embedder, device=c.device, batch_size=c.batch_size)
        if kind == "dino":
            return DinoScorer(c.dinov2, device=c.device, batch_size=c.batch_size)
        if kind == "blip2":
            return Blip2Scorer(c.blip2, device=c.device, batch_size=c.batch_size)
        if kind == "face":
            return FaceScorer(c.facenet, device=c.device)
        if kind == "pixels":
            return PixelScorer(batch_size=c.batch_size)
        raise KeyError(kind)


def _image(base: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else base / path


def _finish(result: MetricResult, scores: dict[str, float | None]) -> MetricResult:
    result.per_item = scores
    valid = [s for s in scores.values() if s is not None]
    result.failed = len(scores) - len(valid)
    result.n = len(valid)
    if valid:
        result.value, result.ci95 = mean_with_ci(valid)
    else:
        result.not_computed = result.not_computed or "no item could be scored"
    return result


def _score_rec(spec: MetricSpec, bench: Benchmark, preds: dict[str, str], protocol: Protocol) -> MetricResult:
    items = [i for i in bench.tasks["rec"] if i.id in preds]
    outcomes = [rec_item_score(preds[i.id], i.polarity == "positive", protocol) for i in items]
    correct = [o.correct for o in outcomes]
    positive = [i.polarity == "positive" for i in items]
    result = MetricResult(spec.name, spec.task, protocol, f"rule:{protocol}", n=len(items))
    result.value = rec_weight(correct, positive)
    result.ci95 = weighted_accuracy_ci(correct, positive)
    result.per_item = {i.id: float(c) for i, c in zip(items, correct)}
    result.unparseable = sum(1 for o in outcomes if protocol == "strict" and o.parsed is None)
    for name, polarity in (("positive_accuracy", True), ("negative_accuracy", False)):
        hits = [c for c, p in zip(correct, positive) if p == polarity]
        result.details[name] = sum(hits) / len(hits) if hits else None
    return result


def _judge_requests(spec: MetricSpec, bench: Benchmark, items: list, preds: dict[str, str], base: Path
                    ) -> list[JudgeRequest]:
    requests = []
    for item in items:
        if spec.kind == "judge_answer":
            requests.append(JudgeRequest("judge_answer", {
                "question": item.question, "answer": item.answer, "prediction": preds[item.id]}))
        elif spec.kind == "judge_dense_rea":
            requests.append(JudgeRequest("judge_dense_rea", {
                "context": "\n".join(item.context), "question": item.question, "answer": item.answer,
                "prediction": preds[item.id]}))
        else:
            prompt = getattr(item, "resolved_prompt", item.prompt)
            requests.append(JudgeRequest(
                "judge_dense_alignment",
                {"prompt": prompt, "class_noun": bench.concepts[item.concept].class_noun,
                 "n_segments": str(len(item.segments)),
                 "segments": "\n".join(f"{k}. {s}" for k, s in enumerate(item.segments, start=1))},
                images=(_image(base, preds[item.id]),), expected_length=len(item.segments)))
    return requests


def _score_judge(spec: MetricSpec, bench: Benchmark, items: list, preds: dict[str, str], judge: Judge,
                 protocol: Protocol, base: Path) -> MetricResult:
    requests = _judge_requests(spec, bench, items, preds, base)
    answers = judge.run(requests)
    scores: dict[str, float | None] = {}
    errors = []
    details: dict[str, dict] = {}
    for item, answer in zip(items, answers):
        details[item.id] = {"judge": answer.answer} if answer.ok else {"judge_error": answer.error}
        if spec.kind == "judge_alignment":
            details[item.id]["segments"] = item.segments
        if not answer.ok:
            scores[item.id] = None
            errors.append(answer.error)
        elif spec.kind == "judge_alignment":
            verdicts = answer.answer["verdicts"]
            scores[item.id] = sum(verdicts) / len(verdicts)
        else:
            scores[item.id] = float(answer.answer["score"])
    result = MetricResult(spec.name, spec.task, protocol, judge.model_id,
                          template_hash=judge.template_hash(requests[0].template), item_details=details)
    if errors:
        result.details["errors"] = errors[:5]
        if len(errors) == len(items):
            result.not_computed = f"judge failed on every item ({errors[-1]})"
    return _finish(result, scores)


def score_metric(spec: MetricSpec, bench: Benchmark, preds: dict[str, str], scorers: Scorers,
                 base: Path) -> MetricResult:
    protocol = scorers.config.protocol
    items = [i for i in bench.tasks[spec.task] if i.id in preds]
    if not items:
        return not_computed(spec, protocol, "no predictions for this task")
    if spec.kind == "rec":
        return _score_rec(spec, bench, preds, protocol)
    if spec.kind == "bleu":
        result = MetricResult(spec.name, spec.task, protocol, f"bleu:{protocol}")
        return _finish(result, {i.id: bleu(i.answer, preds[i.id], protocol) for i in items})
    scorer_kind = "judge" if spec.kind.startswith("judge") else spec.kind
    scorer_kind = {"clip_t": "clip", "clip_i": "clip", "face_found": "face", "face_sim": "face"}.get(
        scorer_kind, scorer_kind)
    try:
        scorer = scorers.get(scorer_kind)
        if scorer_kind == "judge":
            return _score_judge(spec, bench, items, preds, scorer, protocol, base)
        if spec.kind == "text_sim":
            values = scorer.similarity([preds[i.id] for i in items], [i.answer for i in items])
            return _finish(MetricResult(spec.name, spec.task, protocol, scorer.model_id),
                           {i.id: v for i, v in zip(items, values)})
        if spec.kind in ("face_found", "face_sim"):
            return _score_faces(spec, bench, items, preds, scorer, protocol, base)
        images = [_image(base, preds[i.id]) for i in items]
        if spec.kind in ("clip_t", "blip2"):
            texts = [with_class_noun(getattr(i, "resolved_prompt", i.prompt), bench.concepts[i.concept])
                     for i in items]
            values = scorer.clip_t(images, texts) if spec.kind == "clip_t" else scorer.similarity(images, texts)
        else:
            refs = [[bench.image_path(p) for p in bench.concepts[i.concept].test_images] for i in items]
            values = scorer.clip_i(images, refs) if spec.kind == "clip_i" else scorer.similarity(images, refs)
    except ScorerUnavailable as error:
        return not_computed(spec, protocol, str(error), scorer_missing=True)
    return _finish(MetricResult(spec.name, spec.task, protocol, scorer.model_id),
                   {i.id: v for i, v in zip(items, values)})


def _score_faces(spec: MetricSpec, bench: Benchmark, items: list, preds: dict[str, str], scorer: FaceScorer,
                 protocol: Protocol, base: Path) -> MetricResult:
    """Person concepts only: MTCNN face-found rate, or FaceNet cosine to the test photos (0 when no face)."""
    people = [i for i in items if bench.concepts[i.concept].category == "person"]
    if not people:
        return not_computed(spec, protocol, "no person concepts among the scored items")
    images = [_image(base, preds[i.id]) for i in people]
    if spec.kind == "face_found":
        values = [float(p > 0.9) for p in scorer.face_probability(images)]
        return _finish(MetricResult(spec.name, spec.task, protocol, scorer.detector_id),
                       {i.id: v for i, v in zip(people, values)})
    refs = [[bench.image_path(p) for p in bench.concepts[i.concept].test_images] for i in people]
    faces = scorer.similarity(images, refs)
    result = MetricResult(spec.name, spec.task, protocol, scorer.model_id)
    result.details["no_face"] = sum(not f.face_found for f in faces)
    return _finish(result, {i.id: f.score for i, f in zip(people, faces)})


def score(bench: Benchmark, predictions: Predictions, scorers: Scorers, base: Path = Path(".")) -> list[MetricResult]:
    """Every metric: the Table 1 columns in order, then the supplementary ones.

    Relative image paths in `predictions` are resolved against `base`.
    """
    return [score_metric(spec, bench, predictions.get(spec.task, {}), scorers, base) for spec in METRICS.values()]


def read_predictions(path: Path, bench: Benchmark) -> Predictions:
    """Predictions JSONL: one {"task", "id", "output"} per line; every id must exist in the benchmark."""
    known = {task: {item.id for item in items} for task, items in bench.tasks.items()}
    predictions: Predictions = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise SourceError(path, "", "predictions file not found", "pass the JSONL your model wrote") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            task, item_id, output = record["task"], record["id"], record["output"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise SourceError(path, f"line {number}", "expected JSON with 'task', 'id' and 'output'",
                              'write {"task": "qa", "id": "qa/bo/000", "output": "..."}') from None
        if task not in known or item_id not in known[task]:
            raise SourceError(path, f"line {number}", f"unknown item {item_id!r} of task {task!r} in {bench.version}",
                              "score against the benchmark build the predictions were made on")
        if not isinstance(output, str):
            raise SourceError(path, f"line {number}", "'output' must be a string (text or image path)",
                              "write the text, or the image path relative to the predictions file")
        predictions.setdefault(task, {})[item_id] = output
    return predictions
