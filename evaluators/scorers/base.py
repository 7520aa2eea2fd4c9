"""What every scorer model shares: the unavailability signal, image decoding, batching, caching."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import torch
from PIL import Image

from baselines.base import default_device

from .unavailable import ScorerUnavailable

T = TypeVar("T")
ImageInput = Image.Image | Path | str


def to_pil(image: ImageInput) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    with Image.open(image) as opened:
        return opened.convert("RGB")


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def pick_device(device: str | None) -> torch.device:
    return torch.device(device or default_device())


def as_tensor(output: object) -> torch.Tensor:
    """transformers 5 returns output objects from `get_*_features`; older versions a tensor."""
    if isinstance(output, torch.Tensor):
        return output
    return output.pooler_output  # type: ignore[attr-defined]


class ReferenceCache:
    """Embeddings of reference images, computed once per run and reused for every item."""

    def __init__(self, embed: Callable[[list[Image.Image]], torch.Tensor], batch_size: int) -> None:
        self._embed = embed
        self._batch_size = batch_size
        self._cache: dict[str, torch.Tensor] = {}
        self.computed = 0

    def get(self, paths: Sequence[Path | str]) -> torch.Tensor:
        missing = list(dict.fromkeys(str(p) for p in paths if str(p) not in self._cache))
        for chunk in batches(missing, self._batch_size):
            features = self._embed([to_pil(p) for p in chunk])
            self.computed += len(chunk)
            for path, feature in zip(chunk, features):
                self._cache[path] = feature
        return torch.stack([self._cache[str(p)] for p in paths])


def mean_reference_cosine(features: torch.Tensor, references: Sequence[Sequence[Path | str]],
                          cache: ReferenceCache) -> list[float]:
    """Mean cosine of each (normalized) feature to its own list of reference images."""
    scores = []
    for feature, refs in zip(features, references, strict=True):
        if not refs:
            raise ValueError("an item has no reference images to compare with")
        scores.append(float((cache.get(refs) @ feature).mean()))
    return scores


def unavailable(what: str, spec: str, error: Exception) -> ScorerUnavailable:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return ScorerUnavailable(f"{what} weights {spec!r} not available here ({first_line[:200]}); "
                             f"pass a local path or a hub id reachable from this machine")
