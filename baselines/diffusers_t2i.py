"""`diffusers-t2i`: Stable Diffusion personalized per concept, generation only (the Gen. Only rows).

Two ways to personalize, given as a mapping concept -> path:
- `dreambooth={"bo": "/ckpts/db-bo", ...}`: a fine-tuned pipeline folder per concept
  (the concept token is replaced by DreamBooth's identifier, option `identifier`, default "sks");
- `textual_inversion={"bo": "/emb/bo.safetensors", ...}` on the base pipeline given by
  `--checkpoint`: the embedding is loaded under the concept's own token (`<bo>`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image

from unifybench_pp.schema import Concept

from .base import GenerateRequest, ModelError, UnderstandRequest, checked_number, weights_not_found


def _load_pipeline(path: str, device: str, dtype: torch.dtype | None) -> Any:
    from diffusers import DiffusionPipeline

    try:
        pipe = DiffusionPipeline.from_pretrained(path, torch_dtype=dtype, safety_checker=None,
                                                 requires_safety_checker=False)
    except (OSError, ValueError) as error:
        raise weights_not_found("diffusers-t2i", path, error) from None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


class DiffusersT2I:
    capabilities = {"generate"}

    def __init__(self, checkpoint: str | None, device: str = "cpu", dreambooth: dict[str, str] | None = None,
                 textual_inversion: dict[str, str] | None = None, identifier: str = "sks", steps: int = 50,
                 guidance_scale: float = 7.5, height: int | None = None, width: int | None = None,
                 dtype: str | None = None) -> None:
        if bool(dreambooth) == bool(textual_inversion):
            raise ModelError("diffusers-t2i needs exactly one of dreambooth={concept: path} or "
                             "textual_inversion={concept: path}")
        if textual_inversion and not checkpoint:
            raise ModelError("weights for diffusers-t2i not found: pass --checkpoint PATH or a hub id "
                             "(the base pipeline the embeddings were trained on)")
        self.name = "diffusers-t2i"
        steps = checked_number(self.name, "steps", steps, whole=True, least=1)
        guidance_scale = checked_number(self.name, "guidance_scale", guidance_scale)
        height, width = (None if value is None else checked_number(self.name, name, value, whole=True, least=8)
                         for name, value in (("height", height), ("width", width)))
        self.device, self.dtype = device, getattr(torch, dtype) if dtype else None
        self.dreambooth, self.textual_inversion = dreambooth or {}, textual_inversion or {}
        self.identifier = identifier
        self.call_options = {"num_inference_steps": steps, "guidance_scale": guidance_scale,
                             "height": height, "width": width}
        self._base = _load_pipeline(checkpoint, device, self.dtype) if textual_inversion else None
        self.recipe = {"steps": steps, "guidance_scale": guidance_scale,
                       "resolution": f"{height}x{width}" if height and width else "the pipeline's default",
                       "seed": "a torch.Generator per image, seeded with the request's seed",
                       "precision": dtype or "the checkpoint's", "images_per_request": 1}
        self._pipes: dict[str, Any] = {}
        self._loaded_embeddings: set[str] = set()

    def personalize(self, concept: Concept, train_images: list[Path]) -> None:
        if self.dreambooth:
            if concept.id not in self.dreambooth:
                raise ModelError(f"no DreamBooth checkpoint for concept {concept.id}: add it to the dreambooth option")
            if concept.id not in self._pipes:
                self._pipes = {concept.id: _load_pipeline(self.dreambooth[concept.id], self.device, self.dtype)}
            return
        if concept.id not in self.textual_inversion:
            raise ModelError(f"no Textual Inversion embedding for concept {concept.id}: add it to textual_inversion")
        if concept.id not in self._loaded_embeddings:
            self._base.load_textual_inversion(self.textual_inversion[concept.id], token=concept.token)
            self._loaded_embeddings.add(concept.id)

    def _prompt(self, request: GenerateRequest) -> str:
        concept = request.concept
        if self.dreambooth:
            return request.prompt.replace(concept.token, f"{self.identifier} {concept.class_noun}")
        return request.prompt

    @torch.inference_mode()
    def generate(self, requests: list[GenerateRequest]) -> list[Image.Image]:
        """One pipeline call per concept in the batch; one generator per image, so no image depends on its batch."""
        images: dict[str, Image.Image] = {}
        options = {k: v for k, v in self.call_options.items() if v is not None}
        for concept_id in dict.fromkeys(r.concept.id for r in requests):
            group = [r for r in requests if r.concept.id == concept_id]
            pipe = self._pipes[concept_id] if self.dreambooth else self._base
            generators = [torch.Generator(device="cpu").manual_seed(r.seed) for r in group]
            out = pipe([self._prompt(r) for r in group], generator=generators, **options).images
            images.update({r.item_id: image for r, image in zip(group, out)})
        return [images[r.item_id] for r in requests]

    def understand(self, requests: list[UnderstandRequest]) -> list[str]:
        raise NotImplementedError("diffusers-t2i only generates")


def diffusers_t2i(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> DiffusersT2I:
    return DiffusersT2I(checkpoint, device, **options)
