"""BLIP-2 image-text similarity (the BER reward): the ITC cosine, max over the query tokens."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from unifybench_pp.hub import go_offline_if_hub_unreachable

from ..scoring_config import DEFAULT_BLIP2
from .base import ImageInput, batches, pick_device, to_pil, unavailable


class Blip2Scorer:
    def __init__(self, spec: str = DEFAULT_BLIP2, device: str | None = None, batch_size: int = 16) -> None:
        from transformers import AutoProcessor, Blip2ForImageTextRetrieval

        self.model_id = spec
        self.device = pick_device(device)
        self.batch_size = batch_size
        try:
            offline = go_offline_if_hub_unreachable()
            self._model = Blip2ForImageTextRetrieval.from_pretrained(spec,
                                                                     local_files_only=offline).to(self.device).eval()
            self._processor = AutoProcessor.from_pretrained(spec, local_files_only=offline)
        except Exception as error:
            raise unavailable("BLIP-2", spec, error) from error

    @torch.inference_mode()
    def similarity(self, images: Sequence[ImageInput], texts: Sequence[str]) -> list[float]:
        """Cosine between each image and its own text, as BLIP-2's contrastive head defines it."""
        if len(images) != len(texts):
            raise ValueError("similarity needs one text per image")
        scores: list[float] = []
        pairs = list(zip([to_pil(i) for i in images], texts))
        for chunk in batches(pairs, self.batch_size):
            inputs = self._processor(images=[p[0] for p in chunk], text=[p[1] for p in chunk],
                                     return_tensors="pt", padding=True, truncation=True)
            output = self._model(**{k: v.to(self.device) for k, v in inputs.items()},
                                 use_image_text_matching_head=False)
            scores += output.logits_per_image.float().diagonal().cpu().tolist()
        return scores
