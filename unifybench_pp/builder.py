"""Build a UnifyBench++ directory from the authors' release folder, or one of Table 5's benchmarks, read as is.

The build is all-or-nothing: everything is validated and written into a
temporary sibling of the output folder, which replaces the output only once
complete. Nothing in the output depends on time, machine or file order, so the
same inputs and seed give byte-identical folders.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .card import write_card
from .errors import SourceError
from .files import NotOurs, check_replaceable, sealed_kind, staged_directory
from .images import ImageStore
from .jsonio import dumps, write_json, write_jsonl
from .paths import UnsafePath, check_distinct, path_component
from .schema import SCHEMA_VERSION, TASKS, Concept, ExtraInfo, TaskItem, to_record
from .sources.dreambench import read_dreambench
from .sources.foreign import TEXT_ONLY_IMAGE, ForeignConcept, ForeignSource
from .sources.mcllava import read_mcllava
from .sources.release import RawConcept, read_release
from .sources.yollava import read_yollava
from .splits import ModelInput, SplitConfig, check_leakage
from .views import build_concept_views, build_extra_info, concept_token

MINI_SOURCE = Path(__file__).parent / "mini" / "source"
MINI_NAME = "unifybench_pp-mini"
MINI_DEFAULT_OUT = Path("ubpp_data") / MINI_NAME
"""Where the bundled mini benchmark is built when no folder is named (`ubpp build-dataset`, training, evaluation)."""

#: `--format` -> the reader of that benchmark's public release (UnifyBench++'s own is `read_release`).
FOREIGN_READERS: dict[str, Callable[[Path], ForeignSource]] = {
    "dreambench": read_dreambench, "yollava": read_yollava, "mcllava": read_mcllava,
}
BENCHMARK_FORMATS: tuple[str, ...] = ("unifybench", *FOREIGN_READERS)
"""What `build(format=...)` and `ubpp build-dataset --format` read."""


def check_format(format: str) -> None:
    """Refuse a layout no reader knows, before anything is read (a library call gets the CLI's message)."""
    if format not in BENCHMARK_FORMATS:
        raise SourceError("--format", "", f"unknown format {format!r}", f"use one of {', '.join(BENCHMARK_FORMATS)}")


@dataclass
class BuildResult:
    out: Path
    manifest: dict
    images_read: int


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


BUILD_KIND = "benchmark build"
"""What a build's marker says it is: `--out` replaces only a build (never a leaderboard site or a model ubpp wrote)."""


def build_holding(path: Path, loaded: Path | None = None) -> Path | None:
    """The benchmark build `path` lies in, or None: `loaded` (the build the command read, sealed or written before
    markers existed) when it holds `path`, else the nearest folder at or above `path` sealed as a build.

    No output but `build-dataset --out` goes there: a name in a build may be its own (README.md, a task's file),
    and a file added to it is one ubpp did not write, so the build could no longer be replaced.
    """
    target = path.resolve()
    if loaded is not None and target.is_relative_to(loaded.resolve()):
        return loaded
    return next((folder for folder in (target, *target.parents) if sealed_kind(folder) == BUILD_KIND), None)


def _check_output(out: Path) -> None:
    """Refuse an `out` that is not a build of ours to replace (a marker we wrote, not any manifest.json)."""
    try:
        check_replaceable(out, BUILD_KIND)
    except NotOurs as error:
        raise _not_a_build(error) from None


def _check_overlap(out: Path, root: Path) -> None:
    """Refuse an `out` equal to, inside or above the data folder read: replacing it would delete the release."""
    if out == root or out.is_relative_to(root) or root.is_relative_to(out):
        where = "is" if out == root else "is inside" if out.is_relative_to(root) else "contains"
        raise SourceError(out, "", f"--out {where} the source folder {root}",
                          "choose an --out outside the source, and not above it")


def _not_a_build(error: NotOurs) -> SourceError:
    return SourceError(error.path, "", f"output is not a UnifyBench++ build to replace: it {error.problem}",
                       "choose a new or empty --out, or move what is there elsewhere yourself")


def _progress(quiet: bool, console: Console | None) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, disable=quiet, transient=False,
    )


