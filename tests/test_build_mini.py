"""The bundled mini benchmark: determinism, seeds, content of the views, card and loader."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import unifybench_pp
from unifybench_pp import MINI_ANNOTATIONS, MINI_SOURCE, TASKS, SplitConfig


def file_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_same_inputs_and_seed_give_identical_bytes(tmp_path: Path, mini_build: Path) -> None:
    out = tmp_path / "again"
    unifybench_pp.build(MINI_SOURCE, MINI_ANNOTATIONS, out, SplitConfig(seed=0), quiet=True)
    first = file_hashes(out)
    unifybench_pp.build(MINI_SOURCE, MINI_ANNOTATIONS, out, SplitConfig(seed=0), quiet=True)  # rebuild in place
    assert file_hashes(out) == first
    assert file_hashes(mini_build) == first
    assert len(first) > 40
    assert [p.name for p in tmp_path.iterdir()] == ["again"], "temporary folders left behind"


def test_seed_changes_split_and_both_pass_leakage(tmp_path: Path, mini_build: Path) -> None:
    other = unifybench_pp.build(MINI_SOURCE, MINI_ANNOTATIONS, tmp_path / "s1", SplitConfig(seed=1), quiet=True)
    base = unifybench_pp.load(mini_build)
    moved = unifybench_pp.load(other.out)
    split0 = {p.id: p.split for p in base.extra_info}
    split1 = {p.id: p.split for p in moved.extra_info}
    assert split0.keys() == split1.keys()
    assert split0 != split1
    assert base.version != moved.version
    for bench in (base, moved):
        train = {p.text for p in bench.extra_info if p.split == "train"}
        held = {p.id for p in bench.extra_info if p.split == "heldout"}
        assert {i.extra_info_id for i in bench.tasks["rea"]} == held
        assert not {i.answer for i in bench.tasks["rea"]} & train
        train_images = {img for c in bench.concepts.values() for img in c.train_images}
        shown = {i.image for t in ("rec", "vqa") for i in bench.tasks[t]}
        assert not shown & train_images


def test_every_task_has_items_for_every_concept(mini_build: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    assert len(bench.concepts) >= 6
    assert "person" in {c.category for c in bench.concepts.values()}
    for task in TASKS:
        assert {i.concept for i in bench.tasks[task]} == set(bench.concepts), task


def test_held_out_fraction_per_concept(mini_build: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    for concept in bench.concepts:
        splits = [p.split for p in bench.extra_info if p.concept == concept]
        assert splits.count("heldout") == round(len(splits) * 0.5)


def test_recognition_items(mini_build: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    for concept in bench.concepts.values():
        items = bench.items("rec", [concept.id])
        positives = [i for i in items if i.polarity == "positive"]
        negatives = [i for i in items if i.polarity == "negative"]
        assert sorted(i.image for i in positives) == sorted(concept.test_images)
        assert all(i.answer == "Yes" for i in positives) and all(i.answer == "No" for i in negatives)
        own = set(concept.test_images) | set(concept.train_images)
        assert not {i.image for i in negatives} & own
        others = [i for i in negatives if i.negative_source == "other_concept"]
        distractors = [i for i in negatives if i.negative_source == "distractor"]
        assert len(others) == len(distractors) == len(positives)
        assert all(i.question == f"Is {concept.token} in this photo?" for i in items)
        for item in items:
            assert bench.image_path(item.image).is_file()


def test_rea_gen_resolved_prompt_substitutes_the_detail(mini_build: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    pairs = {p.id: p for p in bench.extra_info}
    for item in bench.tasks["rea_gen"]:
        pair = pairs[item.extra_info_id]
        assert pair.split == "heldout"
        assert item.placeholder in item.prompt and item.placeholder not in item.resolved_prompt
        assert item.resolved_prompt == item.prompt.replace(pair.placeholder, pair.detail)
    for item in bench.tasks["dense_rea_gen"]:
        assert item.detail in item.resolved_prompt
        assert " ".join(item.segments).replace(" ", "") == re.sub(r"[,;.\s]", "", item.resolved_prompt)


def test_manifest_hashes_every_source_file(mini_build: Path) -> None:
    manifest = json.loads((mini_build / "manifest.json").read_text())
    for rel, digest in manifest["sources"].items():
        if rel.startswith("annotations:"):
            assert hashlib.sha256(MINI_ANNOTATIONS.read_bytes()).hexdigest() == digest
        else:
            assert hashlib.sha256((MINI_SOURCE / rel).read_bytes()).hexdigest() == digest
    source_files = {p.relative_to(MINI_SOURCE).as_posix() for p in MINI_SOURCE.rglob("*") if p.is_file()}
    assert source_files == {k for k in manifest["sources"] if not k.startswith("annotations:")}
    stored = sorted(p.name for p in (mini_build / "images").iterdir())
    assert stored == sorted(name[len("images/"):] for name in manifest["image_origins"])
    for name in stored:
        assert name.split(".")[0] == hashlib.sha256((mini_build / "images" / name).read_bytes()).hexdigest()


def test_card_counts_match_the_files(mini_build: Path) -> None:
    card = (mini_build / "README.md").read_text()
    for task in TASKS:
        n = len(jsonl(mini_build / f"{task}.jsonl"))
        assert re.search(rf"`{task}\.jsonl` \| {n} \|", card), task
    assert "public domain" in card and "CC0" in card and "horizontal flip" in card
    assert "`resolved_prompt`" in card  # field documentation is generated
    splits = (mini_build / "SPLITS.md").read_text()
    assert "`<chelsea>` | pet | 3 | 2 |" in splits


def test_hf_round_trip(mini_build: Path, tmp_path: Path) -> None:
    import datasets

    bench = unifybench_pp.load(mini_build)
    dd = bench.to_hf()
    assert isinstance(dd, datasets.DatasetDict)
    assert set(dd) == set(TASKS) | {"concepts", "extra_info"}
    assert dd["vqa"].num_rows == len(bench.tasks["vqa"])
    dd.save_to_disk(str(tmp_path / "hf"))
    back = unifybench_pp.Benchmark.from_hf(datasets.load_from_disk(str(tmp_path / "hf")), bench.root, bench.manifest)
    assert back == bench

    files = bench.to_parquet(tmp_path / "parquet")
    assert len(files) == len(TASKS) + 2
    table = datasets.Dataset.from_parquet(str(tmp_path / "parquet" / "dense_gen.parquet"))
    assert table["segments"] == [i.segments for i in bench.tasks["dense_gen"]]
