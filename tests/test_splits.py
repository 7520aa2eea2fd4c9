"""The split manager against independent expectations: counts, determinism, stratification."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

import unifybench_pp
from unifybench_pp import SplitConfig
from unifybench_pp.splits import (
    draw_distractors,
    draw_other_concept_negatives,
    split_extra_info,
    split_reference_images,
)

from .synthetic_source import write_source


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 7, 10])
def test_held_out_count_and_both_sides_nonempty(n: int) -> None:
    labels = split_extra_info("bo", [None] * n, SplitConfig(seed=3, heldout_fraction=0.3))
    held = labels.count("heldout")
    if n < 2:
        assert held == 0
    else:
        assert held == min(n - 1, max(1, round(n * 0.3)))
        assert labels.count("train") >= 1


def test_explicit_labels_are_kept_and_counted() -> None:
    labels = split_extra_info("bo", ["heldout", None, None, "train", None, None], SplitConfig(seed=0))
    assert labels[0] == "heldout" and labels[3] == "train"
    assert labels.count("heldout") == 3


def test_split_is_deterministic_and_seed_dependent() -> None:
    draws = {tuple(split_extra_info("bo", [None] * 10, SplitConfig(seed=s))) for s in range(20)}
    assert len(draws) > 10
    assert split_extra_info("bo", [None] * 10, SplitConfig(seed=4)) == split_extra_info("bo", [None] * 10, SplitConfig(seed=4))


def test_held_out_pairs_are_uniform_over_positions() -> None:
    """Simulation: each of 4 pairs is held out in about half of 2000 seeds."""
    counts = Counter()
    for seed in range(2000):
        labels = split_extra_info("bo", [None] * 4, SplitConfig(seed=seed))
        counts.update(i for i, label in enumerate(labels) if label == "heldout")
    for i in range(4):
        assert abs(counts[i] / 2000 - 0.5) < 0.05


def test_reference_images_split_only_without_test_images() -> None:
    train = [Path(f"{i}.png") for i in range(10)]
    kept = split_reference_images("bo", train[:7], train[7:], SplitConfig())
    assert kept == (train[:7], train[7:])
    new_train, new_test = split_reference_images("bo", train, [], SplitConfig(seed=2))
    assert len(new_test) == 3 and sorted(new_train + new_test) == sorted(train)


def test_other_concept_negatives_are_stratified_by_category() -> None:
    pools = {"person": [f"p{i}" for i in range(20)], "pet": [f"a{i}" for i in range(3)], "object": [f"o{i}" for i in range(20)]}
    drawn = draw_other_concept_negatives("bo", pools, 9, SplitConfig())
    per = Counter(x[0] for x in drawn)
    assert per == {"p": 3, "a": 3, "o": 3}
    drawn = draw_other_concept_negatives("bo", pools, 15, SplitConfig())
    per = Counter(x[0] for x in drawn)
    assert per["a"] == 3 and per["p"] == 6 and per["o"] == 6  # pets run out, the others share the rest
    assert len(set(drawn)) == 15
    assert len(draw_other_concept_negatives("bo", pools, 100, SplitConfig())) == 43


def test_distractors_capped_by_pool() -> None:
    assert sorted(draw_distractors("bo", list(range(5)), 9, SplitConfig())) == list(range(5))
    assert len(set(draw_distractors("bo", list(range(50)), 9, SplitConfig()))) == 9


def test_bad_split_config() -> None:
    with pytest.raises(ValueError):
        SplitConfig(heldout_fraction=1.0)
    with pytest.raises(ValueError):
        SplitConfig(other_concept_negatives=-1)


def test_adding_a_concept_keeps_other_concepts_splits(tmp_path: Path) -> None:
    source, annotations, _ = write_source(tmp_path / "src", 6)
    first = unifybench_pp.build(source, annotations, tmp_path / "a", SplitConfig(seed=9), quiet=True)
    names = json.loads((source / "concepts_list.json").read_text())
    (source / "concepts_list.json").write_text(json.dumps(names[:4]))
    # The annotation file still names the dropped concepts, so give the smaller source its own.
    data = json.loads(annotations.read_text())
    data["concepts"] = {k: v for k, v in data["concepts"].items() if k in names[:4]}
    annotations.write_text(json.dumps(data))
    unifybench_pp.build(source, annotations, tmp_path / "b", SplitConfig(seed=9), quiet=True)
    a = unifybench_pp.load(first.out)
    b = unifybench_pp.load(tmp_path / "b")
    split_a = {p.id: p.split for p in a.extra_info}
    split_b = {p.id: p.split for p in b.extra_info}
    assert split_b and all(split_a[k] == v for k, v in split_b.items())
