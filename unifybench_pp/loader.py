"""Load a built UnifyBench++ folder, and convert it to and from Hugging Face datasets."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .builder import build_holding
from .errors import SourceError
from .files import NotOurs, staged_directory
from .jsonio import read_json, read_jsonl
from .paths import UnsafePath, check_distinct, check_regular, inside, path_component
from .schema import SCHEMA_VERSION, TASKS, Concept, ExtraInfo, TaskItem, from_record, to_record


@dataclass
class Benchmark:
    """A built benchmark in memory: manifest, concepts, extra_info and the nine task views."""

    root: Path
    manifest: dict[str, Any]
    concepts: dict[str, Concept]
    extra_info: list[ExtraInfo]
    tasks: dict[str, list[TaskItem]]
    _index: dict[tuple[str, str], TaskItem] | None = field(default=None, repr=False, compare=False)

    @property
    def version(self) -> str:
        return self.manifest["version"]

    def image_path(self, name: str) -> Path:
        """Absolute path of an image named in an item (`images/<sha>.<ext>`)."""
        return self.root / name

    def item(self, task: str, item_id: str) -> TaskItem:
        """One item by id (e.g. the Rea. item a Rea. Gen. item draws from)."""
        if self._index is None:
            self._index = {(t, i.id): i for t, items in self.tasks.items() for i in items}
        return self._index[(task, item_id)]

    def items(self, task: str, concepts: Iterable[str] | None = None) -> list[TaskItem]:
        if task not in self.tasks:
            raise KeyError(f"unknown task {task!r}; tasks are {', '.join(TASKS)}")
        wanted = set(concepts) if concepts is not None else None
        return [item for item in self.tasks[task] if wanted is None or item.concept in wanted]

    def to_hf(self) -> Any:
        """A `datasets.DatasetDict`: one split per task that has items, plus `concepts` and `extra_info`.

        Tables without rows are left out (`datasets` saves an empty split as zero shards it cannot load
        back); `from_hf` reads a missing split as empty.

        Image columns hold paths relative to `root`; cast them with
        `datasets.Image()` after joining the root if you want decoded images.
        """
        from datasets import Dataset, DatasetDict, Features, Sequence, Value

        def features(cls: type) -> Features:
            return Features({
                f.name: Sequence(Value("string")) if str(f.type).startswith("list") else Value("string")
                for f in dataclasses.fields(cls)
            })

        tables: dict[str, tuple[type, list[Any]]] = {
            "concepts": (Concept, list(self.concepts.values())),
            "extra_info": (ExtraInfo, self.extra_info),
        }
        tables.update({task: (TASKS[task], items) for task, items in self.tasks.items() if items})
        result = DatasetDict()
        for split, (cls, rows) in tables.items():
            records = [to_record(row) for row in rows]
            columns = {f.name: [r[f.name] for r in records] for f in dataclasses.fields(cls)}
            result[split] = Dataset.from_dict(columns, features=features(cls))
        return result

    @classmethod
    def from_hf(cls, dataset_dict: Any, root: Path, manifest: dict[str, Any]) -> Benchmark:
        """Rebuild a Benchmark from `to_hf()` output (e.g. after a Hub round trip)."""
        def rows(split: str, record_cls: type) -> list[Any]:
            rows_of = dataset_dict[split] if split in dataset_dict else []
            return [from_record(record_cls, dict(row)) for row in rows_of]

        return cls.from_tables(root, manifest, rows)

    @classmethod
    def from_tables(cls, root: Path, manifest: dict[str, Any],
                    table: Callable[[str, type], list[Any]]) -> Benchmark:
        """Assemble a Benchmark from a reader of its tables (`concepts`, `extra_info`, one per task)."""
        concepts = table("concepts", Concept)
        return cls(
            root=root,
            manifest=manifest,
            concepts={c.id: c for c in concepts},
            extra_info=table("extra_info", ExtraInfo),
            tasks={task: table(task, item_cls) for task, item_cls in TASKS.items()},
        )

    def to_parquet(self, out: Path) -> list[Path]:
        """Write one Parquet file per split of `to_hf()` into `out`, replaced whole once every file is written;
        returns the files. `out` must be absent, empty or an export written here before (a SourceError otherwise:
        a user's folder or the benchmark build is never mixed with Parquet files, not even in a new folder inside it:
        a build holding what `build-dataset` did not write can no longer be rebuilt)."""
        if holder := build_holding(out, self.root):
            where = "is the benchmark build" if out.resolve() == holder.resolve() else f"lies inside the build {holder}"
            raise SourceError(out, "", f"not a place for a Parquet export: it {where}",
                              "choose an --out outside the build")
        splits = self.to_hf()
        try:
            with staged_directory(out, PARQUET_KIND) as staging:
                for split, dataset in splits.items():
                    dataset.to_parquet(str(staging / f"{split}.parquet"))
        except NotOurs as error:
            raise SourceError(error.path, "", f"not a Parquet export to replace: it {error.problem}",
                              "choose a new or empty --out, or move what is there elsewhere yourself") from None
        return [out / f"{split}.parquet" for split in splits]


PARQUET_KIND = "parquet export"
"""What an export's marker says it is: `export --out` replaces only an earlier export."""


