"""The public Sync-R1 harness's per-request seeds, for adapters that reproduce its runs.

The harness (`evaluation/common.py` `stable_seed`, `adapters/showo_weighted.py`)
seeds every request on its own: the sha256 of its parts joined by "::" (the
run's seed first), the first 8 hex digits as an integer, e.g.
`stable_seed(3407, "showo_weighted", "understanding", "rec", "bo", 0, "rec_000")`.
Its item ids are per concept and task: `<task>_<NNN>` for the understanding
tasks and `prompt_<NNN>` for the generation tasks, NNN being the item's index
among the concept's items of that task, which is the last part of ours
(`rec/bo/000` -> `rec_000`, `pure_gen/bo/012` -> `prompt_012`).
"""

from __future__ import annotations

import hashlib

from unifybench_pp.schema import UNDERSTANDING_TASKS

HARNESS_SEED = 3407
"""The harness's default `--seed`."""


def stable_seed(base_seed: int, *parts: object) -> int:
    """The harness's seed of one request: sha256 of "base::part::part..." as text, first 8 hex digits."""
    material = "::".join([str(base_seed), *(str(part) for part in parts)])
    return int(hashlib.sha256(material.encode("utf-8")).hexdigest()[:8], 16)


def harness_item_id(task: str, item_id: str) -> tuple[str, str]:
    """(family, id) the harness gives our item: ("understanding", "rec_000") for `rec/bo/000`,
    ("generation", "prompt_012") for `pure_gen/bo/012`. An extra sample keeps its suffix (`#1`), so sample 0 is
    the harness's request exactly and the others are seeded apart from it."""
    base, hash_, sample = item_id.partition("#")
    index = base.rsplit("/", 1)[-1]
    family = "understanding" if task in UNDERSTANDING_TASKS else "generation"
    name = f"{task}_{index}" if family == "understanding" else f"prompt_{index}"
    return family, name + hash_ + sample


def request_seed(base_seed: int, adapter: str, task: str, concept: str, model_epoch: int, item_id: str) -> int:
    """The seed the harness's `adapter` sets before predicting `item_id` of `concept` at `model_epoch`."""
    family, name = harness_item_id(task, item_id)
    return stable_seed(base_seed, adapter, family, task, concept, model_epoch, name)
