"""A faithful re-implementation of the official Show-o MaskGIT loop, as the reference our sampler is measured against.

Per step it re-encodes the whole sequence (text, <|soi|>, image, <|eoi|>) for
the conditional and unconditional rows in one batch, computes logits over the
full vocabulary at every position, then slices the image positions and the
image codes (`logits[:, -(N + 1):-1, image_offset:-1]`), as Show-o's
`t2i_generate` does, with the omni-attention mask of its
`create_attention_mask_predict_next(..., rm_pad_in_image=True)`.
"""

from __future__ import annotations

import math

import torch

from baselines.showo.model import Showo
from baselines.showo.vocab import Vocab


def official_mask(sequence: torch.Tensor, vocab: Vocab) -> torch.Tensor:
    """Bool (B, 1, L, L): text causal without padding keys; the image segment sees all non-pad tokens."""
    n, length = sequence.shape
    is_pad = sequence == vocab.pad
    starts = torch.cumsum(sequence == vocab.soi, 1)
    ends = torch.cumsum(sequence == vocab.eoi, 1)
    in_image = (starts > ends) | (sequence == vocab.soi) | (sequence == vocab.eoi)
    causal = torch.tril(torch.ones(length, length, dtype=torch.bool))
    mask = (~in_image)[:, :, None] & causal[None] & ~is_pad[:, None, :]
    image_rows = in_image[:, :, None] & ~is_pad[:, None, :]
    mask = torch.where(in_image[:, :, None], image_rows, mask)
    eye = torch.eye(length, dtype=torch.bool)[None]
    return (mask | (is_pad[:, :, None] & eye))[:, None]


@torch.inference_mode()
def official_generate(model: Showo, vocab: Vocab, prefix: torch.Tensor, uncond: torch.Tensor, n_tokens: int,
                      steps: int, guidance: float, temperature: float, generator: torch.Generator) -> torch.Tensor:
    batch, codebook = prefix.shape[0], vocab.codebook_size
    image = torch.full((batch, n_tokens), vocab.mask, dtype=torch.long)
    soi = torch.full((batch, 1), vocab.soi, dtype=torch.long)
    eoi = torch.full((batch, 1), vocab.eoi, dtype=torch.long)
    codes = torch.full((batch, n_tokens), codebook, dtype=torch.long)
    sampled = codes
    for step in range(steps):
        cond = torch.cat([prefix, soi, image, eoi], dim=1)
        rows = torch.cat([cond, torch.cat([uncond, soi, image, eoi], dim=1)]) if guidance > 0 else cond
        logits = model(rows, attention_mask=official_mask(rows, vocab)).logits
        if guidance > 0:
            c, u = logits.chunk(2)
            logits = (1 + guidance) * c - guidance * u
        logits = logits[:, -(n_tokens + 1):-1, vocab.image_offset:-1]
        probs = logits.softmax(dim=-1)
        sampled = torch.multinomial(probs.reshape(-1, codebook), 1, generator=generator)[:, 0].view(batch, n_tokens)
        unknown = codes == codebook
        sampled = torch.where(unknown, sampled, codes)
        ratio = (step + 1) / steps
        selected = torch.gather(probs, -1, sampled[..., None]).squeeze(-1)
        selected = torch.where(unknown, selected, torch.finfo(selected.dtype).max)
        mask_len = torch.tensor([math.floor(n_tokens * math.cos(ratio * math.pi * 0.5))])
        mask_len = torch.max(torch.tensor([1]), torch.min(unknown.sum(-1, keepdim=True) - 1, mask_len))
        temperature = temperature * (1.0 - ratio)
        noise = torch.zeros_like(selected).uniform_(0, 1, generator=generator)
        gumbel = -torch.log(torch.clamp(-torch.log(torch.clamp(noise, min=1e-20)), min=1e-20))
        confidence = torch.log(torch.clamp(selected, min=1e-20)) + temperature * gumbel
        cut_off = torch.gather(torch.sort(confidence, dim=-1).values, 1, mask_len.long())
        masking = confidence < cut_off
        image = torch.where(masking, vocab.mask, sampled + vocab.image_offset)
        codes = torch.where(masking, codebook, sampled)
    return sampled
