"""Turn validated source records into the nine task views of UnifyBench++."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import SourceError
from .images import ImageStore
from .schema import (
    Concept,
    DenseGenItem,
    DenseReaGenItem,
    DenseReaItem,
    ExtraInfo,
    PureGenItem,
    QAItem,
    ReaGenItem,
    ReaItem,
    RecItem,
    TaskItem,
    VQAItem,
)
from .sources.annotations import ConceptAnnotation
from .sources.unictokens import RawConcept
from .segments import split_segments
from .splits import SplitConfig, draw_distractors, draw_other_concept_negatives, split_extra_info

REC_QUESTION = "Is {token} in this photo?"
PURE_GEN_DEFAULT = "A photo of {token}."


def concept_token(name: str) -> str:
    return f"<{name}>"


@dataclass
class ConceptViews:
    """Everything built for one concept; the builder concatenates these per task."""

    concept: Concept
    extra_info: list[ExtraInfo]
    items: dict[str, list[TaskItem]]


def build_extra_info(
    raw: RawConcept, ann: ConceptAnnotation, config: SplitConfig, annotations_file: str, taken: set[str]
) -> list[ExtraInfo]:
    labels = split_extra_info(raw.name, [p.split for p in ann.extra_info], config)
    pairs = []
    for i, (pair, label) in enumerate(zip(ann.extra_info, labels)):
        ident = pair.id or f"{raw.name}-x{i + 1}"
        if ident in taken:
            raise SourceError(annotations_file, pair.where, f"duplicate id {ident!r}", "give each extra_info pair its own id")
        taken.add(ident)
        pairs.append(ExtraInfo(ident, raw.name, pair.text, pair.reasoning_prompt, pair.placeholder, pair.detail, label))
    return pairs


def build_concept_views(
    raw: RawConcept,
    concept: Concept,
    extra_info: list[ExtraInfo],
    ann: ConceptAnnotation,
    store: ImageStore,
    negative_pools: dict[str, list[Path]],
    distractors: list[Path],
    config: SplitConfig,
) -> ConceptViews:
    name, token = raw.name, concept.token
    def ids(task: str) -> Callable[[int], str]:
        return lambda i: f"{task}/{name}/{i:03d}"

    question = REC_QUESTION.format(token=token)
    n_pos = len(concept.test_images)
    others = draw_other_concept_negatives(name, negative_pools, n_pos * config.other_concept_negatives, config)
    noise = draw_distractors(name, distractors, n_pos * config.distractor_negatives, config)
    cases = [(image, "Yes", "positive", "") for image in concept.test_images]
    cases += [(store.name(p), "No", "negative", "other_concept") for p in others]
    cases += [(store.name(p), "No", "negative", "distractor") for p in noise]
    rec = [RecItem(ids("rec")(i), name, image, question, *rest) for i, (image, *rest) in enumerate(cases)]

    context = [pair.text for pair in extra_info]
    held = [pair for pair in extra_info if pair.split == "heldout"]
    items: dict[str, list[TaskItem]] = {
        "rec": rec,
        "rea": [
            ReaItem(ids("rea")(i), name, context, p.reasoning_prompt, p.text, p.id) for i, p in enumerate(held)
        ],
        "dense_rea": [
            DenseReaItem(ids("dense_rea")(i), name, [concept.info, *context], q, a)
            for i, (q, a) in enumerate(ann.dense_rea)
        ],
        "vqa": [
            VQAItem(ids("vqa")(i), name, store.name(v.image), v.question, v.answer) for i, v in enumerate(raw.vqa)
        ],
        "qa": [QAItem(ids("qa")(i), name, q, a) for i, (q, a) in enumerate(raw.qa)],
        "pure_gen": [
            PureGenItem(ids("pure_gen")(i), name, prompt)
            for i, prompt in enumerate(ann.pure_gen or raw.plain_prompts or [PURE_GEN_DEFAULT.format(token=token)])
        ],
        "dense_gen": [
            DenseGenItem(ids("dense_gen")(i), name, d.prompt, d.segments or split_segments(d.prompt))
            for i, d in enumerate(ann.dense_gen)
        ],
        "rea_gen": [
            ReaGenItem(
                ids("rea_gen")(i), name, context, p.reasoning_prompt, p.placeholder, p.detail,
                p.reasoning_prompt.replace(p.placeholder, p.detail), p.id,
            )
            for i, p in enumerate(held)
        ],
        "dense_rea_gen": [],
    }
    for i, d in enumerate(ann.dense_rea_gen):
        resolved = d.prompt.replace(d.placeholder, d.detail)
        items["dense_rea_gen"].append(
            DenseReaGenItem(
                ids("dense_rea_gen")(i), name, context, d.prompt, d.placeholder, d.detail, resolved,
                d.segments or split_segments(resolved),
            )
        )
    return ConceptViews(concept, extra_info, items)
