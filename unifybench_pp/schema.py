"""The records a built UnifyBench++ holds, one dataclass per record kind.

Every field carries its documentation in ``metadata["doc"]`` so the dataset
card, the loader and this module can never disagree about what a field means.
Bump ``SCHEMA_VERSION`` whenever a field is added, removed or changes meaning:
runs and leaderboards key their results on it.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

SCHEMA_VERSION = "2.1"

Split = Literal["train", "heldout"]


def _doc(text: str, **kwargs: Any) -> Any:
    return field(metadata={"doc": text}, **kwargs)


@dataclass(frozen=True)
class Concept:
    """A personal concept (a person, pet or object) the model must learn."""

    id: str = _doc("Concept name as in the release (its folder name), e.g. `bo`; unique in the benchmark.")
    token: str = _doc("Identifier token used in prompts, e.g. `<bo>`.")
    class_noun: str = _doc("`info.json` `class`, e.g. `dog`: replaces the token in CLIP-T texts and baseline prompts.")
    category: str = _doc("person / pet / object, from `conversation_type` (human / animal / other); DreamBench: "
                         "pet (its live subjects) or object; `unspecified` where the source names none.")
    generation_type: str = _doc("`live_subject` or `object`: which 25 DreamBooth templates Pure Gen. uses.")
    info: str = _doc("The concept's profile (`info.json` `info`), given to the Show-o family as `info: ...`.")
    extra_info: list[str] = _doc("Every `extra_info` entry in release order (the Rea. / Dense Rea. prompts list them "
                                 "all).")
    train_images: list[str] = _doc("Training reference images (`train_images.json` order), paths relative to the "
                                   "benchmark root.")
    test_images: list[str] = _doc("Test reference images sorted by file name; the first is the CLIP-I reference.")


@dataclass(frozen=True)
class ExtraInfo:
    """One `extra_info` entry with the implicit and explicit prompts aligned with it."""

    id: str = _doc("Stable id, `<concept>-x<N>` (N = the entry's 0-based position in the release).")
    concept: str = _doc("Concept id this entry belongs to.")
    text: str = _doc("The entry, e.g. `<bo>'s favourite hat is a red baseball cap.`")
    implicit_prompt: str = _doc("`personalized_driven_generation` at this position: needs the entry to be drawn right.")
    explicit_prompt: str = _doc("`explicit_personalized_driven_generation` at this position: the detail written out.")
    split: str = _doc("`train` (Textual Attribute Reasoning data) or `heldout` (Rea. / Rea. Gen. only).")


@dataclass(frozen=True)
class RecItem:
    """Rec.: is the concept in this photo? (`test_data` items of type `rec`)."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept asked about.")
    image: str = _doc("Image path relative to the benchmark root.")
    question: str = _doc("The question as the model gets it (`<image>\\n` removed, stripped).")
    answer: str = _doc("The release's answer; the item is a negative when it starts with `no`.")
    polarity: str = _doc("`positive` (concept present) or `negative`.")


@dataclass(frozen=True)
class VQAItem:
    """VQA: a question about a photo (`test_data` items of type `vqa`)."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept asked about.")
    image: str = _doc("Image path relative to the benchmark root.")
    question: str = _doc("The question as the model gets it (`<image>\\n` removed, stripped).")
    answer: str = _doc("Reference answer (BLEU and judge reference).")


@dataclass(frozen=True)
class QAItem:
    """QA: a question about the concept (`test_data` items of type `text_only`)."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept asked about.")
    image: str = _doc("The image the release pairs with the question (the harness passes it to the model).")
    question: str = _doc("The question as the model gets it (`<image>\\n` removed, stripped).")
    answer: str = _doc("Reference answer (BLEU and judge reference).")


