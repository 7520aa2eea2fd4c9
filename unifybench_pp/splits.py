"""Split manager: seeded, order-independent splits and the leakage check.

Every random choice draws from a generator seeded by (seed, concept, purpose),
so adding a concept or reordering the source never changes another concept's
split, and the same inputs and seed always give the same benchmark.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .errors import SourceError
from .schema import CATEGORIES, Concept, ExtraInfo

T = TypeVar("T")


@dataclass(frozen=True)
class SplitConfig:
    seed: int = 0
    heldout_fraction: float = 0.5
    """Share of a concept's unassigned extra_info pairs held out for Rea. / Rea. Gen."""
    test_fraction: float = 0.3
    """Share of reference images moved to test, for concepts whose source has no test images."""
    other_concept_negatives: int = 1
    """Rec. negatives from other concepts' test photos, per positive."""
    distractor_negatives: int = 1
    """Rec. negatives from the distractor pool (`random_images/`), per positive."""

    def __post_init__(self) -> None:
        for name in ("heldout_fraction", "test_fraction"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie strictly between 0 and 1")
        if self.other_concept_negatives < 0 or self.distractor_negatives < 0:
            raise ValueError("negatives per positive cannot be negative")


def rng_for(seed: int, concept: str, purpose: str) -> random.Random:
    # String seeds are hashed with SHA-512 by `random`, independent of PYTHONHASHSEED.
    return random.Random(f"ubpp:{seed}:{concept}:{purpose}")


def _held_out_count(total: int, fraction: float) -> int:
    if total < 2:
        return 0
    return min(total - 1, max(1, round(total * fraction)))


def split_extra_info(concept: str, explicit: Sequence[str | None], config: SplitConfig) -> list[str]:
    """Label each pair train/heldout; explicit labels are kept, the rest are drawn.

    With two or more pairs both sides get at least one, so every concept has
    something to train on and something to test.
    """
    labels = list(explicit)
    free = [i for i, label in enumerate(labels) if label is None]
    want_held = _held_out_count(len(labels), config.heldout_fraction) - labels.count("heldout")
    want_held = max(0, min(want_held, len(free) - (0 if "train" in labels else 1)))
    held = set(rng_for(config.seed, concept, "extra_info").sample(free, want_held))
    return [label or ("heldout" if i in held else "train") for i, label in enumerate(labels)]


def split_reference_images(
    concept: str, train: Sequence[Path], test: Sequence[Path], config: SplitConfig
) -> tuple[list[Path], list[Path]]:
    """Keep the source's train/test split; draw one only where the source has no test images."""
    if test or len(train) < 2:
        return list(train), list(test)
    n_test = min(len(train) - 1, max(1, round(len(train) * config.test_fraction)))
    chosen = set(rng_for(config.seed, concept, "test_images").sample(range(len(train)), n_test))
    return (
        [p for i, p in enumerate(train) if i not in chosen],
        [p for i, p in enumerate(train) if i in chosen],
    )


def draw_other_concept_negatives(
    concept: str, pools: dict[str, list[T]], count: int, config: SplitConfig
) -> list[T]:
    """Draw negatives round-robin over categories (stratified), shuffled within each category.

    `pools` maps category -> candidates from concepts other than `concept`.
    """
    rng = rng_for(config.seed, concept, "negatives")
    queues = {}
    for category in CATEGORIES:
        pool = list(pools.get(category, []))
        rng.shuffle(pool)
        queues[category] = pool
    drawn: list[T] = []
    while len(drawn) < count and any(queues.values()):
        for category in CATEGORIES:
            if queues[category] and len(drawn) < count:
                drawn.append(queues[category].pop())
    return drawn


def draw_distractors(concept: str, pool: Sequence[T], count: int, config: SplitConfig) -> list[T]:
    rng = rng_for(config.seed, concept, "distractors")
    return rng.sample(list(pool), min(count, len(pool)))


def _normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text.casefold()).strip(" .!?")


def check_leakage(
    concepts: Sequence[Concept],
    extra_info: Sequence[ExtraInfo],
    evaluated_images: dict[str, str],
    annotations_file: str,
    image_origins: dict[str, list[str]],
) -> None:
    """Fail the build if anything held out for evaluation is visible to training.

    Train views are the concepts' train images and the train extra_info pairs.
    `evaluated_images` maps every image an evaluation item shows (test images,
    Rec. and VQA images) to the item that shows it.
    """
    train_text: dict[str, ExtraInfo] = {}
    for pair in extra_info:
        if pair.split == "train":
            train_text.setdefault(_normalized(pair.text), pair)
            train_text.setdefault(_normalized(pair.reasoning_prompt), pair)
    for pair in extra_info:
        if pair.split != "heldout":
            continue
        for what, text in (("text", pair.text), ("reasoning prompt", pair.reasoning_prompt)):
            twin = train_text.get(_normalized(text))
            if twin is not None:
                raise SourceError(
                    annotations_file, pair.id,
                    f"held-out leak: the {what} of held-out pair {pair.id} also appears in train pair {twin.id}",
                    "make the held-out pair's text and prompt unique, or mark both pairs the same split",
                )
    train_images = {image: c.id for c in concepts for image in c.train_images}
    for image, item in sorted(evaluated_images.items()):
        if image in train_images:
            sources = ", ".join(image_origins.get(image, [image]))
            raise SourceError(
                sources, item,
                f"held-out leak: an evaluation image is also a training image of concept {train_images[image]}",
                "remove the duplicate photo from the training images",
            )
