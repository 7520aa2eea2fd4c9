"""The records a built UnifyBench++ holds, one dataclass per record kind.

Every field carries its documentation in ``metadata["doc"]`` so the dataset
card, the loader and this module can never disagree about what a field means.
Bump ``SCHEMA_VERSION`` whenever a field is added, removed or changes meaning:
runs and leaderboards key their results on it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = "1.0"

Category = Literal["person", "pet", "object"]
CATEGORIES: tuple[str, ...] = ("person", "pet", "object")
Split = Literal["train", "heldout"]


def _doc(text: str, **kwargs: Any) -> Any:
    return field(metadata={"doc": text}, **kwargs)


@dataclass(frozen=True)
class Concept:
    """A personal concept (a person, pet or object) the model must learn."""

    id: str = _doc("Concept name as in the source, e.g. `bo`; unique in the benchmark.")
    token: str = _doc("Identifier token used in prompts, e.g. `<bo>`.")
    class_noun: str = _doc("Class noun that replaces the token for CLIP-T, e.g. `dog`.")
    category: str = _doc("One of person / pet / object; FER applies to persons only.")
    info: str = _doc("The concept's profile sentence from the source (`info.json` `info`).")
    train_images: list[str] = _doc("Reference images for training, paths relative to the benchmark root.")
    test_images: list[str] = _doc("Held-out reference images (CLIP-I targets, Rec. positives).")


@dataclass(frozen=True)
class ExtraInfo:
    """One piece of supplementary context paired with the prompt that needs it."""

    id: str = _doc("Stable id, `<concept>-x<N>` unless the annotation names one.")
    concept: str = _doc("Concept id this context belongs to.")
    text: str = _doc("The context, e.g. `<bo>'s favourite hat is a red baseball cap.`")
    reasoning_prompt: str = _doc("Prompt that can only be fulfilled with this context.")
    placeholder: str = _doc("Span of the reasoning prompt that refers to the context.")
    detail: str = _doc("What the placeholder stands for; substituted before CLIP-T.")
    split: str = _doc("`train` (shown to the trainer) or `heldout` (Rea. / Rea. Gen. only).")


@dataclass(frozen=True)
class RecItem:
    """Rec.: is the concept in this photo?"""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept asked about.")
    image: str = _doc("Image path relative to the benchmark root.")
    question: str = _doc("The yes/no question, naming the concept token.")
    answer: str = _doc("`Yes` or `No`.")
    polarity: str = _doc("`positive` (concept present) or `negative`.")
    negative_source: str = _doc("For negatives: `other_concept` or `distractor`; empty for positives.")


@dataclass(frozen=True)
class ReaItem:
    """Rea.: pick the context a reasoning prompt needs and state it."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept the prompt is about.")
    context: list[str] = _doc("Every extra_info text of the concept, in source order.")
    prompt: str = _doc("A held-out reasoning prompt.")
    answer: str = _doc("Ground-truth extra_info text (BLEU reference).")
    extra_info_id: str = _doc("Id of the held-out extra_info pair this item tests.")


@dataclass(frozen=True)
class DenseReaItem:
    """Dense Rea.: a question whose answer chains several pieces of context."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept the question is about.")
    context: list[str] = _doc("The concept's info followed by every extra_info text.")
    question: str = _doc("The dense question.")
    answer: str = _doc("Reference reasoning chain given to the judge.")


@dataclass(frozen=True)
class VQAItem:
    """VQA: a question about a photo of the concept."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept in the photo.")
    image: str = _doc("Image path relative to the benchmark root.")
    question: str = _doc("Question about the photo.")
    answer: str = _doc("Reference answer (BLEU and judge reference).")


