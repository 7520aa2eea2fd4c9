"""Text metrics against independent computations: nltk, the sacrebleu CLI, hand-made cases."""

from __future__ import annotations

import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from evaluators.text_metrics import (
    bleu_strict,
    bleu_unictokens,
    parse_yes_no,
    rec_correct_unictokens,
    rec_item_score,
    rec_weight,
)
from unifybench_pp.segments import split_segments

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
def test_unictokens_bleu_matches_nltk_and_a_hand_computation(reference: str, candidate: str) -> None:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    expected = sentence_bleu([list(reference)], list(candidate), weights=(0.7, 0.3),
                             smoothing_function=SmoothingFunction().method1)
    assert bleu_unictokens(reference, candidate) == pytest.approx(expected, abs=1e-12)
    assert bleu_unictokens(reference, candidate) == pytest.approx(char_bleu_by_hand(reference, candidate), rel=1e-9)


def test_strict_bleu_matches_the_sacrebleu_command_line(tmp_path: Path) -> None:
    (tmp_path / "ref.txt").write_text("\n".join(r for r, _ in PAIRS) + "\n")
    (tmp_path / "hyp.txt").write_text("\n".join(c for _, c in PAIRS) + "\n")
    cli = Path(sys.executable).with_name("sacrebleu")
    out = subprocess.run([str(cli), str(tmp_path / "ref.txt"), "-i", str(tmp_path / "hyp.txt"), "-sl", "-b", "-w", "6"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert len(out) == len(PAIRS)
    for (reference, candidate), expected in zip(PAIRS, out):
        assert bleu_strict(reference, candidate) == pytest.approx(float(expected) / 100, abs=1e-8)
    assert bleu_strict("Green.", "Green.") == pytest.approx(1.0)


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


def test_unictokens_rule_is_a_substring_test() -> None:
    assert rec_correct_unictokens("Yesterday", positive=True)  # the authors' rule, quirks included
    assert rec_correct_unictokens("I do not know", positive=False)
    assert not rec_correct_unictokens("Nope", positive=True)
    assert rec_item_score("Yesterday", True, "strict").correct is False
    assert rec_item_score("I cannot tell", False, "strict").parsed is None


def test_weighted_accuracy_hand_cases() -> None:
    # 3 positives with 2 right, 1 negative right: (2/3 + 1) / 2
    assert rec_weight([True, True, False, True], [True, True, True, False]) == pytest.approx(5 / 6)
    # always-yes on a balanced set gets exactly 0.5, whatever the class sizes
    positive = [True] * 2 + [False] * 6
    always_yes = [p for p in positive]
    assert rec_weight(always_yes, positive) == pytest.approx(0.5)
    assert rec_weight([True, False], [True, True]) == pytest.approx(0.5)  # one class only: its accuracy
    with pytest.raises(ValueError):
        rec_weight([], [])


@pytest.mark.parametrize(
    ("prompt", "segments"),
    [
        ("A photo of <bo> on a beach, holding a red kite; two gulls fly overhead.",
         ["A photo of <bo> on a beach", "holding a red kite", "two gulls fly overhead"]),
        ("A photo of <bo> 3.5 metres tall, with 1,000 balloons, next to Dr. Smith.",
         ["A photo of <bo> 3.5 metres tall", "with 1,000 balloons", "next to Dr. Smith"]),
        ("A photo of <bo>, , with e.g. a hat.", ["A photo of <bo>", "with e.g. a hat"]),
        ("<bo> runs. It rains! Birds sing", ["<bo> runs", "It rains", "Birds sing"]),
        ("A photo of <bo> and a cat, in 2024.", ["A photo of <bo> and a cat", "in 2024"]),
        ("no punctuation at all", ["no punctuation at all"]),
    ],
)
def test_dense_segmentation(prompt: str, segments: list[str]) -> None:
    assert split_segments(prompt) == segments