@dataclass(frozen=True)
class ReaItem:
    """Rea.: rewrite a held-out implicit prompt with the concept's extra_info."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept the prompt is about.")
    image: str = _doc("The black image the harness gives with text-only reasoning tasks.")
    implicit_prompt: str = _doc("The held-out implicit prompt (the judge's / summary's source prompt).")
    question: str = _doc("The full rewrite instruction as the harness builds it (lists every extra_info entry).")
    answer: str = _doc("The explicit prompt (BLEU reference).")
    extra_info_id: str = _doc("Id of the held-out extra_info entry this item tests.")


@dataclass(frozen=True)
class DenseReaItem:
    """Dense Rea.: rewrite an implicit dense prompt with the concept's extra_info."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept the prompt is about.")
    image: str = _doc("The black image the harness gives with text-only reasoning tasks.")
    implicit_prompt: str = _doc("`personalized_dense_prompt_generation` entry (the judge's original prompt).")
    question: str = _doc("The full rewrite instruction as the harness builds it (lists every extra_info entry).")
    answer: str = _doc("`explicit_personalized_dense_prompt_generation` entry (the judge's reference).")


@dataclass(frozen=True)
class PureGenItem:
    """Pure Gen.: one of the 25 DreamBooth templates for the concept's generation_type."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept to draw.")
    prompt: str = _doc("Generation prompt with the concept token, e.g. `a <bo> in the jungle`.")
    clip_text: str = _doc("The template with the class noun instead of the token (CLIP-T text), e.g. "
                          "`a dog in the jungle`.")


@dataclass(frozen=True)
class DenseGenItem:
    """Dense Gen.: an image satisfying a long prompt of comma-separated clauses."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept to draw.")
    prompt: str = _doc("The dense prompt (`dense_prompt_generation`).")
    clauses: list[str] = _doc("The prompt split on commas: one judge verdict each.")


@dataclass(frozen=True)
class ReaGenItem:
    """Rea. Gen.: draw from the model's own Rea. rewrite of a held-out implicit prompt."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept to draw.")
    source_item: str = _doc("The Rea. item whose output is this item's generation prompt (two stages).")
    implicit_prompt: str = _doc("The held-out implicit prompt (the input of a model that cannot understand).")
    explicit_prompt: str = _doc("The explicit prompt: CLIP-T text under `syncr1` (token as is) and the oracle input.")
    extra_info_id: str = _doc("Id of the held-out extra_info entry this item tests.")


@dataclass(frozen=True)
class DenseReaGenItem:
    """Dense Rea. Gen.: draw from the model's own Dense Rea. rewrite."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept to draw.")
    source_item: str = _doc("The Dense Rea. item whose output is this item's generation prompt (two stages).")
    implicit_prompt: str = _doc("The implicit dense prompt (the input of a model that cannot understand).")
    explicit_prompt: str = _doc("The explicit dense prompt (the oracle input).")
    clauses: list[str] = _doc("The explicit prompt split on commas: one judge verdict each.")


@dataclass(frozen=True)
class ChoiceItem:
    """A multiple-choice question (Table 5: Yo'LLaVA VQA / QA, MC-LLaVA QA), worded as its authors' code asks it."""

    id: str = _doc("Item id, unique within the task.")
    concept: str = _doc("Concept asked about.")
    image: str = _doc("The photo asked about; for a text-only question the black image the harness gives "
                      "with text-only tasks.")
    question: str = _doc("The question as the model gets it, options written out as the source's evaluation "
                         "code writes them.")
    options: list[str] = _doc("Option texts in letter order (A, B, ...); empty when the source gives only the letter "
                              "(MC-LLaVA writes its options into the question).")
    answer: str = _doc("The correct option's letter.")


TaskItem = (
    RecItem | ReaItem | DenseReaItem | VQAItem | QAItem | PureGenItem | DenseGenItem | ReaGenItem | DenseReaGenItem
    | ChoiceItem
)

@dataclass(frozen=True)
class TaskSpec:
    """What a task is, in one place: its items, its column title, what a model must do to answer it, whether it
    is a Table 1 column, and for a two-stage task the understanding task whose output is its prompt."""

    name: str
    item: type
    title: str
    capability: Literal["understand", "generate"]
    table1: bool = True
    source: str | None = None