@dataclass(frozen=True)
class QAItem:
    """QA: a text-only question about the concept."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept asked about.")
    question: str = _doc("Question about the concept, no image.")
    answer: str = _doc("Reference answer (BLEU and judge reference).")


@dataclass(frozen=True)
class PureGenItem:
    """Pure Gen.: an image of the concept from a plain prompt."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept to draw.")
    prompt: str = _doc("Generation prompt with the concept token, e.g. `A photo of <bo>.`")


@dataclass(frozen=True)
class DenseGenItem:
    """Dense Gen.: an image satisfying a long prompt of many clauses."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept to draw.")
    prompt: str = _doc("The dense prompt.")
    segments: list[str] = _doc("Clauses the judge checks one by one (dense alignment).")


@dataclass(frozen=True)
class ReaGenItem:
    """Rea. Gen.: an image whose content needs a held-out piece of context."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept to draw.")
    context: list[str] = _doc("Every extra_info text of the concept, in source order.")
    prompt: str = _doc("The held-out reasoning prompt.")
    placeholder: str = _doc("Span of the prompt standing for the context.")
    detail: str = _doc("What the placeholder stands for.")
    resolved_prompt: str = _doc("Prompt with the placeholder replaced by the detail (CLIP-T text).")
    extra_info_id: str = _doc("Id of the held-out extra_info pair this item tests.")


@dataclass(frozen=True)
class DenseReaGenItem:
    """Dense Rea. Gen.: a dense prompt that also needs a reasoned attribute."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept to draw.")
    context: list[str] = _doc("Every extra_info text of the concept, in source order.")
    prompt: str = _doc("The dense reasoning prompt as the model sees it.")
    placeholder: str = _doc("Span of the prompt standing for the reasoned attribute.")
    detail: str = _doc("What the placeholder stands for.")
    resolved_prompt: str = _doc("Prompt with the placeholder replaced by the detail.")
    segments: list[str] = _doc("Clauses of the resolved prompt the judge checks.")


TaskItem = (
    RecItem | ReaItem | DenseReaItem | VQAItem | QAItem | PureGenItem | DenseGenItem | ReaGenItem | DenseReaGenItem
)

#: Task name -> item class, in the paper's Table 1 column order.
TASKS: dict[str, type] = {
    "rec": RecItem,
    "rea": ReaItem,
    "dense_rea": DenseReaItem,
    "vqa": VQAItem,
    "qa": QAItem,
    "pure_gen": PureGenItem,
    "dense_gen": DenseGenItem,
    "rea_gen": ReaGenItem,
    "dense_rea_gen": DenseReaGenItem,
}

#: Task name -> the column title the paper uses.
TASK_TITLES: dict[str, str] = {
    "rec": "Rec.",
    "rea": "Rea.",
    "dense_rea": "Dense Rea.",
    "vqa": "VQA",
    "qa": "QA",
    "pure_gen": "Pure Gen.",
    "dense_gen": "Dense Gen.",
    "rea_gen": "Rea. Gen.",
    "dense_rea_gen": "Dense Rea. Gen.",
}

UNDERSTANDING_TASKS: tuple[str, ...] = ("rec", "rea", "dense_rea", "vqa", "qa")
GENERATION_TASKS: tuple[str, ...] = ("pure_gen", "dense_gen", "rea_gen", "dense_rea_gen")


def to_record(obj: Any) -> dict[str, Any]:
    """A plain dict in field order, ready for JSON."""
    return dataclasses.asdict(obj)


def from_record(cls: type, record: dict[str, Any]) -> Any:
    """Rebuild a dataclass from a record, rejecting unknown or missing fields."""
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(record) - set(names))
    missing = [n for n in names if n not in record]
    if unknown or missing:
        raise ValueError(f"{cls.__name__}: unknown fields {unknown}, missing fields {missing}")
    return cls(**{n: record[n] for n in names})


def field_docs(cls: type) -> list[tuple[str, str, str]]:
    """(name, type, doc) for each field of a record class, for the dataset card."""
    return [(f.name, str(f.type), f.metadata.get("doc", "")) for f in dataclasses.fields(cls)]
