"""Every malformed source: one clear line naming file, item and fix, exit code 2, no output left."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import unifybench_pp
from unifybench_pp import SourceError, SplitConfig


def edit_json(path: Path, change: Callable[[object], object]) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps(change(data) or data, indent=2))


def assert_fails(source: Path, annotations: Path, *fragments: str) -> SourceError:
    out = source.parent / "out"
    with pytest.raises(SourceError) as info:
        unifybench_pp.build(source, annotations, out, SplitConfig(), quiet=True)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    assert "(fix: " in message
    assert not out.exists()
    leftovers = [p.name for p in source.parent.iterdir() if p.name.startswith(".out")]
    assert leftovers == []
    return info.value


def test_missing_image_listed_in_train_images(source_copy: tuple[Path, Path]) -> None:
    source, annotations = source_copy
    (source / "concept/train/train_images.json").write_text(json.dumps({"ast": ["0.jpg", "7.jpg"]}))
    assert_fails(source, annotations, "concept/train/train_images.json:ast[1]", "image '7.jpg' not found")


def test_missing_vqa_image(source_copy: tuple[Path, Path]) -> None:
    source, annotations = source_copy
    edit_json(source / "concept/test/cam/vqa.json", lambda d: {**d, "5.jpg": [{"query": "q?", "answer": "a"}]})
    assert_fails(source, annotations, "concept/test/cam/vqa.json:'5.jpg'", "not found")


def test_corrupt_image(source_copy: tuple[Path, Path]) -> None:
    source, annotations = source_copy
    (source / "concept/train/coffee/1.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    assert_fails(source, annotations, "concept/train/coffee/1.jpg", "corrupt")


def test_truncated_image(source_copy: tuple[Path, Path]) -> None:
    source, annotations = source_copy
    path = source / "concept/test/rocket/0.jpg"
    path.write_bytes(path.read_bytes()[:2000])
    assert_fails(source, annotations, "concept/test/rocket/0.jpg", "corrupt")


def test_malformed_json_reports_line(source_copy: tuple[Path, Path]) -> None:
    source, annotations = source_copy
    (source / "concept/test/chelsea/text_only.json").write_text('[\n  {"query": "a?", "answer": "b"},\n  {"query": "c?" "answer": "d"}\n]\n')
    assert_fails(source, annotations, "concept/test/chelsea/text_only.json:line 3", "malformed JSON")


def test_malformed_annotation_json_reports_line(source_copy: tuple[Path, Path]) -> None:
    source, annotations = source_copy
    lines = annotations.read_text().splitlines()
    lines[4] = lines[4] + ","  # a trailing comma inside the first concept
    annotations.write_text("\n".join(lines))
    assert_fails(source, annotations, "annotations.json:line", "malformed JSON")


def test_duplicate_concept_ids(source_copy: tuple[Path, Path]) -> None:
    source, annotations = source_copy
    edit_json(source / "concepts_list.json", lambda names: names + ["ast"])
    assert_fails(source, annotations, "concepts_list.json:[6]", "duplicate concept id 'ast'")


def test_duplicate_extra_info_ids(source_copy: tuple[Path, Path]) -> None:
    source, annotations = source_copy

    def same_ids(data: dict) -> None:
        data["concepts"]["ast"]["extra_info"][0]["id"] = "shared"
        data["concepts"]["cam"]["extra_info"][2]["id"] = "shared"

    edit_json(annotations, same_ids)
    assert_fails(source, annotations, "annotations.json:concepts.cam.extra_info[2]", "duplicate id 'shared'")


def test_duplicate_json_keys(source_copy: tuple[Path, Path]) -> None:
    source, annotations = source_copy
    text = annotations.read_text().replace('"concepts": {', '"concepts": {\n"coins": {},', 1)
    annotations.write_text(text)
    assert_fails(source, annotations, "annotations.json", "duplicate id 'coins'")


def test_unknown_concept_in_annotations(source_copy: tuple[Path, Path]) -> None:
    source, annotations = source_copy
    edit_json(annotations, lambda d: d["concepts"].update({"dino": {"dense_gen": [{"prompt": "x"}]}}))
    assert_fails(source, annotations, "annotations.json:concepts.dino", "unknown concept 'dino'")


@pytest.mark.parametrize(
    ("target", "change", "fragments"),
    [
        ("annotations", lambda d: d["concepts"]["coffee"]["dense_gen"][0].update(prompt="  "),
         ("concepts.coffee.dense_gen[0].prompt", "'prompt' is empty")),
        ("annotations", lambda d: d["concepts"]["rocket"]["dense_rea"][0].update(answer=""),
         ("concepts.rocket.dense_rea[0].answer", "'answer' is empty")),
        ("annotations", lambda d: d["concepts"]["ast"]["extra_info"][1].update(placeholder="a cap"),
         ("concepts.ast.extra_info[1].placeholder", "does not occur in the prompt")),
        ("concept/test/coins/text_only.json", lambda d: d[1].update(answer=""),
         ("concept/test/coins/text_only.json:[1]", "answer is empty")),
        ("concept/test/cam/vqa.json", lambda d: d["0.jpg"][0].update(query=""),
         ("concept/test/cam/vqa.json:'0.jpg'[0]", "question is empty")),
        ("concept/train/chelsea/info.json", lambda d: d.update({"class": ""}),
         ("concept/train/chelsea/info.json:class", "class noun is empty")),
    ],
)
def test_empty_prompt_or_answer(
    source_copy: tuple[Path, Path], target: str, change: Callable, fragments: tuple[str, ...]
) -> None:
    source, annotations = source_copy
    edit_json(annotations if target == "annotations" else source / target, change)
    assert_fails(source, annotations, *fragments)


def test_image_path_escaping_the_source_root(source_copy: tuple[Path, Path]) -> None:
    source, annotations = source_copy
    outside = source.parent / "outside.jpg"
    shutil.copyfile(source / "concept/test/ast/0.jpg", outside)  # exists, so only the escape can fail it
    edit_json(source / "concept/test/ast/vqa.json",
              lambda d: {**d, "../../../../outside.jpg": [{"query": "q?", "answer": "a"}]})
    assert_fails(source, annotations, "concept/test/ast/vqa.json", "escapes the source root")


def test_absolute_image_path(source_copy: tuple[Path, Path]) -> None:
    source, annotations = source_copy
    absolute = str((source / "concept/train/ast/0.jpg").resolve())
    (source / "concept/train/train_images.json").write_text(json.dumps({"ast": [absolute]}))
    assert_fails(source, annotations, "train_images.json:ast[0]", "escapes the source root")


def test_held_out_text_leak(source_copy: tuple[Path, Path]) -> None:
    source, annotations = source_copy

    def leak(data: dict) -> None:
        pairs = data["concepts"]["coins"]["extra_info"]
        pairs[0]["split"], pairs[1]["split"] = "train", "heldout"
        pairs[1]["text"] = pairs[0]["text"] + "  "

    edit_json(annotations, leak)
    assert_fails(source, annotations, "annotations.json:coins-x2", "held-out leak", "train pair coins-x1")


def test_held_out_image_leak(source_copy: tuple[Path, Path]) -> None:
    source, annotations = source_copy
    shutil.copyfile(source / "concept/test/chelsea/1.jpg", source / "concept/train/chelsea/3.jpg")
    assert_fails(source, annotations, "concept/train/chelsea/3.jpg", "held-out leak")


def test_unknown_category(source_copy: tuple[Path, Path]) -> None:
    source, annotations = source_copy
    edit_json(source / "concept/train/coins/info.json", lambda d: d.update(conversation_type="mineral"))
    assert_fails(source, annotations, "concept/train/coins/info.json:conversation_type", "category unknown")


def test_output_that_is_not_a_build_is_not_replaced(source_copy: tuple[Path, Path], tmp_path: Path) -> None:
    source, annotations = source_copy
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(SourceError, match="not a UnifyBench\\+\\+ build"):
        unifybench_pp.build(source, annotations, out, SplitConfig(), quiet=True)
    assert (out / "notes.txt").read_text() == "keep me"


def test_failed_rebuild_keeps_the_previous_build(source_copy: tuple[Path, Path], tmp_path: Path) -> None:
    source, annotations = source_copy
    out = tmp_path / "bench"
    unifybench_pp.build(source, annotations, out, SplitConfig(), quiet=True)
    before = (out / "manifest.json").read_bytes()
    (source / "concept/train/ast/0.jpg").write_bytes(b"garbage")
    with pytest.raises(SourceError):
        unifybench_pp.build(source, annotations, out, SplitConfig(), quiet=True)
    assert (out / "manifest.json").read_bytes() == before


def test_cli_prints_one_line_and_exits_2(source_copy: tuple[Path, Path]) -> None:
    source, annotations = source_copy
    edit_json(source / "concepts_list.json", lambda names: names + ["ghost"])
    out = source.parent / "out"
    result = subprocess.run(
        [sys.executable, "-m", "cli", "build-dataset", "--source", str(source), "--annotations", str(annotations),
         "--out", str(out), "--quiet"],
        capture_output=True, text=True, cwd=Path(__file__).parents[1],
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: concept/train/ghost/info.json: file not found (fix: ")
    assert not out.exists()