#: Every task, in the paper's Table 1 column order, then Table 5's own.
TASK_SPECS: dict[str, TaskSpec] = {spec.name: spec for spec in (
    TaskSpec("rec", RecItem, "Rec.", "understand"),
    TaskSpec("rea", ReaItem, "Rea.", "understand"),
    TaskSpec("dense_rea", DenseReaItem, "Dense Rea.", "understand"),
    TaskSpec("vqa", VQAItem, "VQA", "understand"),
    TaskSpec("qa", QAItem, "QA", "understand"),
    TaskSpec("pure_gen", PureGenItem, "Pure Gen.", "generate"),
    TaskSpec("dense_gen", DenseGenItem, "Dense Gen.", "generate"),
    TaskSpec("rea_gen", ReaGenItem, "Rea. Gen.", "generate", source="rea"),
    TaskSpec("dense_rea_gen", DenseReaGenItem, "Dense Rea. Gen.", "generate", source="dense_rea"),
    # Table 5's benchmarks only (empty in a UnifyBench++ build).
    TaskSpec("vqa_choice", ChoiceItem, "VQA (choice)", "understand", table1=False),
    TaskSpec("qa_choice", ChoiceItem, "QA (choice)", "understand", table1=False),
)}

# Views of TASK_SPECS for code that needs one facet of it (all in TASK_SPECS order).
TASKS: dict[str, type] = {name: spec.item for name, spec in TASK_SPECS.items()}
TASK_TITLES: dict[str, str] = {name: spec.title for name, spec in TASK_SPECS.items()}
UNDERSTANDING_TASKS: tuple[str, ...] = tuple(n for n, s in TASK_SPECS.items() if s.capability == "understand")
GENERATION_TASKS: tuple[str, ...] = tuple(n for n, s in TASK_SPECS.items() if s.capability == "generate")
TABLE1_TASKS: tuple[str, ...] = tuple(n for n, s in TASK_SPECS.items() if s.table1)
#: Two-stage tasks: generation task -> the understanding task whose output is its prompt.
REASONING_SOURCES: dict[str, str] = {n: s.source for n, s in TASK_SPECS.items() if s.source}


def task_capability(task: str) -> str:
    """What a model must do to answer a task: `understand` or `generate` (a model lacking it gets "-")."""
    return TASK_SPECS[task].capability if task in TASK_SPECS else "generate"


def to_record(obj: Any) -> dict[str, Any]:
    """A plain dict in field order, ready for JSON."""
    return dataclasses.asdict(obj)


def from_record(cls: type, record: dict[str, Any]) -> Any:
    """Rebuild a dataclass from a record, rejecting unknown or missing fields and values of the wrong type."""
    if not isinstance(record, dict):
        raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(record).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(record) - set(names), key=str)
    missing = [n for n in names if n not in record]
    if unknown or missing:
        raise ValueError(f"{cls.__name__}: unknown fields {unknown}, missing fields {missing}")
    try:
        return _adapter(cls).validate_python(record)
    except ValidationError as error:
        first = error.errors()[0]
        raise ValueError(f"{cls.__name__}: {error_location(first['loc'])}: {first['msg']}") from None


def error_location(loc: tuple[int | str, ...]) -> str:
    """A pydantic error's place as one line: a key the file chose (a line break, "a.b") is quoted, names and indices are
    not, so an error message never spans lines."""
    return ".".join(str(part) if isinstance(part, int) or part.isidentifier() else repr(part) for part in loc)


@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def field_docs(cls: type) -> list[tuple[str, str, str]]:
    """(name, type, doc) for each field of a record class, for the dataset card."""
    return [(f.name, str(f.type), f.metadata.get("doc", "")) for f in dataclasses.fields(cls)]

def item_concept(item_id: str) -> str:
    """The concept an item belongs to: item ids are `<task>/<concept>/<NNN>` (concept ids hold no '/')."""
    return item_id.split("/")[1]
