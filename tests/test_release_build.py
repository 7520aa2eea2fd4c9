"""The nine tasks built from a release-layout fixture, checked against values written out by hand.

How the expected values were derived: from the public Sync-R1 harness's task
builders (`evaluation/tasks.py`, `common.py`), read rule by rule — test_data
items filtered by type in file order with "<image>\\n" removed and stripped;
Rea. over the last num_testing_info entries; Dense Rea. over every implicit
dense prompt; Pure Gen. over the 25 templates of the concept's
generation_type with the class noun as CLIP-T text; clauses split on commas;
the CLIP-I reference the first test image in name order. The harness's own
builders were also run on this fixture during development and agreed with
every prompt, reference, image and count below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import unifybench_pp
from bench.release_fixture import CONCEPTS
from unifybench_pp import SplitConfig


@pytest.fixture()
def bench(release: Path, tmp_path: Path) -> unifybench_pp.Benchmark:
    return unifybench_pp.load(unifybench_pp.build(release, tmp_path / "out", SplitConfig(), quiet=True).out)


def test_item_counts(bench: unifybench_pp.Benchmark) -> None:
    counts = {task: len(items) for task, items in bench.tasks.items()}
    # rec: 3 per concept in test_data; rea: num_testing_info 1 + 2 + 1; dense: 1 per concept; pure_gen 25 each;
    # the multiple-choice tasks belong to Table 5's benchmarks only.
    assert counts == {"rec": 9, "rea": 4, "dense_rea": 3, "vqa": 3, "qa": 3, "pure_gen": 75, "dense_gen": 6,
                      "rea_gen": 4, "dense_rea_gen": 3, "vqa_choice": 0, "qa_choice": 0}


def test_concepts(bench: unifybench_pp.Benchmark, release: Path) -> None:
    assert sorted(bench.concepts) == ["ada", "mug", "rex"]
    ada, rex, mug = bench.concepts["ada"], bench.concepts["rex"], bench.concepts["mug"]
    assert (ada.category, ada.generation_type, ada.class_noun) == ("person", "live_subject", "woman")
    assert (rex.category, rex.generation_type) == ("pet", "live_subject")
    assert (mug.category, mug.generation_type) == ("object", "object")
    assert ada.token == "<ada>" and ada.extra_info == CONCEPTS["ada"]["extra_info"]
    # "10.png" < "2.png" as names: the first test image (CLIP-I reference) is 10.png.
    first = bench.image_path(ada.test_images[0]).read_bytes()
    assert first == (release / "concept/test/ada/10.png").read_bytes()


def test_recognition(bench: unifybench_pp.Benchmark) -> None:
    items = bench.items("rec", ["rex"])
    assert [i.id for i in items] == ["rec/rex/000", "rec/rex/001", "rec/rex/002"]
    assert [i.question for i in items] == ["Is <rex> in this image?"] * 3  # "<image>\n " removed, stripped
    assert [i.polarity for i in items] == ["positive", "negative", "positive"]  # "No, it is not." -> negative
    assert [i.answer for i in items] == ["Yes.", "No, it is not.", "yes"]


def test_vqa_and_qa(bench: unifybench_pp.Benchmark) -> None:
    (vqa,) = bench.items("vqa", ["mug"])
    assert (vqa.question, vqa.answer) == ("What colour is <mug>?", "Brown.")
    (qa,) = bench.items("qa", ["mug"])
    assert (qa.question, qa.answer) == ("What is <mug>?", "<mug> is a white ceramic mug.")
    assert bench.image_path(qa.image).read_bytes() == (bench.root / bench.item("rea", "rea/mug/000").image).read_bytes()


def test_rea_is_the_harness_rewrite_instruction_on_the_held_out_entries(bench: unifybench_pp.Benchmark) -> None:
    items = bench.items("rea", ["rex"])
    assert [i.extra_info_id for i in items] == ["rex-x1", "rex-x2"]  # num_testing_info = 2: the last two
    assert items[0].implicit_prompt == "A photo of <rex> with his toy."
    assert items[0].answer == "A photo of <rex> with a red ball."
    # The entries are listed as Python prints a list: double quotes around the one with an apostrophe.
    assert items[0].question == (
        "Below is some information about <rex> : [\"<rex>'s bed is a blue cushion.\", '<rex> loves a red ball.', "
        "'<rex> wears a green collar.']\n"
        "Please rewrite the following prompt into a more detailed prompt: A photo of <rex> with his toy.\n"
        "If the prompt relates to a specific item from the aforementioned information list,\n"
        "add only the relevant detail from that item into the rewritten prompt.\n"
        "If the prompt does not relate to any item in the list,\n"
        "return the original prompt unchanged.\n"
        "Output only the rewritten prompt.")


def test_dense_rea_and_its_generation_task(bench: unifybench_pp.Benchmark) -> None:
    (dense,) = bench.items("dense_rea", ["ada"])
    assert dense.implicit_prompt == "A photo of <ada> in a kitchen, next to a window, at dusk"
    assert dense.answer == "A photo of <ada> in a kitchen, next to a window, with a lamp, at dusk"
    assert dense.question.endswith(
        "Please rewrite the following prompt into a more detailed prompt: "
        "A photo of <ada> in a kitchen, next to a window, at dusk\n"
        "Use the useful details from one or more relevant items in the aforementioned information list to make the "
        "rewritten prompt more detailed.\nIf none of the information is helpful for this prompt,\n"
        "return the original prompt unchanged.\nOutput only the rewritten prompt.")
    (gen,) = bench.items("dense_rea_gen", ["ada"])
    assert gen.source_item == dense.id
    assert gen.clauses == ["A photo of <ada> in a kitchen", "next to a window", "with a lamp", "at dusk"]


def test_pure_gen_templates(bench: unifybench_pp.Benchmark) -> None:
    ada = bench.items("pure_gen", ["ada"])
    mug = bench.items("pure_gen", ["mug"])
    assert (ada[0].prompt, ada[0].clip_text) == ("a <ada> in the jungle", "a woman in the jungle")
    assert (ada[10].prompt, mug[10].prompt) == ("a <ada> wearing a red hat",
                                                "a <mug> with a wheat field in the background")
    assert (ada[24].clip_text, mug[24].clip_text) == ("a cube shaped woman", "a cube shaped cup")


def test_dense_gen_clauses_keep_the_token(bench: unifybench_pp.Benchmark) -> None:
    items = bench.items("dense_gen", ["rex"])
    assert [i.clauses for i in items] == [["A photo of <rex> in a park", "under a tree", "at noon"],
                                          ["<rex> on a boat", "with a hat", "at sea"]]


def test_rea_gen_points_at_its_rea_item(bench: unifybench_pp.Benchmark) -> None:
    items = bench.items("rea_gen", ["ada"])
    assert [(i.id, i.source_item, i.explicit_prompt) for i in items] == [
        ("rea_gen/ada/000", "rea/ada/000", "A photo of <ada> holding a silver coin.")]


def test_training_entries_are_the_rest(bench: unifybench_pp.Benchmark) -> None:
    splits = {e.id: e.split for e in bench.extra_info}
    assert splits == {"ada-x0": "train", "ada-x1": "train", "ada-x2": "heldout", "mug-x0": "train",
                      "mug-x1": "heldout", "rex-x0": "train", "rex-x1": "heldout", "rex-x2": "heldout"}


def test_seeded_split_draws_the_same_number_per_concept(release: Path, tmp_path: Path) -> None:
    sizes = {}
    for seed in range(6):
        bench = unifybench_pp.load(unifybench_pp.build(release, tmp_path / f"s{seed}", SplitConfig(seed=seed),
                                                       quiet=True).out)
        held = [e for e in bench.extra_info if e.split == "heldout"]
        sizes[seed] = sorted(e.id for e in held)
        assert {c: sum(e.concept == c for e in held) for c in bench.concepts} == {"ada": 1, "rex": 2, "mug": 1}
        assert sorted(i.extra_info_id for i in bench.tasks["rea"]) == sizes[seed]
    assert len({tuple(v) for v in sizes.values()}) > 1, "the seed never changed the held-out set"
