"""UniCTokens-style concept tokens: each concept's identifier and latent tokens learned by supervised fine-tuning
on its training views, the rest of Show-o frozen (the stage Sync-R1 starts from, as in the paper).

The examples are `training.supervised`'s, worded for a model with concept tokens (system prompt before Rec. and
the description question, the token spelled as its latent tokens in generation prompts). Only the concept rows
of the embedding and output layer train (`training.policy.ConceptRows`). The result is an evaluation bundle
(`showo/`, `magvit/`, `concepts/<c>.safetensors`) that `ubpp evaluate --model unictokens --checkpoint DIR` loads
and that `concept_init=DIR/concepts` hands to the Sync-R1 trainer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from baselines.showo.pipeline import ShowoPipeline
from unifybench_pp.loader import Benchmark

from .data import training_views
from .policy import ConceptRows, export_bundle, row_tensors
from .supervised import fit, supervised_data


@dataclass(frozen=True)
class ConceptSFTConfig:
    steps: int = 100
    batch: int = 8
    learning_rate: float = 5e-2
    views_per_photo: int = 8
    seed: int = 0


def finetune_concepts(showo: str, magvit: str, bench: Benchmark, out: Path,
                      config: ConceptSFTConfig = ConceptSFTConfig(),
                      on_step: Callable[[int], None] = lambda k: None) -> tuple[Path, list[list[float]]]:
    """Learn every concept's tokens on `bench`'s training views; returns the bundle and the [image, text] loss curve."""
    pipe = ShowoPipeline.from_pretrained(showo, magvit)
    views = training_views(bench)
    for concept in views:
        pipe.add_concept(concept)
    data = supervised_data(pipe, views, config.views_per_photo, config.seed, pipe.concepts)
    pipe.model.requires_grad_(False)
    for tensor in row_tensors(pipe):
        tensor.requires_grad_(True)
    rows = ConceptRows(pipe)
    torch.manual_seed(config.seed)
    curve = fit(pipe, data, list(rows.params.values()), config.steps, config.learning_rate, config.batch, config.seed,
                after_backward=rows.gather_grads, after_step=rows.scatter, on_step=on_step)
    return export_bundle(pipe, showo, magvit, out, "concepts"), curve