def build(
    source: Path,
    out: Path,
    config: SplitConfig = SplitConfig(),
    name: str | None = None,
    quiet: bool = False,
    console: Console | None = None,
    format: str = "unifybench",
) -> BuildResult:
    """Validate the release, build every view, check for leaks, then write `out` atomically.

    `format` names the release layout: `unifybench` (the authors' UnifyBench++ release) or one of Table 5's
    benchmarks (`dreambench`, `yollava`, `mcllava`), whose readers form the items as their own code does.
    `name` (default: `unifybench_pp`, `unifybench_pp-mini` for the bundled mini release however it is named,
    or the format's name) starts the version string: one set of files gets one version, so its runs compare.
    """
    check_format(format)
    bundled = format == "unifybench" and source.resolve() == MINI_SOURCE.resolve()
    name = name or (MINI_NAME if bundled else "unifybench_pp" if format == "unifybench" else format)
    try:
        path_component(name, "--name")  # it starts the version, which names run directories
    except UnsafePath as error:
        raise SourceError("--name", "", str(error), "give a name without '/', '\\' or NUL") from None
    out = out.resolve()
    if source.resolve().is_relative_to(out):  # before anything else: replacing `out` would delete the source
        _check_overlap(out, source.resolve())
    _check_output(out)
    if format != "unifybench":
        if config.seed is not None:
            raise SourceError(source, "", f"--seed draws held-out extra_info entries; {format} has none",
                              "drop --seed")
        return _build_foreign(FOREIGN_READERS[format](source), out, name, quiet, console)
    raw = read_release(source)
    _check_overlap(out, raw.root)
    _check_concept_ids(raw.concepts, "concept/train")
    store = ImageStore(raw.root)
    progress = _progress(quiet, console)
    with progress:
        all_images = [raw.black_image] + [p for c in raw.concepts for p in c.train_images + c.test_images]
        all_images += [d.image for c in raw.concepts for d in c.test_data]
        reading = progress.add_task("Reading images", total=len(all_images))
        store.ingest(all_images, lambda: progress.advance(reading))

        black = store.name(raw.black_image)
        building = progress.add_task("Building items", total=len(raw.concepts))
        views = []
        for c in raw.concepts:
            views.append(build_concept_views(c, _concept(c, store), build_extra_info(c, config), store, black))
            progress.advance(building)
        concepts = [v.concept for v in views]
        extra_info = [entry for v in views for entry in v.extra_info]
        tasks = {task: [item for v in views for item in v.items.get(task, [])] for task in TASKS}
        check_leakage(concepts, extra_info, model_inputs(tasks), _evaluated_images(tasks, concepts, black),
                      store.origins())

        split = "release (last num_testing_info entries held out)" if config.seed is None \
            else f"seeded draw (seed {config.seed}), num_testing_info entries per concept"
        manifest = _manifest(raw.root, raw.files, store, config, name, split, concepts, extra_info, tasks)
        _write(out, manifest, store, concepts, extra_info, tasks, progress)
    return BuildResult(out, manifest, store.files_read)


def _write(out: Path, manifest: dict, store: ImageStore, concepts: list[Concept], extra_info: list[ExtraInfo],
           tasks: dict[str, list[TaskItem]], progress: Progress) -> None:
    try:
        with staged_directory(out, BUILD_KIND) as tmp:
            writing = progress.add_task("Writing images", total=len(store.stored()))
            store.write(tmp, lambda: progress.advance(writing))
            _write_records(tmp, concepts, extra_info, tasks)
            write_json(tmp / "manifest.json", manifest)
            write_card(tmp, manifest, concepts, extra_info, tasks, store)
    except NotOurs as error:  # something was added to `out` while we built
        raise _not_a_build(error) from None


