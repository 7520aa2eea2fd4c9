"""`hf-vlm`: any transformers image-text-to-text model with a chat template (Qwen2.5-VL, LLaVA, Chameleon, ...).

The concept is given as text (`mode=tp`: its class and profile sentence) or as
reference photos (`mode=ip`: up to `ip_images` training photos before the
question). Understanding only; greedy decoding, batched with left padding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image

from unifybench_pp.prompts import tp_prefix
from unifybench_pp.schema import Concept

from .base import GenerateRequest, ModelError, UnderstandRequest, checked_number, open_rgb, weights_not_found


class HFVisionLanguageModel:
    capabilities = {"understand"}

    def __init__(self, checkpoint: str | None, device: str = "cpu", mode: str = "tp", max_new_tokens: int = 100,
                 ip_images: int = 3, dtype: str | None = None) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if not checkpoint:
            raise ModelError("weights for hf-vlm not found: pass --checkpoint PATH or a hub id "
                             "(e.g. Qwen/Qwen2.5-VL-3B-Instruct)")
        if mode not in ("tp", "ip"):
            raise ModelError(f"hf-vlm mode must be tp or ip, got {mode!r}")
        self.name = f"hf-vlm-{mode}"
        max_new_tokens = checked_number(self.name, "max_new_tokens", max_new_tokens, whole=True, least=1)
        ip_images = checked_number(self.name, "ip_images", ip_images, whole=True, least=1)
        try:
            self.processor = AutoProcessor.from_pretrained(checkpoint)
            self.model = AutoModelForImageTextToText.from_pretrained(
                checkpoint, dtype=getattr(torch, dtype) if dtype else None).to(device).eval()
        except (OSError, ValueError) as error:
            raise weights_not_found("hf-vlm", checkpoint, error) from None
        self.processor.tokenizer.padding_side = "left"
        self.device, self.mode = device, mode
        self.max_new_tokens, self.ip_images = max_new_tokens, ip_images
        self.recipe = {"understanding": f"greedy, at most {max_new_tokens} new tokens, batched with left padding",
                       "concept": "name and profile as text" if mode == "tp" else f"up to {ip_images} training photos",
                       "precision": str(self.model.dtype).removeprefix("torch.")}
        self._references: dict[str, list[Path]] = {}

    def personalize(self, concept: Concept, train_images: list[Path]) -> None:
        self._references[concept.id] = list(train_images[: self.ip_images])

    def messages(self, request: UnderstandRequest) -> tuple[list[dict[str, Any]], list[Image.Image]]:
        """Chat messages and the images they refer to, in order."""
        concept = request.concept
        content: list[dict[str, Any]] = []
        images: list[Image.Image] = []
        if self.mode == "ip":
            for path in self._references.get(concept.id, []):
                content.append({"type": "image"})
                images.append(open_rgb(path))
            content.append({"type": "text", "text": f"These photos show {concept.token}, a {concept.class_noun}.\n"})
        else:
            content.append({"type": "text", "text": tp_prefix(concept.id, concept.info) + "\n"})
        content.append({"type": "image"})
        images.append(open_rgb(request.image))
        content.append({"type": "text", "text": request.prompt})
        return [{"role": "user", "content": content}], images

    @torch.inference_mode()
    def understand(self, requests: list[UnderstandRequest]) -> list[str]:
        texts, images = [], []
        for request in requests:
            messages, row_images = self.messages(request)
            texts.append(self.processor.apply_chat_template(messages, add_generation_prompt=True))
            images += row_images
        inputs = self.processor(text=texts, images=images or None, padding=True, return_tensors="pt").to(self.device)
        output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new = output[:, inputs["input_ids"].shape[1]:]
        return [text.strip() for text in self.processor.batch_decode(new, skip_special_tokens=True)]

    def generate(self, requests: list[GenerateRequest]) -> list[Image.Image]:
        raise NotImplementedError("hf-vlm models only understand")


def hf_vlm(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> HFVisionLanguageModel:
    return HFVisionLanguageModel(checkpoint, device, **options)
