"""Build a UnifyBench++ directory from a UnifyBench source and the annotation file.

The build is all-or-nothing: everything is validated and written into a
temporary sibling of the output folder, which replaces the output only once
complete. Nothing in the output depends on time, machine or file order, so the
same inputs and seed give byte-identical folders.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .card import write_card
from .errors import SourceError
from .images import ImageStore
from .jsonio import dumps, write_json, write_jsonl
from .schema import CATEGORIES, SCHEMA_VERSION, TASKS, Concept, ExtraInfo, TaskItem, to_record
from .sources.annotations import Annotations, ConceptAnnotation, read_annotations
from .sources.unictokens import RawSource, read_unictokens
from .splits import SplitConfig, check_leakage, split_reference_images
from .views import ConceptViews, build_concept_views, build_extra_info, concept_token

MINI_ROOT = Path(__file__).parent / "mini"
MINI_SOURCE = MINI_ROOT / "source"
MINI_ANNOTATIONS = MINI_ROOT / "annotations.json"


@dataclass
class BuildResult:
    out: Path
    manifest: dict
    images_read: int


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _category(raw_category: str | None, ann: ConceptAnnotation, name: str) -> str:
    category = ann.category or raw_category
    if category is None:
        raise SourceError(
            f"concept/train/{name}/info.json", "conversation_type", "category unknown",
            "set conversation_type to human, animal or object, or 'category' in the annotation file",
        )
    return category


def _check_output(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "manifest.json").exists())):
        raise SourceError(out, "", "output exists and is not a UnifyBench++ build", "choose a new or empty --out")


def _replace(tmp: Path, out: Path) -> None:
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / out.name)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)


def _progress(quiet: bool, console: Console | None) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, disable=quiet, transient=False,
    )


def build(
    source: Path,
    annotations: Path | None,
    out: Path,
    config: SplitConfig = SplitConfig(),
    name: str = "unifybench_pp",
    quiet: bool = False,
    console: Console | None = None,
) -> BuildResult:
    """Validate the inputs, build every view, check for leaks, then write `out` atomically."""
    out = out.resolve()
    _check_output(out)
    raw = read_unictokens(source)
    names = [c.name for c in raw.concepts]
    ann = read_annotations(annotations, names) if annotations else Annotations({}, {})
    annotations_file = annotations.name if annotations else "(no annotation file)"

    store = ImageStore(raw.root)
    progress = _progress(quiet, console)
    with progress:
        image_splits = {
            c.name: split_reference_images(c.name, c.train_images, c.test_images, config) for c in raw.concepts
        }
        all_images = [p for c in raw.concepts for split in image_splits[c.name] for p in split]
        all_images += [v.image for c in raw.concepts for v in c.vqa] + raw.distractors
        reading = progress.add_task("Reading images", total=len(all_images))
        store.ingest(all_images, lambda: progress.advance(reading))

        views = _build_views(raw, ann, image_splits, store, config, annotations_file, progress)
        concepts = [v.concept for v in views]
        extra_info = [pair for v in views for pair in v.extra_info]
        tasks = {task: [item for v in views for item in v.items[task]] for task in TASKS}
        check_leakage(concepts, extra_info, _evaluated_images(tasks, concepts), annotations_file, store.origins())

        manifest = _manifest(raw, annotations, store, config, name, concepts, extra_info, tasks)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        try:
            writing = progress.add_task("Writing images", total=len(store.stored()))
            store.write(tmp, lambda: progress.advance(writing))
            _write_records(tmp, concepts, extra_info, tasks)
            write_json(tmp / "manifest.json", manifest)
            write_card(tmp, manifest, concepts, extra_info, tasks, store, ann.image_credits)
            _replace(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return BuildResult(out, manifest, store.files_read)


def _build_views(
    raw: RawSource,
    ann: Annotations,
    image_splits: dict[str, tuple[list[Path], list[Path]]],
    store: ImageStore,
    config: SplitConfig,
    annotations_file: str,
    progress: Progress,
) -> list[ConceptViews]:
    empty = ConceptAnnotation()
    concepts: dict[str, Concept] = {}
    for c in raw.concepts:
        train, test = image_splits[c.name]
        concepts[c.name] = Concept(
            id=c.name, token=concept_token(c.name), class_noun=c.class_noun,
            category=_category(c.category, ann.concepts.get(c.name, empty), c.name), info=c.info,
            train_images=[store.name(p) for p in train], test_images=[store.name(p) for p in test],
        )
    taken: set[str] = set()
    views = []
    building = progress.add_task("Building items", total=len(raw.concepts))
    for c in raw.concepts:
        concept_ann = ann.concepts.get(c.name, empty)
        pools = {
            category: [p for other in raw.concepts if other.name != c.name
                       and concepts[other.name].category == category for p in image_splits[other.name][1]]
            for category in CATEGORIES
        }
        extra_info = build_extra_info(c, concept_ann, config, annotations_file, taken)
        views.append(
            build_concept_views(c, concepts[c.name], extra_info, concept_ann, store, pools, raw.distractors, config)
        )
        progress.advance(building)
    return views


def _evaluated_images(tasks: dict[str, list[TaskItem]], concepts: list[Concept]) -> dict[str, str]:
    shown = {image: f"test image of {c.id}" for c in concepts for image in c.test_images}
    for task in ("rec", "vqa"):
        for item in tasks[task]:
            shown.setdefault(item.image, item.id)
    return shown


def _write_records(
    out: Path, concepts: list[Concept], extra_info: list[ExtraInfo], tasks: dict[str, list[TaskItem]]
) -> None:
    write_jsonl(out / "concepts.jsonl", map(to_record, concepts))
    write_jsonl(out / "extra_info.jsonl", map(to_record, extra_info))
    for task, items in tasks.items():
        write_jsonl(out / f"{task}.jsonl", map(to_record, items))


def _manifest(
    raw: RawSource,
    annotations: Path | None,
    store: ImageStore,
    config: SplitConfig,
    name: str,
    concepts: list[Concept],
    extra_info: list[ExtraInfo],
    tasks: dict[str, list[TaskItem]],
) -> dict:
    sources = {path.relative_to(raw.root).as_posix(): _sha256(path) for path in raw.files}
    origins = store.origins()
    sources.update({origin: image.sha256 for image in store.stored() for origin in origins[image.name]})
    if annotations:
        sources[f"annotations:{annotations.name}"] = _sha256(annotations)
    fingerprint = hashlib.sha256(
        dumps({"schema": SCHEMA_VERSION, "sources": sources, "split": asdict(config)}).encode()
    ).hexdigest()
    category_of = {c.id: c.category for c in concepts}
    return {
        "name": name,
        "schema_version": SCHEMA_VERSION,
        "version": f"{name}-{SCHEMA_VERSION}-{fingerprint[:12]}",
        "fingerprint": fingerprint,
        "seed": config.seed,
        "split_config": asdict(config),
        "sources": dict(sorted(sources.items())),
        "image_origins": origins,
        "counts": {
            "concepts": dict(Counter(c.category for c in concepts)),
            "images": {
                "train": sum(len(c.train_images) for c in concepts),
                "test": sum(len(c.test_images) for c in concepts),
                "distractor": len(raw.distractors),
                "stored": len(store.stored()),
            },
            "extra_info": dict(Counter(p.split for p in extra_info)),
            "tasks": {task: len(items) for task, items in tasks.items()},
            "tasks_by_category": {
                task: dict(Counter(category_of[item.concept] for item in items)) for task, items in tasks.items()
            },
        },
        "tasks": list(TASKS),
    }
