"""Image similarities that need no model weights: colour histograms and low-resolution structure (SSIM).

They are the offline stand-ins the tiny training preset rewards with (named
`colour` and `ssim`, never reported as DER or BER): weak proxies for identity,
but real measurements that a policy can improve.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .base import ImageInput, ReferenceCache, to_pil

BINS = 8
"""Histogram bins per RGB channel (8^3 = 512 joint bins)."""
SSIM_SIDE = 32


def colour_histogram(images: Sequence[Image.Image]) -> torch.Tensor:
    """(B, 512) joint RGB histograms, each summing to 1."""
    out = []
    for image in images:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int64) * BINS // 256
        codes = (pixels[..., 0] * BINS + pixels[..., 1]) * BINS + pixels[..., 2]
        counts = np.bincount(codes.ravel(), minlength=BINS**3).astype(np.float64)
        out.append(torch.from_numpy(counts / counts.sum()))
    return torch.stack(out)


def grey_thumbnail(images: Sequence[Image.Image]) -> torch.Tensor:
    """(B, 32, 32) greyscale in [0, 1]."""
    return torch.stack([torch.from_numpy(np.asarray(image.convert("L").resize((SSIM_SIDE, SSIM_SIDE),
                                                                               Image.BICUBIC),
                                                    dtype=np.float64) / 255.0) for image in images])


class PixelScorer:
    model_id = f"colour histogram intersection ({BINS}^3 bins) / SSIM at {SSIM_SIDE} px (scikit-image)"

    def __init__(self, batch_size: int = 64) -> None:
        self._histograms = ReferenceCache(colour_histogram, batch_size)
        self._thumbnails = ReferenceCache(grey_thumbnail, batch_size)

    def colour(self, images: Sequence[ImageInput], references: Sequence[Sequence[Path | str]]) -> list[float]:
        """Mean histogram intersection (in [0, 1]) of each image with its reference images."""
        histograms = colour_histogram([to_pil(i) for i in images])
        scores = []
        for histogram, refs in zip(histograms, references, strict=True):
            scores.append(float(torch.minimum(self._histograms.get(refs), histogram).sum(-1).mean()))
        return scores

    def ssim(self, images: Sequence[ImageInput], references: Sequence[Sequence[Path | str]]) -> list[float]:
        """Mean structural similarity (in [-1, 1]) of each greyscale thumbnail with its references'."""
        from skimage.metrics import structural_similarity

        thumbnails = grey_thumbnail([to_pil(i) for i in images])
        scores = []
        for thumbnail, refs in zip(thumbnails, references, strict=True):
            values = [structural_similarity(thumbnail.numpy(), ref.numpy(), data_range=1.0)
                      for ref in self._thumbnails.get(refs)]
            scores.append(float(np.mean(values)))
        return scores
