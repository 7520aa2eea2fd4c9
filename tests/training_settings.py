"""The tiny preset made faster still, for the training tests."""

from __future__ import annotations

from pathlib import Path

from training.config import TrainConfig, load_config

FAST = ["group_size=3", "generation_steps=4", "reasoning_max_new_tokens=4", "save_every=1", "dgs.screen_batch=2",
        "dgs.budget_factor=2"]


def fast_config(mini_build: Path, *extra: str) -> TrainConfig:
    return load_config(None, "tiny", [f"benchmark={mini_build}", *FAST, *extra])
