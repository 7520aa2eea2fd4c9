"""CLIP image-text (CLIP-T) and image-image (CLIP-I) cosine scores, batched.

The authors' harness scores with OpenAI's ViT-B/32 (`clip.load("ViT-B-32.pt")`),
whose transformer blocks use QuickGELU (x * sigmoid(1.702 x)). A model built
with plain GELU around those weights gives other numbers (every item moves, by
up to 2.4e-3 with random weights), so the default builds QuickGELU and a spec
whose activation does not match its weights is refused.

Spec strings:
- `open_clip:ARCH/TAG`, default `open_clip:ViT-B-32-quickgelu/openai`: an
  open_clip architecture and a pretrained tag; the tag's training activation
  must be the architecture's (`ViT-B-32/openai` is refused: GELU around
  QuickGELU weights);
- `open_clip:ARCH/FILE`: a local state-dict file read with `weights_only`, or
  a TorchScript archive such as the harness's `ViT-B-32.pt` (OpenAI's
  published file): that is read with `torch.jit.load`, which cannot be
  limited to tensors, so it needs `clip_trusted_file` (`--clip-trusted-file`);
  its architecture comes from the file, as OpenAI's loader builds it, and
  ARCH must be a QuickGELU one;
- `open_clip:local-dir:FOLDER`: open_clip's folder layout
  (`open_clip_config.json` naming the activation, and the weights);
- anything else: a transformers CLIP hub id or folder, whose `config.json`
  names the activation with the weights (`openai/clip-vit-base-patch32`:
  `quick_gelu`).
"""

from __future__ import annotations

import hashlib
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from unifybench_pp.errors import UbppError
from unifybench_pp.hub import go_offline_if_hub_unreachable

from ..scoring_config import DEFAULT_CLIP
from .base import (
    ImageInput,
    ReferenceCache,
    ScorerUnavailable,
    as_tensor,
    batches,
    mean_reference_cosine,
    pick_device,
    to_pil,
    unavailable,
)

OPEN_CLIP = "open_clip:"
LOCAL_DIR = "local-dir:"
QUICKGELU_SUFFIX = "-quickgelu"


class ClipSpecError(UbppError, ValueError):
    """A CLIP spec that cannot mean what it says (an activation its weights were not trained with, an untrusted
    TorchScript file): refused with one line before anything is scored."""


@dataclass(frozen=True)
class ClipSource:
    """What a spec names, checked without reading any weights."""

    backend: Literal["open_clip", "torchscript", "local_dir", "transformers"]
    arch: str = ""
    pretrained: str = ""
    """The open_clip tag, or a local file (state dict or TorchScript archive); the folder for `local_dir`."""


def is_torchscript(path: Path) -> bool:
    """A TorchScript archive (what `torch.jit.save` writes: a zip holding `code/` and `constants.pkl`)."""
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") or "/code/" in name for name in archive.namelist())


def _quick_gelu(arch: str) -> bool:
    import open_clip

    config = open_clip.get_model_config(arch)
    if config is None:
        raise ClipSpecError(f"CLIP architecture {arch!r} is not one of open_clip's "
                            f"(e.g. ViT-B-32-quickgelu, the authors' OpenAI ViT-B/32)")
    return bool(config.get("quick_gelu", False))


def _activation(quick: bool) -> str:
    return "QuickGELU" if quick else "GELU"


def _matching_arch(arch: str, quick: bool) -> str:
    return arch.removesuffix(QUICKGELU_SUFFIX) + (QUICKGELU_SUFFIX if quick else "")


