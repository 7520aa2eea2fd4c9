"""How one metric scores the items of its task, under each protocol.

Each function takes the scoring context and the task's items that have a
prediction, and returns one `ItemScore` per item (None when the item could
not be scored: a judge failure, or under `strict` an unparseable reply).
Scorer models come from `ctx.scorer(kind)`, which loads each at most once and
raises ScorerUnavailable with the reason when it is not here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unifybench_pp import Benchmark
from unifybench_pp.paths import inside
from unifybench_pp.prompts import with_class_noun

from .judge import JudgeRequest
from .text_metrics import (
    Protocol,
    bleu,
    choice_mentions,
    exact_reply,
    judge_score,
    judge_unparseable,
    parse_choice,
    rec_correct,
)


@dataclass
class ItemScore:
    value: float | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    bench: Benchmark
    predictions: dict[str, str]
    """Item id -> the model's text, or its image path (relative to `base`, never outside it)."""
    protocol: Protocol
    scorer: Callable[[str], Any]
    base: Path
    judge_repeat: int = 0
    """Which repetition of the judge's calls this scoring is (0: the first)."""
    judge_template: str | None = None
    """The judge prompt template of the metric being scored (its `MetricSpec.judge_template`)."""

    def output(self, item: Any) -> str:
        return self.predictions[item.id]

    def image(self, item: Any) -> Path:
        """The output image, confined to `base` here too (where scorers read it)."""
        return inside(self.base, self.predictions[item.id])

    def test_images(self, item: Any) -> list[Path]:
        """The item's concept's test images, sorted by name."""
        return [self.bench.image_path(p) for p in self.bench.concepts[item.concept].test_images]

    def clip_i_references(self, item: Any) -> list[Path]:
        """`syncr1`: the concept's first test image (sorted by name); `strict`: all of them."""
        images = self.test_images(item)
        return images[:1] if self.protocol == "syncr1" else images


def rec(ctx: Context, items: list) -> list[ItemScore]:
    return [ItemScore(float(rec_correct(ctx.output(i), i.polarity == "positive", ctx.protocol)),
                      {"polarity": i.polarity}) for i in items]


def answer_bleu(ctx: Context, items: list) -> list[ItemScore]:
    return [ItemScore(bleu(i.answer, ctx.output(i))) for i in items]


def clip_t(ctx: Context, items: list) -> list[ItemScore]:
    texts = [clip_text(ctx, i) for i in items]
    values = ctx.scorer("clip").clip_t([ctx.image(i) for i in items], texts)
    return [ItemScore(v, {"text": t}) for v, t in zip(values, texts)]


def clip_text(ctx: Context, item: Any) -> str:
    """Pure Gen.: the template with the class noun. Rea. Gen.: the explicit prompt, token as is under
    `syncr1` (as the harness), with the class noun under `strict`."""
    if hasattr(item, "clip_text"):
        return item.clip_text
    if ctx.protocol == "syncr1":
        return item.explicit_prompt
    concept = ctx.bench.concepts[item.concept]
    return with_class_noun(item.explicit_prompt, concept.token, concept.class_noun)


def clip_i(ctx: Context, items: list) -> list[ItemScore]:
    values = ctx.scorer("clip").clip_i([ctx.image(i) for i in items], [ctx.clip_i_references(i) for i in items])
    return [ItemScore(v) for v in values]


def _judge_text(ctx: Context, items: list, variables: Callable[[Any], dict[str, str]]) -> list[ItemScore]:
    judge = ctx.scorer("judge")
    answers = judge.run([JudgeRequest(ctx.judge_template, variables(i), repeat=ctx.judge_repeat) for i in items])
    out = []
    for answer in answers:
        if not answer.ok:
            out.append(ItemScore(None, {"judge_error": answer.error}))
            continue
        value = judge_score(answer.reply, ctx.protocol)
        out.append(ItemScore(value, {"judge": answer.reply, "unparseable": unusable_reply(answer.reply, value,
                                                                                            ctx.protocol)}))
    return out


def unusable_reply(reply: str, value: float | None, protocol: Protocol) -> bool:
    """A judge reply without a usable score: `syncr1` no number (scored 0, as the harness), `strict` not exactly
    an allowed score (a failure)."""
    return judge_unparseable(reply) if protocol == "syncr1" else value is None


def judge_answer(ctx: Context, items: list) -> list[ItemScore]:
    """VQA / QA: the harness's text-answer judge, {0, 0.5, 1}."""
    return _judge_text(ctx, items, lambda i: {
        "question": i.question, "reference": i.answer, "prediction": ctx.output(i)})


def judge_rewrite(ctx: Context, items: list) -> list[ItemScore]:
    """Dense Rea.: the harness's prompt-similarity judge against the explicit dense prompt, {0, 0.5, 1}."""
    return _judge_text(ctx, items, lambda i: {
        "source": i.implicit_prompt, "reference": i.answer, "prediction": ctx.output(i)})


