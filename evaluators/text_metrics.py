"""Text metrics under two protocols.

`unictokens` reproduces the authors' public evaluation code so numbers compare
with the paper; `strict` uses the better definitions. Results always record
which protocol produced them and tables never mix the two.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Protocol = Literal["unictokens", "strict"]
PROTOCOLS: tuple[str, ...] = ("unictokens", "strict")

_YES_WORDS = {"yes", "yeah", "yep", "yup", "correct", "affirmative", "indeed", "true"}
_NO_WORDS = {"no", "nope", "not", "negative", "false", "nah"}
_REFUSAL = re.compile(
    r"\b(can ?not|can't|cannot|unable to|not sure|unsure|don't know|do not know|hard to (say|tell)|"
    r"impossible to|sorry|as an ai)\b",
    re.IGNORECASE,
)


def parse_yes_no(text: str) -> Literal["yes", "no"] | None:
    """The answer a yes/no reply gives, or None when it gives none (refusals, hedges, off-topic).

    The first word decides ("Yes, <bo> is on the left" -> yes, "No." -> no,
    "Not in this photo" -> no); otherwise a reply that uses exactly one of the
    words yes / no as a word decides; refusals and replies using both words
    ("yes and no") decide nothing.
    """
    if _REFUSAL.search(text):
        return None
    words = re.findall(r"[a-z']+", text.lower())
    if not words or ("yes" in words and "no" in words):
        return None
    if words[0] in _YES_WORDS:
        return "yes"
    if words[0] in _NO_WORDS:
        return "no"
    if "yes" in words:
        return "yes"
    return "no" if "no" in words else None


def rec_correct_unictokens(prediction: str, positive: bool) -> bool:
    """The authors' rule: a positive is recalled if "yes" is a substring, a negative if "no" is."""
    return ("yes" if positive else "no") in prediction.lower()


@dataclass(frozen=True)
class RecItemScore:
    correct: bool
    parsed: str | None
    """`yes`/`no` under `strict`; None when unparseable (counted wrong)."""


def rec_item_score(prediction: str, positive: bool, protocol: Protocol) -> RecItemScore:
    if protocol == "unictokens":
        return RecItemScore(rec_correct_unictokens(prediction, positive), None)
    parsed = parse_yes_no(prediction)
    return RecItemScore(parsed == ("yes" if positive else "no"), parsed)


def rec_weight(correct: Sequence[bool], positive: Sequence[bool]) -> float:
    """Weighted accuracy: the mean of the accuracy on positives and the accuracy on negatives.

    A class with no items is left out of the mean, so an all-positive set gives its recall.
    """
    accuracies = []
    for polarity in (True, False):
        hits = [c for c, p in zip(correct, positive, strict=True) if p == polarity]
        if hits:
            accuracies.append(sum(hits) / len(hits))
    if not accuracies:
        raise ValueError("rec_weight needs at least one item")
    return sum(accuracies) / len(accuracies)


def bleu_unictokens(reference: str, candidate: str) -> float:
    """The authors' BLEU: nltk sentence BLEU over characters, weights (0.7, 0.3), smoothing method1."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    return float(
        sentence_bleu([list(reference)], list(candidate), weights=(0.7, 0.3),
                      smoothing_function=SmoothingFunction().method1)
    )


def bleu_strict(reference: str, candidate: str) -> float:
    """sacrebleu's sentence BLEU (13a tokenization, exp smoothing) on [0, 1]."""
    import sacrebleu

    return sacrebleu.sentence_bleu(candidate, [reference]).score / 100.0


def bleu(reference: str, candidate: str, protocol: Protocol) -> float:
    return bleu_unictokens(reference, candidate) if protocol == "unictokens" else bleu_strict(reference, candidate)
