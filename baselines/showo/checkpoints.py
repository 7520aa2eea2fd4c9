"""Finding and reading checkpoint folders as the Show-o family releases them (local path or hub id)."""

from __future__ import annotations

import math
import pickle
import re
from pathlib import Path

import torch

from unifybench_pp.paths import path_component


def resolve(path_or_hub_id: str | Path) -> Path:
    path = Path(path_or_hub_id)
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(str(path_or_hub_id), allow_patterns=["*.json", "*.txt", "*.safetensors", "*.bin"]))


def read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    safetensors = sorted(folder.glob("*.safetensors"))
    if safetensors:
        from safetensors.torch import load_file

        state: dict[str, torch.Tensor] = {}
        for file in safetensors:
            state.update(load_file(str(file)))
        return state
    bins = sorted(folder.glob("*.bin"))
    if not bins:
        raise FileNotFoundError(f"no weights (*.safetensors or *.bin) in {folder}")
    state = {}
    for file in bins:
        state.update(torch.load(file, map_location="cpu", weights_only=True))
    return state


def parameter_count(folder: Path) -> int:
    """The parameters of a Show-o folder's safetensors weights, read from their headers (nothing is loaded)."""
    from safetensors import safe_open

    count = 0
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), "pt") as weights:
            count += sum(math.prod(weights.get_slice(key).get_shape()) for key in weights.keys())
    return count


def epochs_in(folder: Path, pattern: str) -> list[int]:
    """The epochs N, ascending, of the files in `folder` whose names match `pattern` (one group: N)."""
    return sorted(int(m.group(1)) for p in folder.glob("*") if (m := re.fullmatch(pattern, p.name)))


SYNC_R1_FILE = r"model_epoch(\d+)\.pt"
"""The file name the authors' `save_distributed_model` gives a concept's weights after epoch N."""


def sync_r1_model_file(root: Path, concept: str, epoch: int | None = None) -> Path:
    """The authors' Sync-R1 weights for a concept, `root/<concept>/model_epoch<N>.pt` (their `rl_weight_root`, what
    `grpo.py` saves under `save_dir/model_weights/`): epoch N, or the highest one there."""
    folder = root / path_component(concept, "concept")
    epochs = epochs_in(folder, SYNC_R1_FILE)
    chosen = epoch if epoch is not None else (epochs[-1] if epochs else None)
    if chosen is None or chosen not in epochs:
        found = f"epochs there: {', '.join(map(str, epochs))}" if epochs else "none there"
        wanted = f"model_epoch{chosen}.pt" if chosen is not None else "model_epoch<N>.pt"
        raise FileNotFoundError(f"Sync-R1 weights for {concept} not found: expected {folder / wanted} ({found})")
    return folder / f"model_epoch{chosen}.pt"


def read_sync_r1_model(path: Path) -> dict[str, torch.Tensor]:
    """The whole Show-o state of a `model_epoch<N>.pt` (`{"model_state_dict", "epoch", "optimizer_state_dict"}`,
    as the authors' `save_distributed_model` writes it), read with `weights_only=True` as their loader does (which
    also requires `epoch`; we do not use it); memory-mapped, so the optimizer state saved beside the weights is
    never read."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as error:  # e.g. the TorchVersion their older saves held
        raise ValueError(f"{path} cannot be read with weights_only=True: {str(error).splitlines()[0][:200]}") from None
    if not isinstance(saved, dict) or "model_state_dict" not in saved:
        raise ValueError(f"{path} is not a Sync-R1 training file: it has no 'model_state_dict'")
    return saved["model_state_dict"]