def visual_text(clause: str) -> str:
    """A clause as the judge sees it: every `<...>` token becomes "the subject", whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "the subject", clause)).strip()


def judge_clauses(ctx: Context, items: list) -> list[ItemScore]:
    """Dense Gen. / Dense Rea. Gen.: one binary verdict per comma clause, the item's score their mean.

    `syncr1`: an unparseable verdict counts 0 (as the harness); `strict`: it fails the item. Either way the
    item's `unparseable` counts its replies without a usable verdict.
    """
    judge = ctx.scorer("judge")
    requests = [JudgeRequest(ctx.judge_template, {"clause": visual_text(c)}, images=(ctx.image(i),),
                             repeat=ctx.judge_repeat)
                for i in items for c in i.clauses]
    answers = iter(judge.run(requests))
    out = []
    for item in items:
        verdicts, replies, errors, unusable = [], [], [], 0
        for _ in item.clauses:
            answer = next(answers)
            if not answer.ok:
                errors.append(answer.error)
                continue
            score = judge_score(answer.reply, ctx.protocol, allowed=(0.0, 1.0))
            replies.append(answer.reply)
            unusable += unusable_reply(answer.reply, score, ctx.protocol)
            verdicts.append(None if score is None else float(score >= 0.5))
        detail = {"clauses": item.clauses, "verdicts": verdicts, "judge": replies, "unparseable": unusable}
        if errors:
            out.append(ItemScore(None, {**detail, "judge_error": errors[0]}))
        elif None in verdicts:
            out.append(ItemScore(None, detail))
        else:
            out.append(ItemScore(sum(verdicts) / len(verdicts) if verdicts else 0.0, detail))
    return out


def text_similarity(ctx: Context, items: list) -> list[ItemScore]:
    values = ctx.scorer("text_sim").similarity([ctx.output(i) for i in items], [i.answer for i in items])
    return [ItemScore(v) for v in values]


def _against_test_photos(ctx: Context, items: list, scorer: str, method: str) -> list[ItemScore]:
    """Each image scored by `scorer.method(images, references)` against every test photo of its concept."""
    values = getattr(ctx.scorer(scorer), method)([ctx.image(i) for i in items], [ctx.test_images(i) for i in items])
    return [ItemScore(v) for v in values]


def dino(ctx: Context, items: list) -> list[ItemScore]:
    return _against_test_photos(ctx, items, "dino", "similarity")


def colour(ctx: Context, items: list) -> list[ItemScore]:
    return _against_test_photos(ctx, items, "pixels", "colour")


def ssim(ctx: Context, items: list) -> list[ItemScore]:
    return _against_test_photos(ctx, items, "pixels", "ssim")


def blip2(ctx: Context, items: list) -> list[ItemScore]:
    values = ctx.scorer("blip2").similarity([ctx.image(i) for i in items], [clip_text(ctx, i) for i in items])
    return [ItemScore(v) for v in values]


def _people(ctx: Context, items: list) -> list:
    return [i for i in items if ctx.bench.concepts[i.concept].category == "person"]


def face_found(ctx: Context, items: list) -> list[ItemScore]:
    """Person concepts only (others are left out): MTCNN finds a face with probability > 0.9."""
    people = _people(ctx, items)
    probabilities = ctx.scorer("mtcnn").face_probability([ctx.image(i) for i in people]) if people else []
    scores = {i.id: ItemScore(float(p > 0.9)) for i, p in zip(people, probabilities)}
    return [scores.get(i.id, ItemScore(None, {"skipped": "not a person concept"})) for i in items]


def face_similarity(ctx: Context, items: list) -> list[ItemScore]:
    """Person concepts only: FaceNet cosine of the face to the test photos' faces (0 when no face)."""
    people = _people(ctx, items)
    refs = [ctx.test_images(i) for i in people]
    faces = ctx.scorer("facenet").similarity([ctx.image(i) for i in people], refs) if people else []
    scores = {i.id: ItemScore(f.score, {"face_found": f.face_found}) for i, f in zip(people, faces)}
    return [scores.get(i.id, ItemScore(None, {"skipped": "not a person concept"})) for i in items]


# --- Table 5's benchmarks: each scored as its authors' code scores it (`syncr1`), or parsed (`strict`) --------

def yollava_rec(ctx: Context, items: list) -> list[ItemScore]:
    """Yo'LLaVA (`test-sks-acc.py`): a reply other than exactly "Yes" / "No" is dropped from the accuracy, so
    here it fails the item (left out of the mean, counted); `strict`: a parsed yes/no answer."""
    if ctx.protocol == "strict":
        return rec(ctx, items)
    out = []
    for item in items:
        reply, detail = ctx.output(item).strip(), {"polarity": item.polarity}
        if reply not in ("Yes", "No"):
            out.append(ItemScore(None, {**detail, "unparseable": True}))
        else:
            out.append(ItemScore(float(reply == item.answer), detail))
    return out


def mcllava_rec(ctx: Context, items: list) -> list[ItemScore]:
    """MC-LLaVA (`eval/eval.py`): the reply must equal "Yes" / "No"; anything else is wrong. `strict`: parsed."""
    if ctx.protocol == "strict":
        return rec(ctx, items)
    return [ItemScore(float(exact_reply(ctx.output(i), i.answer)), {"polarity": i.polarity}) for i in items]


def _choice(ctx: Context, items: list, authors_rule: Callable[[str, Any], bool]) -> list[ItemScore]:
    out = []
    for item in items:
        reply = ctx.output(item)
        if ctx.protocol == "strict":
            picked = parse_choice(reply, item.options)
            out.append(ItemScore(float(picked == item.answer), {"picked": picked, "unparseable": picked is None}))
        else:
            out.append(ItemScore(float(authors_rule(reply, item))))
    return out


def yollava_choice(ctx: Context, items: list) -> list[ItemScore]:
    """Yo'LLaVA VQA / QA: right when the correct option's text occurs in the reply."""
    return _choice(ctx, items, lambda reply, item: choice_mentions(reply, item.options, item.answer))


def mcllava_choice(ctx: Context, items: list) -> list[ItemScore]:
    """MC-LLaVA QA: right when the reply is the correct letter."""
    return _choice(ctx, items, lambda reply, item: exact_reply(reply, item.answer))


def clip_i_all(ctx: Context, items: list) -> list[ItemScore]:
    """DreamBench / Yo'LLaVA CLIP-I: the mean cosine of the image to every photo of the concept."""
    return _against_test_photos(ctx, items, "clip", "clip_i")
