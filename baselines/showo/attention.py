"""Show-o's omni-attention as boolean masks (True = may attend), shaped (batch, 1, queries, keys).

Text is causal; the image block (<|soi|> image tokens <|eoi|>) attends to
itself in full and to the text before it; padding is never attended to. A
padding query attends only to itself, so no softmax row is empty.
"""

from __future__ import annotations

import torch


def _allow_self(mask: torch.Tensor, is_pad: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(mask.shape[-1], dtype=torch.bool, device=mask.device)
    return mask | (is_pad[:, None, :, None] & eye[None, None])


def causal_text_mask(is_pad: torch.Tensor) -> torch.Tensor:
    """(B, L) padding flags -> causal mask over non-padding keys."""
    length = is_pad.shape[1]
    causal = torch.tril(torch.ones(length, length, dtype=torch.bool, device=is_pad.device))
    return _allow_self(causal[None, None] & ~is_pad[:, None, None, :], is_pad)


def image_block_mask(prefix_is_pad: torch.Tensor, block_length: int) -> torch.Tensor:
    """Queries of an image block after a cached text prefix: every non-pad prefix key and the whole block."""
    batch = prefix_is_pad.shape[0]
    block = torch.ones(batch, block_length, dtype=torch.bool, device=prefix_is_pad.device)
    keys = torch.cat([~prefix_is_pad, block], dim=1)
    return keys[:, None, None, :].expand(batch, 1, block_length, keys.shape[1])


def understanding_mask(is_pad: torch.Tensor, image_end: torch.Tensor) -> torch.Tensor:
    """Multimodal understanding: causal, but everything up to <|eoi|> (inclusive) is visible to all queries."""
    length = is_pad.shape[1]
    positions = torch.arange(length, device=is_pad.device)
    causal = positions[None, :, None] >= positions[None, None, :]
    in_image = positions[None, None, :] <= image_end[:, None, None]
    mask = (causal | in_image) & ~is_pad[:, None, :]
    return _allow_self(mask[:, None], is_pad)


def generation_mask(prefix_is_pad: torch.Tensor, block_length: int) -> torch.Tensor:
    """Text prefix and image block in one sequence: the prefix causal over itself, the block as `image_block_mask`."""
    batch, prefix = prefix_is_pad.shape
    text = torch.cat([causal_text_mask(prefix_is_pad),
                      torch.zeros(batch, 1, prefix, block_length, dtype=torch.bool, device=prefix_is_pad.device)], -1)
    return torch.cat([text, image_block_mask(prefix_is_pad, block_length)], dim=2)
