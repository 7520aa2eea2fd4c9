"""Rule-based scoring under the two protocols: recognition replies, character BLEU, judge replies.

`syncr1` (the default) is the public Sync-R1 harness rule for rule, so a
number compares with the paper's Table 1. `strict` fixes what the harness
gets wrong: a reply saying both yes and no is wrong; a judge reply that is not
one of the allowed scores is a recorded failure, never a 0. Results record
their protocol and tables never mix the two.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

Protocol = Literal["syncr1", "strict"]
PROTOCOLS: tuple[str, ...] = ("syncr1", "strict")

_YES = re.compile(r"\byes\b", re.IGNORECASE)
_NO = re.compile(r"\bno\b", re.IGNORECASE)
_YES_WORDS = {"yes", "yeah", "yep", "yup", "correct", "affirmative", "indeed", "true"}
_NO_WORDS = {"no", "nope", "not", "negative", "false", "nah"}
_REFUSAL = re.compile(
    r"\b(can ?not|can't|cannot|unable to|not sure|unsure|don't know|do not know|hard to (say|tell)|"
    r"impossible to|sorry|as an ai)\b",
    re.IGNORECASE,
)
_FIRST_NUMBER = re.compile(r"(-?\d+(?:\.\d+)?)")
_EXACT_SCORE = re.compile(r"\s*(0|1|0?\.5)(?:\.0+|0*)?\s*\.?\s*")


def parse_yes_no(text: str) -> Literal["yes", "no"] | None:
    """The answer a yes/no reply gives, or None when it gives none (refusals, hedges, both words).

    The first word decides ("Yes, <bo> is on the left", "Not in this photo");
    otherwise a reply that uses exactly one of yes / no as a word decides.
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


def rec_correct(prediction: str, positive: bool, protocol: Protocol) -> bool:
    """`syncr1`: a positive is recalled when "yes" occurs as a word, a negative when "no" does (so a
    reply with both counts right either way); `strict`: the parsed answer must match."""
    if protocol == "syncr1":
        return bool((_YES if positive else _NO).search(prediction))
    return parse_yes_no(prediction) == ("yes" if positive else "no")


def rec_weight(correct: Sequence[bool], positive: Sequence[bool], protocol: Protocol) -> float:
    """One concept's weighted recall: (positive recall + negative recall) / 2.

    `syncr1`: a class without items counts as recall 0 (a concept without
    negatives is halved, as the harness does); `strict`: it is left out.
    """
    recalls = []
    for polarity in (True, False):
        hits = [c for c, p in zip(correct, positive, strict=True) if p == polarity]
        if hits:
            recalls.append(sum(hits) / len(hits))
        elif protocol == "syncr1":
            recalls.append(0.0)
    if not recalls:
        raise ValueError("rec_weight needs at least one item")
    return sum(recalls) / (2 if protocol == "syncr1" else len(recalls))


def bleu(reference: str, candidate: str) -> float:
    """The harness's BLEU: nltk sentence BLEU over characters, weights (0.7, 0.3), smoothing method1."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    return float(sentence_bleu([list(reference)], list(candidate), weights=(0.7, 0.3),
                               smoothing_function=SmoothingFunction().method1))


def judge_score(reply: str, protocol: Protocol, allowed: tuple[float, ...] = (0.0, 0.5, 1.0)) -> float | None:
    """A judge reply as a score.

    `syncr1`: the first number in the reply, clipped to [0, 1]; no number
    gives 0 (the harness's default). `strict`: the reply must be exactly one
    of `allowed` (a trailing full stop is tolerated); anything else is None,
    a recorded failure.
    """
    if protocol == "syncr1":
        match = _FIRST_NUMBER.search(reply)
        return min(1.0, max(0.0, float(match.group(1)))) if match else 0.0
    match = _EXACT_SCORE.fullmatch(reply)
    if not match:
        return None
    value = float(match.group(1))
    return value if value in allowed else None


_LEADING_LETTER = re.compile(r"^\s*(?:\(([A-Z])\)|([A-Z])(?:[.):,]|\s*$))")


def choice_mentions(reply: str, options: Sequence[str], answer: str) -> bool:
    """Yo'LLaVA's rule (Yo'Chameleon `baselines/chameleon-qa.py`): the correct option's text occurs in the
    reply, case-insensitively (a reply naming both options counts as right)."""
    return options[ord(answer) - ord("A")].lower() in reply.lower()


def exact_reply(reply: str, answer: str) -> bool:
    """MC-LLaVA's rule (`eval/eval.py`), for its letters and its Yes / No alike: the reply is the expected answer
    itself (surrounding spaces aside)."""
    return reply.strip() == answer


def parse_choice(reply: str, options: Sequence[str]) -> str | None:
    """The option a reply picks, or None: a leading letter among the option letters, alone or marked ("B",
    "(B)", "B. Grey"; not the article in "A cat"), else the one option whose text the reply names (as a word);
    naming several, or none, picks nothing. Without listed options (MC-LLaVA writes them into the question)
    any letter A-Z counts."""
    valid = [chr(ord("A") + k) for k in range(len(options) or 26)]
    match = _LEADING_LETTER.match(reply)
    letter = match and (match.group(1) or match.group(2))
    if letter in valid:
        return letter
    named = [chr(ord("A") + k) for k, text in enumerate(options)
             if re.search(rf"(?<!\w){re.escape(text.lower())}(?!\w)", reply.lower())]
    return named[0] if len(named) == 1 else None


def judge_unparseable(reply: str) -> bool:
    """Whether the reply holds no number at all (the harness then scores 0 and prints a warning)."""
    return _FIRST_NUMBER.search(reply) is None
