"""CLIP image-text (CLIP-T) and image-image (CLIP-I) cosine scores, batched.

Spec strings: `open_clip:ARCH/PRETRAINED` (default `open_clip:ViT-B-32/openai`,
the model the authors used; PRETRAINED may be a local weights file) or a
transformers CLIP hub id / local folder (`openai/clip-vit-base-patch32`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ..scoring_config import DEFAULT_CLIP
from .base import (
    ImageInput,
    ReferenceCache,
    ScorerUnavailable,
    as_tensor,
    batches,
    go_offline_if_hub_unreachable,
    mean_reference_cosine,
    pick_device,
    to_pil,
    unavailable,
)

def open_clip_weights(arch: str, pretrained: str) -> str:
    """A local weights file for an open_clip tag; offline, only the Hugging Face cache is consulted."""
    import open_clip
    from huggingface_hub import hf_hub_download

    if Path(pretrained).is_file() or not go_offline_if_hub_unreachable():
        return pretrained
    config = open_clip.get_pretrained_cfg(arch, pretrained)
    repo = (config or {}).get("hf_hub", "").rstrip("/")
    if not repo:
        raise ScorerUnavailable(f"open_clip weights {arch}/{pretrained} are not on the Hub and there is no network")
    for filename in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        try:
            return hf_hub_download(repo, filename, local_files_only=True)
        except Exception:
            continue
    raise ScorerUnavailable(f"open_clip weights {arch}/{pretrained} ({repo}) are not in the local Hugging Face "
                            f"cache and the Hub cannot be reached")


class ClipScorer:
    def __init__(self, spec: str = DEFAULT_CLIP, device: str | None = None, batch_size: int = 64) -> None:
        self.model_id = spec
        self.device = pick_device(device)
        self.batch_size = batch_size
        try:
            if spec.startswith("open_clip:"):
                self._load_open_clip(spec.removeprefix("open_clip:"))
            else:
                self._load_transformers(spec)
        except ScorerUnavailable:
            raise
        except Exception as error:  # any loading failure means: no weights here
            raise unavailable("CLIP", spec, error) from error
        self.references = ReferenceCache(self.image_features, batch_size)

    def _load_open_clip(self, name: str) -> None:
        import open_clip

        arch, _, pretrained = name.partition("/")
        model, _, preprocess = open_clip.create_model_and_transforms(
            arch, pretrained=open_clip_weights(arch, pretrained) if pretrained else None)
        self._model = model.to(self.device).eval()
        self._preprocess = preprocess
        self._tokenizer = open_clip.get_tokenizer(arch)
        self._backend = "open_clip"

    def _load_transformers(self, spec: str) -> None:
        from transformers import AutoProcessor, CLIPModel

        offline = go_offline_if_hub_unreachable()
        self._model = CLIPModel.from_pretrained(spec, local_files_only=offline).to(self.device).eval()
        self._processor = AutoProcessor.from_pretrained(spec, local_files_only=offline)
        self._backend = "transformers"

    @torch.inference_mode()
    def image_features(self, images: Sequence[ImageInput]) -> torch.Tensor:
        """L2-normalized image embeddings, computed in batches."""
        out = []
        for chunk in batches([to_pil(i) for i in images], self.batch_size):
            if self._backend == "open_clip":
                pixels = torch.stack([self._preprocess(i) for i in chunk]).to(self.device)
                features = self._model.encode_image(pixels)
            else:
                pixels = self._processor(images=list(chunk), return_tensors="pt")["pixel_values"].to(self.device)
                features = as_tensor(self._model.get_image_features(pixel_values=pixels))
            out.append(F.normalize(features.float(), dim=-1).cpu())
        return torch.cat(out)

    @torch.inference_mode()
    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        out = []
        for chunk in batches(list(texts), self.batch_size):
            if self._backend == "open_clip":
                features = self._model.encode_text(self._tokenizer(list(chunk)).to(self.device))
            else:
                tokens = self._processor(text=list(chunk), return_tensors="pt", padding=True, truncation=True,
                                         max_length=self._model.config.text_config.max_position_embeddings)
                features = as_tensor(self._model.get_text_features(
                    input_ids=tokens["input_ids"].to(self.device),
                    attention_mask=tokens["attention_mask"].to(self.device)))
            out.append(F.normalize(features.float(), dim=-1).cpu())
        return torch.cat(out)

    def clip_t(self, images: Sequence[ImageInput], texts: Sequence[str]) -> list[float]:
        """Cosine between each image and its text (not x100, not clamped, as the authors report)."""
        if len(images) != len(texts):
            raise ValueError("clip_t needs one text per image")
        return (self.image_features(images) * self.text_features(texts)).sum(-1).tolist()

    def clip_i(self, images: Sequence[ImageInput], references: Sequence[Sequence[Path | str]]) -> list[float]:
        """Mean cosine between each image and its concept's test reference images."""
        return mean_reference_cosine(self.image_features(images), references, self.references)
