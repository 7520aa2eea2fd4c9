"""Split manager: which extra_info entries are held out, and the leakage check.

The default is the release's split: the last `num_testing_info` entries of
each concept's extra_info (and of its implicit / explicit prompts) are held
out for Rea. and Rea. Gen.; the others are training data. `seed` draws an
alternative held-out set of the same size per concept (sensitivity studies)
from a generator seeded by (seed, concept), so adding a concept never changes
another concept's split.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .errors import SourceError
from .schema import Concept, ExtraInfo


@dataclass(frozen=True)
class SplitConfig:
    seed: int | None = None
    """None: the release's split (the last num_testing_info entries); N: a seeded draw of the same size."""


def heldout_positions(concept: str, total: int, n_heldout: int, config: SplitConfig) -> list[int]:
    """Positions (sorted) of the held-out extra_info entries of one concept."""
    if config.seed is None:
        return list(range(total - n_heldout, total))
    rng = random.Random(f"ubpp:{config.seed}:{concept}:extra_info")  # str seeds hash with SHA-512: stable
    return sorted(rng.sample(range(total), n_heldout))


def _normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text.casefold()).strip(" .!?")


@dataclass(frozen=True)
class ModelInput:
    """One text a model receives, for the leakage check: which item, and in which task."""

    task: str
    item: str
    text: str


#: Held-out field -> tasks whose inputs may carry it by the benchmark's own definition
#: (Rea. and Dense Rea. list every extra_info entry; Rea. rewrites the implicit prompt, which is also
#: Rea. Gen.'s input for a model that cannot understand).
ALLOWED_CARRIERS: dict[str, tuple[str, ...]] = {
    "text": ("rea", "dense_rea"),
    "implicit prompt": ("rea", "rea_gen"),
    "explicit prompt": (),
}


class _InputIndex:
    """The model inputs, normalized once, with an index of their words, so finding the inputs that contain a text
    looks only at those holding its rarest inner word (the build stays linear in concepts: a concept's texts
    name its token, which no other concept's inputs hold)."""

    def __init__(self, inputs: Iterable[ModelInput]) -> None:
        self.inputs = [(i, _normalized(i.text)) for i in inputs]
        self.by_word: dict[str, list[int]] = {}
        for position, (_, text) in enumerate(self.inputs):
            for word in set(text.split(" ")):
                self.by_word.setdefault(word, []).append(position)

    def containing(self, needle: str, allowed_tasks: tuple[str, ...]) -> Iterator[ModelInput]:
        """The inputs (in their order) outside `allowed_tasks` whose normalized text contains `needle`.

        Only a needle's inner words are whole words of any text that contains
        it (its first and last may be word parts); a needle of one or two
        words is looked for in every input.
        """
        inner = needle.split(" ")[1:-1]
        candidates = min((self.by_word.get(word, []) for word in inner), key=len) if inner \
            else range(len(self.inputs))
        for position in candidates:
            model_input, haystack = self.inputs[position]
            if model_input.task not in allowed_tasks and needle in haystack:
                yield model_input


def check_leakage(concepts: Sequence[Concept], extra_info: Sequence[ExtraInfo], inputs: Iterable[ModelInput],
                  evaluated_images: dict[str, str], image_origins: dict[str, list[str]]) -> None:
    """Fail the build if anything held out reaches training or a task that must not see it.

    Training views are the train extra_info entries (text, implicit and
    explicit prompts) and the concepts' training images. A held-out entry's
    text, implicit or explicit prompt must equal no training text and occur in
    no model input outside ALLOWED_CARRIERS; no evaluation image
    (`evaluated_images`: stored name -> item) may be a training image.
    """
    train_text: dict[str, ExtraInfo] = {}
    for entry in extra_info:
        if entry.split == "train":
            for text in (entry.text, entry.implicit_prompt, entry.explicit_prompt):
                train_text.setdefault(_normalized(text), entry)
    index = _InputIndex(inputs)
    for entry in (e for e in extra_info if e.split == "heldout"):
        fields = {"text": entry.text, "implicit prompt": entry.implicit_prompt,
                  "explicit prompt": entry.explicit_prompt}
        for what, text in fields.items():
            needle = _normalized(text)
            if not needle:  # punctuation only ("..."): it holds nothing to leak, and is a part of every text
                continue
            twin = train_text.get(needle)
            if twin is not None:
                raise SourceError(f"concept/train/{entry.concept}/info.json", entry.id,
                                  f"held-out leak: the {what} of held-out entry {entry.id} is also training entry "
                                  f"{twin.id}", "make held-out entries and their prompts unique")
            leak = next(index.containing(needle, ALLOWED_CARRIERS[what]), None)
            if leak is not None:
                raise SourceError(f"concept/test/{entry.concept}", leak.item,
                                  f"held-out leak: the {what} of held-out entry {entry.id} appears in the input "
                                  f"of {leak.task} item {leak.item}", "remove it from that prompt or question")
    train_images = {image: c.id for c in concepts for image in c.train_images}
    for image, item in sorted(evaluated_images.items()):
        if image in train_images:
            raise SourceError(", ".join(image_origins.get(image, [image])), item,
                              f"held-out leak: an evaluation image is also a training image of concept "
                              f"{train_images[image]}", "remove the duplicate photo from the training images")
