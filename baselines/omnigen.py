"""`omnigen-ip`: OmniGen v1 through diffusers, zero-shot image-prompted generation (a Gen. Only row).

The authors' harness has no OmniGen, so the prompt recipe is ours, written the way OmniGen's own
subject-driven examples are ("A man in a black shirt is reading a book. The man is the right man in
<img><|image_1|></img>."): the concept token becomes its class noun, and one sentence points at the concept's
first training photo, given as image 1:

    a <bo> in the jungle  ->  a dog in the jungle. The dog is the one in <img><|image_1|></img>.

Sampling defaults are the pipeline's own (1024 px, 50 steps, guidance 2.5, image guidance 1.6, input photos
at most 1024 px), set explicitly and recorded as the run's recipe. Each request gets its own generator seeded
with the request's seed, one request per call, so an image never depends on its batch. The pipeline samples
the input photo's VAE latent without that generator (from torch's global stream), so the global stream is
seeded with the same seed before each call: without it the same request gives a different image each time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image

from unifybench_pp.schema import Concept

from .base import GenerateRequest, ModelError, UnderstandRequest, checked_number, open_rgb, weights_not_found

IMAGE_TAG = "<img><|image_1|></img>"


def omnigen_prompt(prompt: str, concept: Concept) -> str:
    """The generation prompt as OmniGen is asked it (see the module docstring)."""
    text = prompt.replace(concept.token, concept.class_noun).strip().rstrip(".")
    return f"{text}. The {concept.class_noun} is the one in {IMAGE_TAG}."


class OmniGen:
    capabilities = {"generate"}

    def __init__(self, checkpoint: str | None, device: str = "cpu", steps: int = 50, guidance_scale: float = 2.5,
                 img_guidance_scale: float = 1.6, height: int = 1024, width: int = 1024,
                 max_input_image_size: int = 1024, dtype: str | None = None) -> None:
        try:
            from diffusers import OmniGenPipeline
        except ImportError:
            raise ModelError("omnigen-ip needs diffusers 0.33 or newer: pip install 'unifybench-pp[omnigen]'") from None
        steps = checked_number("omnigen-ip", "steps", steps, whole=True, least=1)
        guidance_scale = checked_number("omnigen-ip", "guidance_scale", guidance_scale)
        img_guidance_scale = checked_number("omnigen-ip", "img_guidance_scale", img_guidance_scale)
        height, width, max_input_image_size = (checked_number("omnigen-ip", name, value, whole=True, least=16)
                                               for name, value in (("height", height), ("width", width),
                                                                   ("max_input_image_size", max_input_image_size)))
        if not checkpoint:
            raise ModelError("weights for omnigen-ip not found: pass --checkpoint PATH or a hub id "
                             "(e.g. Shitao/OmniGen-v1-diffusers)")
        self.name = "omnigen-ip"
        try:
            precision = getattr(torch, dtype) if dtype else None
            self.pipe = OmniGenPipeline.from_pretrained(checkpoint, torch_dtype=precision).to(device)
        except (OSError, ValueError, AttributeError) as error:
            raise weights_not_found("omnigen-ip", checkpoint, error) from None
        self.pipe.set_progress_bar_config(disable=True)
        self.call_options = {"num_inference_steps": steps, "guidance_scale": guidance_scale,
                             "img_guidance_scale": img_guidance_scale, "height": height, "width": width,
                             "max_input_image_size": max_input_image_size}
        self.recipe = {**self.call_options, "images_per_request": 1, "reference_images": 1,
                       "prompt": f"token -> class noun, then 'The <class> is the one in {IMAGE_TAG}.'",
                       "seed": "the request's seed: its torch.Generator and torch's global stream",
                       "precision": str(self.pipe.transformer.dtype).removeprefix("torch."),
                       "scheduler": type(self.pipe.scheduler).__name__}
        self._references: dict[str, Image.Image] = {}
        """Concept -> its first training photo, decoded once."""

    def personalize(self, concept: Concept, train_images: list[Path]) -> None:
        if not train_images:
            raise ModelError(f"omnigen-ip: concept {concept.id} has no training photo to show")
        self._references[concept.id] = open_rgb(train_images[0])

    @torch.inference_mode()
    def generate(self, requests: list[GenerateRequest]) -> list[Image.Image]:
        images = []
        for request in requests:
            generator = torch.Generator(device="cpu").manual_seed(request.seed)
            torch.manual_seed(request.seed)  # the pipeline samples the photo's VAE latent from the global stream
            images.append(self.pipe(prompt=omnigen_prompt(request.prompt, request.concept),
                                    input_images=[self._references[request.concept.id]],
                                    generator=generator, **self.call_options).images[0])
        return images

    def understand(self, requests: list[UnderstandRequest]) -> list[str]:
        raise NotImplementedError("omnigen-ip only generates")


def omnigen_ip(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> OmniGen:
    return OmniGen(checkpoint, device, **options)
