"""DINOv2 image-image cosine (identity preservation; the DER reward)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from unifybench_pp.hub import go_offline_if_hub_unreachable

from ..scoring_config import DEFAULT_DINOV2
from .base import (
    ImageInput,
    ReferenceCache,
    batches,
    mean_reference_cosine,
    pick_device,
    to_pil,
    unavailable,
)


class DinoScorer:
    def __init__(self, spec: str = DEFAULT_DINOV2, device: str | None = None, batch_size: int = 32) -> None:
        from transformers import AutoImageProcessor, AutoModel

        self.model_id = spec
        self.device = pick_device(device)
        self.batch_size = batch_size
        try:
            offline = go_offline_if_hub_unreachable()
            self._model = AutoModel.from_pretrained(spec, local_files_only=offline).to(self.device).eval()
            self._processor = AutoImageProcessor.from_pretrained(spec, local_files_only=offline)
        except Exception as error:
            raise unavailable("DINOv2", spec, error) from error
        self.references = ReferenceCache(self.image_features, batch_size)

    @torch.inference_mode()
    def image_features(self, images: Sequence[ImageInput]) -> torch.Tensor:
        """L2-normalized CLS embeddings (the model's pooled output)."""
        out = []
        for chunk in batches([to_pil(i) for i in images], self.batch_size):
            pixels = self._processor(images=list(chunk), return_tensors="pt")["pixel_values"].to(self.device)
            out.append(F.normalize(self._model(pixel_values=pixels).pooler_output.float(), dim=-1).cpu())
        return torch.cat(out)

    def similarity(self, images: Sequence[ImageInput], references: Sequence[Sequence[Path | str]]) -> list[float]:
        return mean_reference_cosine(self.image_features(images), references, self.references)
