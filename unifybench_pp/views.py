"""The nine task views of one concept, built as the public Sync-R1 harness builds them.

Item ids are `<task>/<concept>/<NNN>`, numbered in the harness's order: the
`test_data` items of each type in file order; Rea. over the held-out entries;
Dense Rea. and Dense Rea. Gen. over every implicit dense prompt; Pure Gen.
over the 25 templates; Dense Gen. over the dense prompts. A Rea. Gen. item
has the same number as the Rea. item whose output it draws from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .images import ImageStore
from .prompts import (
    clauses,
    dense_rea_instruction,
    pure_gen_prompts,
    question_text,
    rea_instruction,
)
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
from .sources.release import RawConcept
from .splits import SplitConfig, heldout_positions


def concept_token(name: str) -> str:
    return f"<{name}>"


@dataclass
class ConceptViews:
    """Everything built for one concept; the builder concatenates these per task."""

    concept: Concept
    extra_info: list[ExtraInfo]
    items: dict[str, list[TaskItem]]


def build_extra_info(raw: RawConcept, config: SplitConfig) -> list[ExtraInfo]:
    """The extra_info entries with their aligned prompts and split labels."""
    held = set(heldout_positions(raw.name, len(raw.extra_info), raw.num_testing_info, config))
    implicit = raw.conditions["personalized_driven_generation"]
    explicit = raw.conditions["explicit_personalized_driven_generation"]
    return [ExtraInfo(f"{raw.name}-x{i}", raw.name, text, implicit[i], explicit[i],
                      "heldout" if i in held else "train") for i, text in enumerate(raw.extra_info)]


def build_concept_views(raw: RawConcept, concept: Concept, extra_info: list[ExtraInfo], store: ImageStore,
                        black: str) -> ConceptViews:
    name, token = raw.name, concept.token

    def ids(task: str) -> Callable[[int], str]:
        return lambda i: f"{task}/{name}/{i:03d}"

    def test_data(kind: str) -> list:
        return [d for d in raw.test_data if d.type == kind]

    rec = [RecItem(ids("rec")(i), name, store.name(d.image), question_text(d.question), d.answer,
                   "negative" if d.answer.strip().lower().startswith("no") else "positive")
           for i, d in enumerate(test_data("rec"))]
    vqa = [VQAItem(ids("vqa")(i), name, store.name(d.image), question_text(d.question), d.answer)
           for i, d in enumerate(test_data("vqa"))]
    qa = [QAItem(ids("qa")(i), name, store.name(d.image), question_text(d.question), d.answer)
          for i, d in enumerate(test_data("text_only"))]

    held = [entry for entry in extra_info if entry.split == "heldout"]
    rea = [ReaItem(ids("rea")(i), name, black, e.implicit_prompt,
                   rea_instruction(token, raw.extra_info, e.implicit_prompt), e.explicit_prompt, e.id)
           for i, e in enumerate(held)]
    rea_gen = [ReaGenItem(ids("rea_gen")(i), name, item.id, e.implicit_prompt, e.explicit_prompt, e.id)
               for i, (item, e) in enumerate(zip(rea, held))]

    dense_pairs = list(zip(raw.conditions["personalized_dense_prompt_generation"],
                           raw.conditions["explicit_personalized_dense_prompt_generation"]))
    dense_rea = [DenseReaItem(ids("dense_rea")(i), name, black, implicit,
                              dense_rea_instruction(token, raw.extra_info, implicit), explicit)
                 for i, (implicit, explicit) in enumerate(dense_pairs)]
    dense_rea_gen = [DenseReaGenItem(ids("dense_rea_gen")(i), name, item.id, implicit, explicit, clauses(explicit))
                     for i, (item, (implicit, explicit)) in enumerate(zip(dense_rea, dense_pairs))]

    pure_gen = [PureGenItem(ids("pure_gen")(i), name, prompt, clip_text)
                for i, (prompt, clip_text) in enumerate(pure_gen_prompts(token, concept.class_noun,
                                                                         concept.generation_type))]
    dense_gen = [DenseGenItem(ids("dense_gen")(i), name, prompt, clauses(prompt))
                 for i, prompt in enumerate(raw.conditions["dense_prompt_generation"])]
    items: dict[str, list[TaskItem]] = {
        "rec": rec, "rea": rea, "dense_rea": dense_rea, "vqa": vqa, "qa": qa, "pure_gen": pure_gen,
        "dense_gen": dense_gen, "rea_gen": rea_gen, "dense_rea_gen": dense_rea_gen,
    }
    return ConceptViews(concept, extra_info, items)
