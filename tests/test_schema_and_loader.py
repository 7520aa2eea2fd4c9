"""Schema documentation and versioning, and the loader's refusals."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

import unifybench_pp
from unifybench_pp import SCHEMA_VERSION, TASKS, SourceError
from unifybench_pp.schema import TABLE1_TASKS, Concept, ExtraInfo, RecItem, error_location, from_record, to_record


@pytest.mark.parametrize("cls", [Concept, ExtraInfo, *TASKS.values()])
def test_every_field_is_documented(cls: type) -> None:
    for field in dataclasses.fields(cls):
        assert len(field.metadata.get("doc", "")) > 10, f"{cls.__name__}.{field.name}"


def test_nine_tasks_in_table_order() -> None:
    assert list(TABLE1_TASKS) == ["rec", "rea", "dense_rea", "vqa", "qa", "pure_gen", "dense_gen", "rea_gen",
                                  "dense_rea_gen"]
    assert list(TASKS) == list(TABLE1_TASKS) + ["vqa_choice", "qa_choice"]


def test_one_task_table_holds_every_facet() -> None:
    """The task views (titles, capabilities, Table 1 columns, two-stage sources) are read from one table, and a
    two-stage task is exactly one whose items name the item they draw from."""
    from unifybench_pp.schema import REASONING_SOURCES, TASK_SPECS, TASK_TITLES, task_capability

    assert [TASK_TITLES[t] for t in TABLE1_TASKS] == ["Rec.", "Rea.", "Dense Rea.", "VQA", "QA", "Pure Gen.",
                                                      "Dense Gen.", "Rea. Gen.", "Dense Rea. Gen."]
    for name, spec in TASK_SPECS.items():
        assert task_capability(name) == spec.capability and TASKS[name] is spec.item
        draws = "source_item" in {f.name for f in dataclasses.fields(spec.item)}
        assert draws == (name in REASONING_SOURCES), name
        if spec.source:
            assert spec.capability == "generate" and task_capability(spec.source) == "understand"


def test_from_record_rejects_unknown_and_missing_fields() -> None:
    item = RecItem("rec/a/000", "a", "images/x.png", "Is <a> in this photo?", "Yes", "positive")
    assert from_record(RecItem, to_record(item)) == item
    with pytest.raises(ValueError, match="unknown fields \\['extra'\\]"):
        from_record(RecItem, {**to_record(item), "extra": 1})
    record = to_record(item)
    del record["answer"]
    with pytest.raises(ValueError, match="missing fields \\['answer'\\]"):
        from_record(RecItem, record)


def test_load_refuses_non_builds_and_other_schema_versions(mini_build: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no manifest.json"):
        unifybench_pp.load(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(mini_build, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["schema_version"] = "0.1"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SourceError, match=f"this code reads '{SCHEMA_VERSION}'"):
        unifybench_pp.load(copy)


def test_items_filters_by_concept(mini_build: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    assert {i.concept for i in bench.items("qa", ["ast", "coins"])} == {"ast", "coins"}
    with pytest.raises(KeyError, match="unknown task"):
        bench.items("captioning")


@pytest.mark.parametrize(("loc", "shown"), [(("concepts", 0, "id"), "concepts.0.id"),
                                            (("metric_models", "\n"), "metric_models.'\\n'"),
                                            (("judge", "a.b", "model"), "judge.'a.b'.model")])
def test_an_error_place_is_one_line_with_the_files_own_keys_quoted(loc: tuple, shown: str) -> None:
    assert error_location(loc) == shown and "\n" not in error_location(loc)
