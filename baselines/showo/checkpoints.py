"""Finding and reading checkpoint folders as the Show-o family releases them (local path or hub id)."""

from __future__ import annotations

from pathlib import Path

import torch


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