def _build_foreign(raw: ForeignSource, out: Path, name: str, quiet: bool, console: Console | None) -> BuildResult:
    """A Table 5 benchmark: its reader's items numbered per (task, concept), images stored, same files written."""
    _check_overlap(out, raw.root)
    _check_concept_ids(raw.concepts, raw.format)
    store = ImageStore(raw.root)
    progress = _progress(quiet, console)
    with progress:
        images = [p for c in raw.concepts for p in c.train_images + c.test_images]
        images += [item.image for items in raw.items.values() for item in items if hasattr(item, "image")]
        reading = progress.add_task("Reading images", total=len(images))
        store.ingest(images, lambda: progress.advance(reading))
        concepts = [_concept(c, store) for c in raw.concepts]
        tasks = {task: _numbered(task, raw.items.get(task, []), store) for task in TASKS}
        if not raw.tests_on_training_photos:
            text_only = store.name(TEXT_ONLY_IMAGE) if TEXT_ONLY_IMAGE in images else None
            shown = {image: f"test image of {c.id}" for c in concepts for image in c.test_images}
            shown.update({item.image: item.id for items in tasks.values() for item in items
                          if getattr(item, "image", text_only) != text_only})
            check_leakage(concepts, [], [], shown, store.origins())
        manifest = _manifest(raw.root, raw.files, store, SplitConfig(), name,
                             "the release's test set as its evaluation code uses it (nothing to hold out)",
                             concepts, [], tasks)
        manifest.update({"format": raw.format, "notes": raw.notes})
        _write(out, manifest, store, concepts, [], tasks, progress)
    return BuildResult(out, manifest, store.files_read)


def _check_concept_ids(concepts: list[RawConcept] | list[ForeignConcept], where: str) -> None:
    """A concept id names files (run images, trained models): each must be a path component, none twice, none
    differing from another only in case."""
    try:
        check_distinct([c.name for c in concepts], "concept")
    except UnsafePath as error:
        raise SourceError(where, "", str(error), "rename the concept's folders and files") from None


def _numbered(task: str, items: list, store: ImageStore) -> list[TaskItem]:
    """Ids `<task>/<concept>/<NNN>` in the reader's order; source image paths become stored names."""
    counts: Counter[str] = Counter()
    out = []
    for item in items:
        fields = {"id": f"{task}/{item.concept}/{counts[item.concept]:03d}"}
        if hasattr(item, "image"):
            fields["image"] = store.name(item.image)
        out.append(replace(item, **fields))
        counts[item.concept] += 1
    return out


def _concept(c: RawConcept | ForeignConcept, store: ImageStore) -> Concept:
    return Concept(id=c.name, token=concept_token(c.name), class_noun=c.class_noun, category=c.category,
                   generation_type=c.generation_type, info=c.info, extra_info=list(c.extra_info),
                   train_images=[store.name(p) for p in c.train_images],
                   test_images=[store.name(p) for p in c.test_images])


def model_inputs(tasks: dict[str, list[TaskItem]]) -> list[ModelInput]:
    """Every text a model is given: questions and instructions, generation prompts, implicit prompts."""
    inputs = []
    for task, items in tasks.items():
        for item in items:
            text = getattr(item, "question", None) or getattr(item, "prompt", None) or item.implicit_prompt
            inputs.append(ModelInput(task, item.id, text))
    return inputs


def _evaluated_images(tasks: dict[str, list[TaskItem]], concepts: list[Concept], black: str) -> dict[str, str]:
    shown = {image: f"test image of {c.id}" for c in concepts for image in c.test_images}
    for task in ("rec", "vqa", "qa"):
        for item in tasks[task]:
            if item.image != black:
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
    root: Path,
    files: list[Path],
    store: ImageStore,
    config: SplitConfig,
    name: str,
    split: str,
    concepts: list[Concept],
    extra_info: list[ExtraInfo],
    tasks: dict[str, list[TaskItem]],
) -> dict:
    sources = {path.relative_to(root).as_posix(): _sha256(path) for path in files}
    origins = store.origins()
    sources.update({origin: image.sha256 for image in store.stored() for origin in origins[image.name]})
    fingerprint = hashlib.sha256(
        dumps({"schema": SCHEMA_VERSION, "sources": sources, "split": asdict(config)}).encode()
    ).hexdigest()
    category_of = {c.id: c.category for c in concepts}
    return {
        "name": name,
        "schema_version": SCHEMA_VERSION,
        "version": f"{name}-{SCHEMA_VERSION}-{fingerprint[:12]}",
        "fingerprint": fingerprint,
        "format": "unifybench",
        "seed": config.seed,
        "split": split,
        "split_config": asdict(config),
        "sources": dict(sorted(sources.items())),
        "image_origins": origins,
        "counts": {
            "concepts": dict(Counter(c.category for c in concepts)),
            "images": {
                "train": sum(len(c.train_images) for c in concepts),
                "test": sum(len(c.test_images) for c in concepts),
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
