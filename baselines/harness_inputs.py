"""The text and images the public Sync-R1 harness gives its external baselines (Janus, BAGEL): one definition
for every adapter that reproduces them (`evaluation/tasks.py`, `common.py`, `adapters/external_baseline.py`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from unifybench_pp.schema import Concept

from .base import GenerateRequest, UnderstandRequest, open_rgb


def joined(*parts: str) -> str:
    """The harness's `_join_text_segments`: stripped, empty parts dropped, one per line."""
    return "\n".join(part.strip() for part in parts if part and part.strip())


def conditioning_text(concept: Concept) -> str:
    """`build_ip_prefix_text`: "a photo of bo" (the bare name; Janus IP and both BAGEL modes show it)."""
    return f"a photo of {concept.id}"


def source_prompt(request: GenerateRequest) -> str:
    """A generation item's `source_prompt`: the harness writes its Pure Gen. templates with the bare concept
    name ("a bo wearing ..."); every other prompt keeps the token as released."""
    if request.task == "pure_gen":
        return request.prompt.replace(request.concept.token, request.concept.id)
    return request.prompt


def is_black(image: Image.Image) -> bool:
    """The release's black image (Rea., Dense Rea., text-only QA), which the harness never shows (it skips files
    named `black_*`; a build stores images by hash, so here it is the image whose every pixel is 0)."""
    return not np.asarray(image).any()


def shown_image(request: UnderstandRequest) -> list[Image.Image]:
    """The request's image as the harness shows it: none when it is the release's black image."""
    target = open_rgb(request.image)
    return [] if is_black(target) else [target]
