"""Reference and sanity rows: real photos, always-yes, text-echo. They need no weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from unifybench_pp.schema import Concept

from .base import GenerateRequest, ModelError, UnderstandRequest, open_rgb


class _NoWeights:
    capabilities: set[str] = set()

    def __init__(self, name: str, checkpoint: str | None, options: dict[str, Any]) -> None:
        if checkpoint:
            raise ModelError(f"{name} takes no checkpoint")
        if options:
            raise ModelError(f"{name} takes no options (got {', '.join(sorted(options))})")
        self.name = name

    def personalize(self, concept: Concept, train_images: list[Path]) -> None:
        pass

    def understand(self, requests: list[UnderstandRequest]) -> list[str]:
        raise NotImplementedError(f"{self.name} cannot understand")

    def generate(self, requests: list[GenerateRequest]) -> list[Image.Image]:
        raise NotImplementedError(f"{self.name} cannot generate")


class RealImages(_NoWeights):
    """The paper's Real Images row: a training photo of the concept (held out from the test photos)."""

    capabilities = {"generate"}

    def generate(self, requests: list[GenerateRequest]) -> list[Image.Image]:
        out = []
        for request in requests:
            if not request.references:
                raise ModelError(f"real-images: concept {request.concept.id} has no training photos")
            out.append(open_rgb(request.references[request.seed % len(request.references)]))
        return out


class AlwaysYes(_NoWeights):
    capabilities = {"understand"}
    sanity = True
    """A sanity baseline, not a model (baselines.base): Rec. weight 0.5 by construction."""

    def understand(self, requests: list[UnderstandRequest]) -> list[str]:
        return ["Yes" for _ in requests]


class TextEcho(_NoWeights):
    capabilities = {"understand"}
    sanity = True
    """A sanity baseline, not a model: the question it echoes holds both "yes" and "no", so the syncr1 protocol's
    Rec. reads it as right on every item (weight 1.000), and BLEU credits the copied words."""

    def understand(self, requests: list[UnderstandRequest]) -> list[str]:
        return [request.prompt for request in requests]


def real_images(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> RealImages:
    return RealImages("real-images", checkpoint, options)


def always_yes(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> AlwaysYes:
    return AlwaysYes("always-yes", checkpoint, options)


def text_echo(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> TextEcho:
    return TextEcho("text-echo", checkpoint, options)
