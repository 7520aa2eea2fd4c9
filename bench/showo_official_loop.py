"""Show-o's MaskGIT loop restated from the authors' arithmetic: the reference our sampler is measured against.

It follows Show-o's `Showo.t2i_generate` (models/modeling_showo.py), the
cosine schedule and `mask_by_random_topk` of models/sampling.py and the mask of
`create_attention_mask_predict_next(..., rm_pad_in_image=True)`
(training/prompting_utils.py), not our sampler:

- every step re-encodes the whole sequence (text, <|soi|>, image, <|eoi|>),
  conditional rows then unconditional rows in one batch, under one attention
  mask built once before the loop, and slices the full-vocabulary logits to the
  image positions and codes (`[:, -(N + 1):-1, image_offset:-1]`);
- the state holds the mask token's id (not a code) where a token is unknown;
- the schedule is evaluated on a float32 tensor made from the Python ratio and
  floored there (`floor(N * cos(pi/2 * ratio))` in float32);
- confidence is log(p) plus temperature-scaled Gumbel noise, both logs clamped
  at 1e-20; positions below the mask_len-th smallest confidence are re-masked.
"""

from __future__ import annotations

import math

import torch

from baselines.showo.model import Showo
from baselines.showo.vocab import Vocab


def official_mask(sequence: torch.Tensor, vocab: Vocab) -> torch.Tensor:
    """Bool (B, 1, L, L), True = may attend, for left-padded text followed by one image segment.

    Text rows are causal, and rows after the padding see nothing up to the last
    pad; rows of the image segment (<|soi|> .. <|eoi|>) see every non-pad position.
    Padding rows stay causal among the pads (their outputs are never read).
    """
    length = sequence.shape[1]
    is_pad = sequence == vocab.pad
    opened = torch.cumsum((sequence == vocab.soi).long(), 1)
    closed = torch.cumsum((sequence == vocab.eoi).long(), 1)
    in_image = (opened > closed) | (sequence == vocab.soi) | (sequence == vocab.eoi)
    position = torch.arange(length, device=sequence.device)
    causal = position[:, None] >= position[None, :]
    pad_positions = torch.where(is_pad, position, torch.full_like(position, -1))
    last_pad = pad_positions.max(1).values  # -1 where a row has no padding
    after_padding = position[None, :, None] > last_pad[:, None, None]
    up_to_padding = position[None, None, :] <= last_pad[:, None, None]
    text = causal[None] & ~(after_padding & up_to_padding)
    image = ~is_pad[:, None, :].expand(-1, length, -1)
    return torch.where(in_image[:, :, None], image, text)[:, None]


def official_mask_len(step: int, steps: int, n_tokens: int) -> torch.Tensor:
    """The float32 (1,) count of tokens to re-mask, computed as Show-o's loop computes it."""
    ratio = torch.tensor(1.0 * (step + 1) / steps)  # a Python float becomes a float32 tensor
    mask_ratio = torch.cos(ratio * math.pi * 0.5)
    return (n_tokens * mask_ratio).floor().unsqueeze(0)


@torch.inference_mode()
def official_generate(model: Showo, vocab: Vocab, prefix: torch.Tensor, uncond: torch.Tensor | None,
                      n_tokens: int, steps: int, guidance: float, temperature: float,
                      generator: torch.Generator) -> torch.Tensor:
    """(B, n_tokens) codes from prefixes made by `encode_prompts`, drawing from `generator` in Show-o's order."""
    batch, offset, device = prefix.shape[0], vocab.image_offset, prefix.device
    image_part = lambda ids: torch.cat([torch.full((batch, 1), vocab.soi, device=device), ids,  # noqa: E731
                                        torch.full((batch, 1), vocab.eoi, device=device)], dim=1)
    sequence = torch.cat([prefix, image_part(torch.full((batch, n_tokens), vocab.mask, device=device))], dim=1)
    guided = uncond is not None and guidance > 0
    if guided:
        mask = official_mask(torch.cat([sequence, torch.cat([uncond, sequence[:, prefix.shape[1]:]], 1)]), vocab)
    else:
        mask = official_mask(sequence, vocab)
    state = sequence[:, -(n_tokens + 1):-1].clone()  # codes, or the mask token's id where unknown
    sampled = state
    for step in range(steps):
        if guided:
            unconditional = torch.cat([uncond, sequence[:, prefix.shape[1]:]], dim=1)
            logits = model(torch.cat([sequence, unconditional]), attention_mask=mask).logits
            cond_logits, uncond_logits = logits.chunk(2)
            logits = (1 + guidance) * cond_logits - guidance * uncond_logits
        else:
            logits = model(sequence, attention_mask=mask).logits
        logits = logits[:, -(n_tokens + 1):-1, offset:-1]
        probs = logits.softmax(dim=-1)
        sampled = torch.multinomial(probs.reshape(-1, logits.shape[-1]), 1, generator=generator)[:, 0]
        sampled = sampled.view(batch, n_tokens)
        unknown = state == vocab.mask
        sampled = torch.where(unknown, sampled, state)
        ratio = 1.0 * (step + 1) / steps
        chosen = torch.gather(probs, -1, sampled[..., None]).squeeze(-1)
        chosen = torch.where(unknown, chosen, torch.finfo(chosen.dtype).max)
        mask_len = official_mask_len(step, steps, n_tokens).to(device)  # Show-o moves it to the logits' device
        mask_len = torch.max(torch.tensor([1], device=device),
                             torch.min(unknown.sum(dim=-1, keepdim=True) - 1, mask_len))
        temperature = temperature * (1.0 - ratio)
        uniform = torch.zeros_like(chosen).uniform_(0, 1, generator=generator)
        gumbel = -torch.log(torch.clamp(-torch.log(torch.clamp(uniform, min=1e-20)), min=1e-20))
        confidence = torch.log(torch.clamp(chosen, min=1e-20)) + temperature * gumbel
        cut_off = torch.gather(torch.sort(confidence, dim=-1).values, 1, mask_len.long())
        remask = confidence < cut_off
        sequence[:, -(n_tokens + 1):-1] = torch.where(remask, vocab.mask, sampled + offset)
        state = torch.where(remask, vocab.mask, sampled)
    return sampled
