"""The benchmark a run trains on: a built UnifyBench++ folder, or the bundled mini one, built on first use.

`ubpp train syncr1 --preset tiny` in an empty folder has nothing built yet;
like `ubpp demo`, it builds the bundled mini benchmark where the setting
points (the default path) instead of failing. Any other path must already
hold a build: silently building the mini benchmark there would train on the
wrong data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from unifybench_pp import MINI_DEFAULT_OUT, MINI_NAME, MINI_SOURCE, Benchmark, SplitConfig, build, load
from unifybench_pp.errors import SettingsError
from unifybench_pp.schema import Concept, ExtraInfo

MINI_BENCHMARK = str(MINI_DEFAULT_OUT)
"""The training default (a string setting): the bundled mini benchmark's default folder."""


def ensure_mini(path: Path, console: Console | None = None, quiet: bool = False) -> Path:
    """Build the bundled mini benchmark at `path` unless a build is already there."""
    if not (path / "manifest.json").is_file():
        build(MINI_SOURCE, path, SplitConfig(), name=MINI_NAME, console=console, quiet=quiet)
    return path


NO_BENCHMARK = ("no benchmark to train on: set `benchmark` to a built UnifyBench++ folder (--set benchmark=DIR; "
                "build it with `ubpp build-dataset --source RELEASE --out DIR`), or train the tiny preset on the "
                "bundled mini benchmark (--preset tiny)")


def training_benchmark(setting: str | None, console: Console | None = None, quiet: bool = False) -> Benchmark:
    """The benchmark named by the `benchmark` setting; the default mini path is built when missing, and no setting
    is refused (the paper preset must not train on the toy data by accident)."""
    if setting is None:
        raise SettingsError(NO_BENCHMARK)
    path = Path(setting)
    if path == Path(MINI_BENCHMARK):
        ensure_mini(path, console, quiet)
    return load(path)


@dataclass(frozen=True)
class ConceptViews:
    """What a model may learn a concept from: its profile, training photos and training extra_info entries."""

    concept: Concept
    images: list[Path]
    facts: list[ExtraInfo]
    """The training entries (split `train`), each with its implicit and explicit prompt."""


def training_views(bench: Benchmark) -> dict[str, ConceptViews]:
    """Every concept's training views; held-out entries, test images and task items are left out by construction."""
    return {cid: ConceptViews(concept, [bench.image_path(p) for p in concept.train_images],
                              [x for x in bench.extra_info if x.concept == cid and x.split == "train"])
            for cid, concept in sorted(bench.concepts.items())}
