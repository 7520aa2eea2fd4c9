"""What a reader of one of Table 5's benchmarks (DreamBench, Yo'LLaVA, MC-LLaVA) hands the builder.

Those releases have no extra_info, no reasoning tasks and no split to draw:
their readers build the task items themselves, as the benchmark's own
evaluation code forms them, with image fields still holding source paths;
the builder stores the images and writes the same on-disk form as
UnifyBench++.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SourceError
from .release import listed

#: The image a text-only question is given (the UnifyBench++ harness gives it with its text-only tasks).
TEXT_ONLY_IMAGE = Path(__file__).resolve().parents[1] / "mini" / "source" / "black_512x512.png"


@dataclass
class ForeignConcept:
    name: str
    class_noun: str
    category: str
    generation_type: str
    train_images: list[Path]
    test_images: list[Path]
    info: str = ""
    """Table 5's releases describe no concept in words and hold no extra_info (the builder reads both fields)."""
    extra_info: tuple[str, ...] = ()


@dataclass
class ForeignSource:
    format: str
    root: Path
    concepts: list[ForeignConcept]
    items: dict[str, list[Any]]
    """Task -> items; `image` fields hold source paths until the builder stores them."""
    files: list[Path]
    """Every non-image file read, for the manifest's hashes."""
    notes: list[str] = field(default_factory=list)
    """What the build could not take from the source (e.g. an absent optional file), for the manifest."""
    tests_on_training_photos: bool = False
    """The benchmark compares with the very photos a method trains on, by design (DreamBench): the builder's
    leak check does not apply. Any other format is checked, so a test folder copied from the training one fails."""


def subfolders(folder: Path) -> list[str]:
    return [p.name for p in listed(folder, str(folder)) if p.is_dir() and not p.name.startswith(".")] \
        if folder.is_dir() else []


def mapping(value: Any, file: str, where: str, what: str) -> dict:
    if not isinstance(value, dict):
        raise SourceError(file, where, f"expected an object of {what}", "fix the file's structure")
    return value