def load(path: str | Path) -> Benchmark:
    """Load a folder written by `ubpp build-dataset`, checking its schema version."""
    root = Path(path).resolve()
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise SourceError(root, "", "benchmark not built here (no manifest.json)",
                          f"run `ubpp build-dataset --out {path}`")
    manifest = read_json(_table_file(root, "manifest.json"))
    if not isinstance(manifest, dict) or not isinstance(manifest.get("version"), str) or not manifest["version"]:
        raise SourceError(manifest_path, "", "not a benchmark manifest (an object with a version)",
                          "rebuild the benchmark")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise SourceError(
            manifest_path, "schema_version",
            f"built with schema {manifest.get('schema_version')!r}, this code reads {SCHEMA_VERSION!r}",
            "rebuild the benchmark with this version of ubpp",
        )

    try:
        path_component(manifest["version"], "benchmark version")  # it names run directories
    except UnsafePath as error:
        raise SourceError(manifest_path, "version", str(error), "rebuild the benchmark") from None

    read: dict[str, list[Any]] = {}

    def table(name: str, cls: type) -> list[Any]:
        try:
            read[name] = [from_record(cls, record) for record in read_jsonl(_table_file(root, f"{name}.jsonl"))]
            return read[name]
        except (ValueError, TypeError) as exc:
            raise SourceError(root / f"{name}.jsonl", "", str(exc), "rebuild the benchmark") from None

    bench = Benchmark.from_tables(root, manifest, table)
    try:
        check_distinct([c.id for c in read["concepts"]], "concept")
    except UnsafePath as error:
        raise SourceError(root / "concepts.jsonl", "", str(error), "rebuild the benchmark") from None
    images = {image: root / "concepts.jsonl" for c in read["concepts"] for image in c.train_images + c.test_images}
    for task, items in bench.tasks.items():
        for item in items:
            if item.concept not in bench.concepts:
                raise SourceError(root / f"{task}.jsonl", item.id, f"unknown concept {item.concept!r}",
                                  "rebuild the benchmark")
            if getattr(item, "image", None):
                images.setdefault(item.image, root / f"{task}.jsonl")
    for image, table_path in images.items():  # a tampered build must not make us read, or publish, other files
        try:
            inside(root, image)
        except UnsafePath as error:
            raise SourceError(table_path, "", f"image {error}", "rebuild the benchmark") from None
    return bench


def _table_file(root: Path, name: str) -> Path:
    """A file of the build: a regular file inside it (never a FIFO, nor a symlink out)."""
    try:
        path = inside(root, name)
        check_regular(path)
    except FileNotFoundError:
        return root / name  # read_json / read_jsonl name it
    except UnsafePath as error:
        raise SourceError(root / name, "", str(error), "rebuild the benchmark") from None
    return path
