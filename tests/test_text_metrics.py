"""Rule-based metrics under both protocols, against independent computations and hand-made cases."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from evaluators.text_metrics import bleu, judge_score, parse_yes_no, rec_correct, rec_weight
from unifybench_pp.prompts import clauses

PAIRS = [
    ("the cat sat on the mat", "the cat is on the mat"),
    ("Her suit is orange.", "The suit is orange"),
    ("<ast>'s favourite pet is a grey parrot named Apollo.", "Her favourite pet is a parrot."),
    ("A red saucer on a wooden table.", "completely unrelated words here"),
    ("Green.", "green"),
]


def char_bleu_by_hand(reference: str, candidate: str) -> float:
    """Character BLEU with weights (0.7, 0.3) and smoothing method1 (epsilon 0.1 for zero counts)."""
    log_sum = 0.0
    for n, weight in ((1, 0.7), (2, 0.3)):
        cand = Counter(tuple(candidate[i : i + n]) for i in range(len(candidate) - n + 1))
        ref = Counter(tuple(reference[i : i + n]) for i in range(len(reference) - n + 1))
        clipped = sum(min(count, ref[g]) for g, count in cand.items())
        total = max(1, sum(cand.values()))
        log_sum += weight * math.log((clipped or 0.1) / total)
    c, r = len(candidate), len(reference)
    brevity = 1.0 if c > r else math.exp(1 - r / c)
    return brevity * math.exp(log_sum)


@pytest.mark.parametrize(("reference", "candidate"), PAIRS)
def test_bleu_matches_nltk_and_a_hand_computation(reference: str, candidate: str) -> None:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    expected = sentence_bleu([list(reference)], list(candidate), weights=(0.7, 0.3),
                             smoothing_function=SmoothingFunction().method1)
    assert bleu(reference, candidate) == pytest.approx(expected, abs=1e-12)
    assert bleu(reference, candidate) == pytest.approx(char_bleu_by_hand(reference, candidate), rel=1e-9)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes", "yes"), ("yes.", "yes"), ("Yes, <bo> is in the photo on the left.", "yes"),
        ("No.", "no"), ("no", "no"), ("Nope, that is a different dog.", "no"),
        ("Not in this photo.", "no"), ("  YES!", "yes"), ("I think yes.", "yes"),
        ("I'm sorry, I cannot determine that.", None), ("I am not sure.", None),
        ("The photo shows a cat.", None), ("", None), ("Yes and no.", None),
        ("There is no <bo> here.", "no"), ("Yesterday I saw it.", None),
    ],
)
def test_strict_yes_no_parser(text: str, expected: str | None) -> None:
    assert parse_yes_no(text) == expected


@pytest.mark.parametrize(("reply", "positive", "syncr1", "strict"), [
    ("Yes.", True, True, True),
    ("No, that is another dog.", False, True, True),
    ("Yes and no: it looks like it, but no.", True, True, False),   # both words: right under syncr1, wrong strict
    ("Yes and no: it looks like it, but no.", False, True, False),
    ("Yesterday I saw it.", True, False, False),                      # word boundaries, not substrings
    ("I do not know", False, False, False),                           # "not" is no "no" for the harness either
    ("NO", False, True, True),
    ("I cannot tell, sorry.", False, False, False),
])
def test_recognition_rule_per_protocol(reply: str, positive: bool, syncr1: bool, strict: bool) -> None:
    assert rec_correct(reply, positive, "syncr1") is syncr1
    assert rec_correct(reply, positive, "strict") is strict


def test_weighted_recall_hand_cases() -> None:
    # 3 positives with 2 right, 1 negative right: (2/3 + 1) / 2 under both protocols
    for protocol in ("syncr1", "strict"):
        assert rec_weight([True, True, False, True], [True, True, True, False], protocol) == pytest.approx(5 / 6)
    # A concept without negatives: the harness counts their recall as 0 and halves; strict does not.
    assert rec_weight([True, False], [True, True], "syncr1") == pytest.approx(0.25)
    assert rec_weight([True, False], [True, True], "strict") == pytest.approx(0.5)
    assert rec_weight([True], [False], "syncr1") == pytest.approx(0.5)
    with pytest.raises(ValueError):
        rec_weight([], [], "strict")


@pytest.mark.parametrize(("reply", "syncr1", "strict"), [
    ("1", 1.0, 1.0), ("0.5", 0.5, 0.5), ("0", 0.0, 0.0), ("1.0", 1.0, 1.0), (" 0.5. ", 0.5, 0.5),
    ("Score: 1", 1.0, None),          # the harness takes the first number; strict wants the score alone
    ("I would say 0.5 or 1", 0.5, None),
    ("Not relevant.", 0.0, None),     # not a number: 0 for the harness, a recorded failure under strict
    ("", 0.0, None),
    ("2", 1.0, None),                 # clipped to 1 by the harness; not an allowed score
    ("0.7", 0.7, None),
    ("-1", 0.0, None),
])
def test_judge_reply_parsing(reply: str, syncr1: float, strict: float | None) -> None:
    assert judge_score(reply, "syncr1") == syncr1
    assert judge_score(reply, "strict") == strict


def test_binary_judge_reply_under_strict_allows_only_0_and_1() -> None:
    assert judge_score("1", "strict", allowed=(0.0, 1.0)) == 1.0
    assert judge_score("0.5", "strict", allowed=(0.0, 1.0)) is None


@pytest.mark.parametrize(("prompt", "expected"), [
    ("A photo of <bo> on a beach, holding a red kite; two gulls fly overhead.",
     ["A photo of <bo> on a beach", "holding a red kite; two gulls fly overhead."]),   # commas only, as the harness
    ("A photo of <bo>, , with 1,000 balloons", ["A photo of <bo>", "with 1", "000 balloons"]),
    ("no punctuation at all", ["no punctuation at all"]),
])
def test_clauses_split_on_commas(prompt: str, expected: list[str]) -> None:
    assert clauses(prompt) == expected
