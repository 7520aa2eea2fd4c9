"""The layout of a saved Show-o model as ubpp writes and reads it, named once: the trainer and SFT write it, the
pipeline's tiny builder and the tiny pretrained asset use it, the adapter and the policy load it.

    <root>/showo/                    the transformer (config.json, weights) and its tokenizer
    <root>/magvit/                   the MAGVIT-v2 image tokenizer
    <root>/concepts/<c>.safetensors  each concept's tokens

A training run writes its bundle to `<out>/model/`; a run per concept writes `<out>/<c>/model/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from unifybench_pp.paths import UnsafePath, path_component

TRAINED_MODEL = "model"
"""The folder inside a training run's output that holds its bundle."""
RUN_CONFIG = "config.yaml"
"""The settings file a training run writes first: what marks a folder as one (`training/outdir.py` names the rest)."""


def is_concept_run(folder: Path) -> bool:
    """Whether `folder` is one concept's run of a run per concept, as `train` lays it out: `<out>/<concept>/` with a
    config.yaml of `run_per_concept: true` and that one concept. It resumes only from the folder above (`ubpp
    train` refuses it alone as --out), which is what `ubpp evaluate`'s hint for an unfinished run names."""
    try:
        settings = yaml.safe_load((folder / RUN_CONFIG).read_text(encoding="utf-8"))
        concepts = settings["concepts"] if settings["run_per_concept"] is True else None
        return isinstance(concepts, list) and len(concepts) == 1 and folder.name == path_component(concepts[0])
    except (OSError, ValueError, yaml.YAMLError, TypeError, KeyError, UnsafePath):  # not a config.yaml it wrote
        return False


@dataclass(frozen=True)
class ShowoBundle:
    root: Path

    @property
    def showo(self) -> Path:
        return self.root / "showo"

    @property
    def magvit(self) -> Path:
        return self.root / "magvit"

    @property
    def concepts(self) -> Path:
        return self.root / "concepts"

    def concept_file(self, concept: str) -> Path:
        return self.concepts / f"{path_component(concept, 'concept')}.safetensors"

    def exists(self) -> bool:
        return self.showo.is_dir()

    @classmethod
    def of_run(cls, out: Path) -> ShowoBundle:
        """The bundle a training run writes under its output folder."""
        return cls(out / TRAINED_MODEL)

    @classmethod
    def per_concept(cls, folder: Path) -> dict[str, ShowoBundle]:
        """Concept folder name -> its own bundle, for a folder of per-concept models (`<c>/` or `<c>/model/`); empty
        for a single bundle or anything else."""
        if not folder.is_dir() or cls(folder).exists():
            return {}
        found = {}
        for child in sorted(folder.iterdir()):
            if child.name.startswith("."):  # a staging folder of an export that was stopped, never a concept
                continue
            for bundle in (cls(child), cls.of_run(child)):
                if bundle.exists():
                    found[child.name] = bundle
                    break
        return found