def parse_clip_spec(spec: str, trusted_file: bool = False) -> ClipSource:
    """The source a spec names, or ClipSpecError when its activation contradicts its weights or it names a
    TorchScript file without `trusted_file`."""
    if not spec.startswith(OPEN_CLIP):
        return ClipSource("transformers", pretrained=spec)
    name = spec.removeprefix(OPEN_CLIP)
    if name.startswith(LOCAL_DIR):
        return ClipSource("local_dir", pretrained=name.removeprefix(LOCAL_DIR))
    arch, _, pretrained = name.partition("/")
    quick = _quick_gelu(arch)
    if pretrained and is_torchscript(Path(pretrained)):
        if not trusted_file:
            raise ClipSpecError(f"CLIP file {pretrained} is a TorchScript archive (OpenAI's ViT-B-32.pt format): "
                                f"torch.jit.load runs code from it and cannot be limited to tensors, so it loads "
                                f"only with --clip-trusted-file; pass that for a file you trust")
        if not quick:
            raise ClipSpecError(f"CLIP spec {spec}: {pretrained} holds OpenAI weights, trained with QuickGELU, but "
                                f"{arch} builds GELU; use open_clip:{_matching_arch(arch, True)}/{pretrained}")
        return ClipSource("torchscript", arch, pretrained)
    import open_clip

    tag = {}
    if pretrained and not Path(pretrained).is_file():  # a tag: known under ARCH, or under its other activation
        tag = (open_clip.get_pretrained_cfg(arch, pretrained)
               or open_clip.get_pretrained_cfg(_matching_arch(arch, not quick), pretrained))
    if tag and bool(tag.get("quick_gelu", False)) != quick:
        trained = bool(tag.get("quick_gelu", False))
        raise ClipSpecError(f"CLIP spec {spec}: the {pretrained} weights were trained with {_activation(trained)} "
                            f"but {arch} builds {_activation(quick)}; use "
                            f"open_clip:{_matching_arch(arch, trained)}/{pretrained}")
    return ClipSource("open_clip", arch, pretrained)


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_torchscript_clip(path: Path) -> torch.nn.Module:
    """OpenAI's CLIP from its TorchScript archive, built as their `clip.load(..., jit=False)` builds it: the
    architecture read off the weights, QuickGELU, float32 (their loader keeps float16 on CUDA)."""
    from open_clip.model import build_model_from_openai_state_dict

    with warnings.catch_warnings():  # torch.jit.load's deprecation notice: this file exists only in that format
        warnings.simplefilter("ignore", FutureWarning)
        archive = torch.jit.load(str(path), map_location="cpu")
    # A causal mask is rebuilt from the context length; a traced open_clip model stores it as a buffer.
    state = {k: v for k, v in archive.state_dict().items() if not k.endswith("attn_mask")}
    return build_model_from_openai_state_dict(state, quick_gelu=True, cast_dtype=None).float().eval()


def openai_file_note(arch: str, path: Path) -> str:
    """Whether the file is the one OpenAI published for `arch` (its sha256 is in the download URL)."""
    import open_clip

    url = open_clip.get_pretrained_cfg(arch, "openai").get("url", "")
    sha = _sha256(path)
    return "OpenAI's published file" if sha in url else f"sha256 {sha[:16]}, not OpenAI's published {arch} file"


class ClipScorer:
    def __init__(self, spec: str = DEFAULT_CLIP, device: str | None = None, batch_size: int = 64,
                 trusted_file: bool = False) -> None:
        source = parse_clip_spec(spec, trusted_file)
        self.model_id = spec
        self.device = pick_device(device)
        self.batch_size = batch_size
        try:
            if source.backend == "transformers":
                self._load_transformers(spec)
            else:
                self._load_open_clip(source)
        except ScorerUnavailable:
            raise
        except Exception as error:  # any loading failure means: no weights here
            raise unavailable("CLIP", spec, error) from error
        self.references = ReferenceCache(self.image_features, batch_size)

    def _load_open_clip(self, source: ClipSource) -> None:
        import open_clip

        if source.backend == "torchscript":
            path = Path(source.pretrained)
            model = load_torchscript_clip(path)
            size = model.visual.image_size
            preprocess = open_clip.image_transform(size[0] if isinstance(size, tuple) else size, is_train=False)
            tokenizer_name = source.arch
            self.model_id = f"{OPEN_CLIP}{source.arch}/{path} ({openai_file_note(source.arch, path)})"
        elif source.backend == "local_dir":
            name = f"{LOCAL_DIR}{source.pretrained}"
            model, _, preprocess = open_clip.create_model_and_transforms(name)
            tokenizer_name = name
        else:
            weights = open_clip_weights(source.arch, source.pretrained) if source.pretrained else None
            model, _, preprocess = open_clip.create_model_and_transforms(source.arch, pretrained=weights)
            tokenizer_name = source.arch
        self._model = model.to(self.device).eval()
        self._preprocess = preprocess
        self._tokenizer = open_clip.get_tokenizer(tokenizer_name)
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
