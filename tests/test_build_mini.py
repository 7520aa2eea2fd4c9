"""The bundled mini benchmark: determinism, seeds, content of the views, card and loader."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import unifybench_pp
from unifybench_pp import MINI_SOURCE, TASKS, SplitConfig
from unifybench_pp.schema import TABLE1_TASKS


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
    unifybench_pp.build(MINI_SOURCE, out, SplitConfig(), quiet=True)
    first = file_hashes(out)
    unifybench_pp.build(MINI_SOURCE, out, SplitConfig(), quiet=True)  # rebuild in place
    assert file_hashes(out) == first
    assert file_hashes(mini_build) == first
    assert len(first) > 40
    assert [p.name for p in tmp_path.iterdir()] == ["again"], "temporary folders left behind"


def test_the_bundled_release_has_one_version_however_it_is_named(tmp_path: Path, mini_build: Path) -> None:
    """`ubpp build-dataset` (the default) and `--source <the bundled folder>` (as a copy's path, too) build the same
    files: one version, so their runs compare; another release under the same layout keeps `unifybench_pp`."""
    from typer.testing import CliRunner

    from cli import app

    default = CliRunner().invoke(app, ["build-dataset", "--out", str(tmp_path / "default"), "--quiet"])
    assert default.exit_code == 0, default.output
    version = unifybench_pp.load(tmp_path / "default").version
    assert version == unifybench_pp.load(mini_build).version and version.startswith("unifybench_pp-mini-")
    (tmp_path / "link").symlink_to(MINI_SOURCE)
    assert unifybench_pp.build(tmp_path / "link", tmp_path / "linked", quiet=True).manifest["version"] == version
    shutil.copytree(MINI_SOURCE, tmp_path / "copy")
    copied = unifybench_pp.build(tmp_path / "copy", tmp_path / "copied", quiet=True).manifest["version"]
    assert copied.startswith("unifybench_pp-2.") and copied.split("-")[-1] == version.split("-")[-1]


def test_seed_changes_split_and_both_pass_leakage(tmp_path: Path, mini_build: Path) -> None:
    other = unifybench_pp.build(MINI_SOURCE, tmp_path / "s1", SplitConfig(seed=1), quiet=True)
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
        for concept in bench.concepts.values():  # same held-out size per concept under both splits
            assert sum(p.split == "heldout" for p in bench.extra_info if p.concept == concept.id) == 2
        train_images = {img for c in bench.concepts.values() for img in c.train_images}
        shown = {i.image for t in ("rec", "vqa") for i in bench.tasks[t]}
        assert not shown & train_images


def test_every_task_has_items_for_every_concept(mini_build: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    assert len(bench.concepts) >= 6
    assert "person" in {c.category for c in bench.concepts.values()}
    for task in TABLE1_TASKS:
        assert {i.concept for i in bench.tasks[task]} == set(bench.concepts), task
    assert all(not bench.tasks[task] for task in TASKS if task not in TABLE1_TASKS)


def test_release_split_holds_out_the_last_num_testing_info_entries(mini_build: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    for concept in bench.concepts.values():
        splits = [p.split for p in bench.extra_info if p.concept == concept.id]
        assert splits == ["train", "train", "heldout", "heldout"]  # num_testing_info = 2 of 4 in the mini release


def test_recognition_items_come_from_test_data(mini_build: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    for concept in bench.concepts.values():
        items = bench.items("rec", [concept.id])
        positives = [i for i in items if i.polarity == "positive"]
        negatives = [i for i in items if i.polarity == "negative"]
        assert sorted(i.image for i in positives) == sorted(concept.test_images)
        assert len(negatives) == 2 and all(i.answer == "No." for i in negatives)
        assert not {i.image for i in negatives} & (set(concept.test_images) | set(concept.train_images))
        assert all(i.question == f"Is {concept.token} in this photo? Answer yes or no." for i in items)


def test_two_stage_items_point_at_their_reasoning_items(mini_build: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    entries = {p.id: p for p in bench.extra_info}
    for item in bench.tasks["rea_gen"]:
        source = bench.item("rea", item.source_item)
        entry = entries[item.extra_info_id]
        assert entry.split == "heldout" and source.extra_info_id == item.extra_info_id
        assert source.implicit_prompt == item.implicit_prompt == entry.implicit_prompt
        assert source.answer == item.explicit_prompt == entry.explicit_prompt
    for item in bench.tasks["dense_rea_gen"]:
        source = bench.item("dense_rea", item.source_item)
        assert source.answer == item.explicit_prompt and source.implicit_prompt == item.implicit_prompt
        assert item.clauses == [c.strip() for c in item.explicit_prompt.split(",")]


def test_manifest_hashes_every_source_file(mini_build: Path) -> None:
    manifest = json.loads((mini_build / "manifest.json").read_text())
    for rel, digest in manifest["sources"].items():
        assert hashlib.sha256((MINI_SOURCE / rel).read_bytes()).hexdigest() == digest
    source_files = {p.relative_to(MINI_SOURCE).as_posix() for p in MINI_SOURCE.rglob("*") if p.is_file()}
    unread = source_files - set(manifest["sources"])
    # The harness lists concept folders (not concepts_list.json); distractors count only where test_data uses them.
    assert unread and all(f == "concepts_list.json" or f.startswith("random_images/") for f in unread), unread
    assert {f for f in source_files if f.endswith(".json") and f != "concepts_list.json"} <= set(manifest["sources"])
    stored = sorted(p.name for p in (mini_build / "images").iterdir())
    assert stored == sorted(name[len("images/"):] for name in manifest["image_origins"])
    for name in stored:
        assert name.split(".")[0] == hashlib.sha256((mini_build / "images" / name).read_bytes()).hexdigest()


def test_card_counts_match_the_files(mini_build: Path) -> None:
    card = (mini_build / "README.md").read_text()
    for task in TASKS:
        n = len(jsonl(mini_build / f"{task}.jsonl"))
        assert re.search(rf"`{task}\.jsonl` \| {n} \|", card), task
    assert "`explicit_prompt`" in card and "`source_item`" in card  # field documentation is generated
    splits = (mini_build / "SPLITS.md").read_text()
    assert "`<chelsea>` | pet | live_subject | 3 | 2 | chelsea-x0, chelsea-x1 | chelsea-x2, chelsea-x3 |" in splits


def test_hf_round_trip(mini_build: Path, tmp_path: Path) -> None:
    import datasets

    bench = unifybench_pp.load(mini_build)
    dd = bench.to_hf()
    assert isinstance(dd, datasets.DatasetDict)
    assert set(dd) == set(TABLE1_TASKS) | {"concepts", "extra_info"}  # the empty choice tasks are left out
    assert dd["vqa"].num_rows == len(bench.tasks["vqa"])
    dd.save_to_disk(str(tmp_path / "hf"))
    back = unifybench_pp.Benchmark.from_hf(datasets.load_from_disk(str(tmp_path / "hf")), bench.root, bench.manifest)
    assert back == bench

    files = bench.to_parquet(tmp_path / "parquet")
    assert len(files) == len(TABLE1_TASKS) + 2
    table = datasets.Dataset.from_parquet(str(tmp_path / "parquet" / "dense_gen.parquet"))
    assert table["clauses"] == [i.clauses for i in bench.tasks["dense_gen"]]
