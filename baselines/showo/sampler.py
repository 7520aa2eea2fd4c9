"""MaskGIT text-to-image sampling for Show-o, with the text prefix computed once.

The official loop re-encodes the whole sequence (text + image, conditional and
unconditional rows) at every denoising step and computes logits over the full
58k vocabulary at every position before slicing out the image codes. Here:

- the text prefix never attends to image tokens (omni-attention), so its
  keys/values are computed once per prompt and reused at every step; each step
  runs only the image block (<|soi|> image tokens <|eoi|>);
- logits are computed only at the image positions and only over the image
  codes (a slice of the output layer), not over text ids and the mask token;
- the conditional and unconditional rows share one batched forward.

The random draws (multinomial over codes, then Gumbel noise for re-masking)
happen in the official order on the same shapes, so one seed gives the same
tokens as the official loop. The sampler can also return each step's state
x_{s-1}, full prediction x̂_s and log p(x̂_{s,j} | x_{s-1}) at every image
position, which is what Sync-GRPO's loss needs; `position_logprobs` recomputes
them under new weights. A `SamplingRun` can stop after any step and continue
later with a subset of its rows (Dynamic Group Scaling's early screening).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from .attention import causal_text_mask, generation_mask, image_block_mask
from .model import CACHE_ARG, Showo
from .vocab import Vocab

MAX_TEXT_LEN = 128
"""Show-o's text budget for generation prompts (the prefix is MAX_TEXT_LEN + 1 tokens)."""


@dataclass
class SamplerConfig:
    steps: int = 18
    guidance_scale: float = 5.0
    """Show-o's CFG: logits = (1 + g) * cond - g * uncond; 0 disables the unconditional pass."""
    temperature: float = 1.0
    """Scale of the Gumbel noise that picks which tokens to re-mask, annealed towards 0 over the steps."""


@dataclass
class Trajectory:
    states: list[torch.Tensor] = field(default_factory=list)
    """x_{s-1} per step: (B, N) codes, `codebook_size` where masked."""
    predictions: list[torch.Tensor] = field(default_factory=list)
    """x̂_s per step: (B, N) codes sampled at every position (known ones kept)."""
    logprobs: list[torch.Tensor] = field(default_factory=list)
    """(B, N) per step: log p(x̂_{s,j} | x_{s-1}) at every position (Sync-GRPO counts each as a decision)."""

    def select(self, rows: torch.Tensor) -> Trajectory:
        return Trajectory([s[rows] for s in self.states], [p[rows] for p in self.predictions],
                          [lp[rows] for lp in self.logprobs])


@dataclass
class SamplingRun:
    """A batch of MaskGIT trajectories that can stop after any step and go on later.

    Dynamic Group Scaling runs many candidates to an early step, keeps a few
    and finishes only those; with one generator per row a kept row continues
    exactly as it would have without the pause.
    """

    prompt_ids: torch.Tensor
    uncond_ids: torch.Tensor | None
    state: torch.Tensor
    sampled: torch.Tensor
    step: int
    temperature: float
    generator: torch.Generator | list[torch.Generator] | None
    trajectory: Trajectory | None
    best_guess: torch.Tensor | None = None
    """After a step: the state with its masked positions filled by the most likely code."""

    @staticmethod
    def concat(runs: list[SamplingRun]) -> SamplingRun:
        """Runs paused at the same step, as one batch (their rows keep their own generators)."""
        if len({r.step for r in runs}) != 1 or not all(isinstance(r.generator, list) for r in runs):
            raise ValueError("only runs at the same step, with one generator per row, can be joined")
        cat = lambda tensors: None if tensors[0] is None else torch.cat(tensors)  # noqa: E731
        trajectory = None
        if runs[0].trajectory is not None:
            parts = [r.trajectory for r in runs]
            trajectory = Trajectory(*([torch.cat(step) for step in zip(*(getattr(t, name) for t in parts))]
                                      for name in ("states", "predictions", "logprobs")))
        return SamplingRun(cat([r.prompt_ids for r in runs]), cat([r.uncond_ids for r in runs]),
                           cat([r.state for r in runs]), cat([r.sampled for r in runs]), runs[0].step,
                           runs[0].temperature, [g for r in runs for g in r.generator], trajectory,
                           cat([r.best_guess for r in runs]))

    def select(self, rows: list[int]) -> SamplingRun:
        if not isinstance(self.generator, list):
            raise ValueError("selecting rows of a sampling run needs one generator per row")
        index = torch.tensor(rows, dtype=torch.long, device=self.state.device)
        return SamplingRun(self.prompt_ids[index], None if self.uncond_ids is None else self.uncond_ids[index],
                           self.state[index], self.sampled[index], self.step, self.temperature,
                           [self.generator[r] for r in rows],
                           None if self.trajectory is None else self.trajectory.select(index),
                           None if self.best_guess is None else self.best_guess[index])


def mask_length(step: int, steps: int, n_tokens: int) -> int:
    """How many image tokens stay masked after step `step` (0-based) of `steps`: floor(N cos(pi/2 (step+1)/steps)).

    Evaluated in float32 on a CPU tensor, as Show-o's loop does (`cosine_schedule(torch.tensor(ratio))`):
    where the exact value is a whole number, float32 can land just below it and
    change the count, e.g. at ratio 2/3 (6 or 18 steps) it gives N/2 - 1 where
    float64 gives N/2, and with it the sampled tokens.
    """
    ratio = torch.tensor((step + 1) / steps, dtype=torch.float32)
    return int((n_tokens * torch.cos(ratio * math.pi * 0.5)).floor())


def masked_per_step(steps: int, n_tokens: int) -> list[int]:
    """How many positions are still masked when each of the `steps` steps starts (N at the first), as `advance`
    re-masks them: the still-masked decisions of a trajectory, a constant of the schedule."""
    counts = [n_tokens]
    for step in range(steps - 1):
        counts.append(max(1, min(counts[-1] - 1, mask_length(step, steps, n_tokens))))
    return counts


def encode_prompts(tokenizer: Any, vocab: Vocab, prompts: list[str], max_text_len: int = MAX_TEXT_LEN) -> torch.Tensor:
    """Show-o's text part per prompt: [PAD]* <|t2i|> <|sot|> text <|eot|>, left-padded to max_text_len + 1."""
    rows = []
    for prompt in prompts:
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if not ids or ids[0] != vocab.bos:
            ids = [vocab.bos] + ids
        ids = [vocab.t2i] + ids + [vocab.eos]
        if len(ids) > max_text_len + 1:
            ids = ids[:max_text_len] + [vocab.eos]
        rows.append([vocab.pad] * (max_text_len + 1 - len(ids)) + ids)
    return torch.tensor(rows, dtype=torch.long)


def _per_row(generator: torch.Generator | list[torch.Generator] | None, batch: int, draw: Any) -> torch.Tensor:
    """draw(generator, rows) for the whole batch, or row by row with one generator each."""
    if not isinstance(generator, list):
        return draw(generator, slice(None))
    if len(generator) != batch:
        raise ValueError(f"{len(generator)} generators for {batch} rows")
    return torch.cat([draw(g, slice(k, k + 1)) for k, g in enumerate(generator)])


class MaskGitSampler:
    def __init__(self, model: Showo, vocab: Vocab) -> None:
        self.model = model
        self.vocab = vocab

    def _code_head(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        head = self.model.phi.lm_head
        rows = slice(self.vocab.image_offset, self.vocab.image_offset + self.vocab.codebook_size)
        return head.weight[rows], None if head.bias is None else head.bias[rows]

    def prefix_cache(self, prefix_ids: torch.Tensor) -> tuple[Any, torch.Tensor]:
        """Keys/values of the text prefixes (everything before <|soi|>), computed once."""
        from transformers import DynamicCache

        is_pad = prefix_ids == self.vocab.pad
        cache = DynamicCache()
        positions = torch.arange(prefix_ids.shape[1], device=prefix_ids.device).expand_as(prefix_ids)
        self.model.phi.model(input_ids=prefix_ids, attention_mask=causal_text_mask(is_pad),
                             position_ids=positions, use_cache=True, **{CACHE_ARG: cache})
        return cache, is_pad

    def code_logits(self, cache: Any, prefix_is_pad: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """(rows, N, codebook) logits of the image codes given the states (cache rows = state rows)."""
        vocab, (batch, n) = self.vocab, states.shape
        prefix_len = prefix_is_pad.shape[1]
        ids = torch.where(states == vocab.codebook_size, vocab.mask, states + vocab.image_offset)
        # The image block <|soi|> image <|eoi|> attends to itself in full, so all of it is recomputed.
        soi = torch.full((batch, 1), vocab.soi, dtype=ids.dtype, device=ids.device)
        eoi = torch.full((batch, 1), vocab.eoi, dtype=ids.dtype, device=ids.device)
        block = torch.cat([soi, ids, eoi], dim=1)
        positions = prefix_len + torch.arange(n + 2, device=ids.device).expand(batch, n + 2)
        hidden = self.model.phi.model(input_ids=block, attention_mask=image_block_mask(prefix_is_pad, n + 2),
                                      position_ids=positions, use_cache=True, **{CACHE_ARG: cache}).last_hidden_state
        cache.crop(-(n + 2))  # drop the block's keys/values: the prefix is reused next step
        weight, bias = self._code_head()
        return F.linear(hidden[:, 1 : n + 1], weight, bias)

    def _guided(self, cache: Any, prefix_is_pad: torch.Tensor, states: torch.Tensor, guidance: float) -> torch.Tensor:
        if guidance <= 0:
            return self.code_logits(cache, prefix_is_pad, states)
        cond, uncond = self.code_logits(cache, prefix_is_pad, torch.cat([states, states])).chunk(2)
        return (1 + guidance) * cond - guidance * uncond

    def _prefixes(self, prompt_ids: torch.Tensor, uncond_ids: torch.Tensor | None, guidance: float
                  ) -> tuple[Any, torch.Tensor]:
        if guidance > 0:
            if uncond_ids is None:
                raise ValueError("classifier-free guidance needs the unconditional prompt ids")
            return self.prefix_cache(torch.cat([prompt_ids, uncond_ids]))
        return self.prefix_cache(prompt_ids)

    def start(self, prompt_ids: torch.Tensor, n_tokens: int, uncond_ids: torch.Tensor | None = None,
              generator: torch.Generator | list[torch.Generator] | None = None, temperature: float = 1.0,
              return_trajectory: bool = False) -> SamplingRun:
        """A fully masked batch, ready for `advance`."""
        state = torch.full((prompt_ids.shape[0], n_tokens), self.vocab.codebook_size, dtype=torch.long,
                           device=prompt_ids.device)
        return SamplingRun(prompt_ids, uncond_ids, state, state, 0, temperature, generator,
                           Trajectory() if return_trajectory else None)

    @torch.inference_mode()
    def advance(self, run: SamplingRun, config: SamplerConfig, until: int | None = None) -> SamplingRun:
        """Run denoising steps [run.step, until) of a `config.steps`-step schedule, in place."""
        until = config.steps if until is None else until
        if not run.step <= until <= config.steps:
            raise ValueError(f"cannot advance from step {run.step} to {until} of {config.steps}")
        if run.step == until:
            return run
        batch, n_tokens = run.state.shape
        codebook = self.vocab.codebook_size
        cache, is_pad = self._prefixes(run.prompt_ids, run.uncond_ids, config.guidance_scale)
        state, temperature, generator, trajectory = run.state, run.temperature, run.generator, run.trajectory
        for step in range(run.step, until):
            logits = self._guided(cache, is_pad, state, config.guidance_scale)
            probs = logits.float().softmax(dim=-1)
            sampled = _per_row(generator, batch, lambda g, rows, probs=probs: torch.multinomial(
                probs[rows].reshape(-1, codebook), 1, generator=g).view(-1, n_tokens))
            unknown = state == codebook
            sampled = torch.where(unknown, sampled, state)
            chosen = probs.gather(-1, sampled[..., None]).squeeze(-1)
            if trajectory is not None:
                trajectory.states.append(state)
                trajectory.predictions.append(sampled)
                trajectory.logprobs.append(chosen.clamp_min(1e-30).log())
            ratio = (step + 1) / config.steps
            mask_len = torch.clamp(unknown.sum(-1, keepdim=True) - 1,
                                   max=mask_length(step, config.steps, n_tokens)).clamp_min(1)
            confidence = torch.where(unknown, chosen, torch.finfo(chosen.dtype).max)
            uniform = _per_row(generator, batch, lambda g, rows, confidence=confidence: torch.zeros_like(
                confidence[rows]).uniform_(0, 1, generator=g))
            noise = -(-(uniform.clamp_min(1e-20).log())).clamp_min(1e-20).log()  # Gumbel(0, 1)
            temperature *= 1.0 - ratio  # Show-o anneals cumulatively: T_s = T_{s-1} * (1 - s/S)
            confidence = confidence.clamp_min(1e-20).log() + temperature * noise
            cut_off = confidence.sort(dim=-1).values.gather(1, mask_len)
            state = torch.where(confidence < cut_off, codebook, sampled)
            run.sampled = sampled
        run.best_guess = torch.where(state == codebook, probs.argmax(-1), state)
        run.state, run.temperature, run.step = state, temperature, until
        return run

    def generate(
        self,
        prompt_ids: torch.Tensor,
        n_tokens: int,
        config: SamplerConfig = SamplerConfig(),
        uncond_ids: torch.Tensor | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        return_trajectory: bool = False,
    ) -> tuple[torch.Tensor, Trajectory | None]:
        """Sample (B, n_tokens) image codes from prefix ids made by `encode_prompts`.

        One generator draws for the whole batch in the official order; a list
        of generators (one per row) makes each row's image independent of what
        else is in its batch, which resumable and sharded runs need.
        """
        run = self.start(prompt_ids, n_tokens, uncond_ids, generator, config.temperature, return_trajectory)
        self.advance(run, config)
        return run.sampled, run.trajectory

    def step_logprobs(self, prompt_ids: torch.Tensor, state: torch.Tensor, prediction: torch.Tensor,
                      config: SamplerConfig, uncond_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N) log p(x̂_{s,j} | x_{s-1}) of one step, differentiable, in a graph of its own.

        Prefix and image block run as one sequence (no cache shared between
        steps), so a step's graph can be back-propagated and freed before the
        next step is computed: the trainer's memory does not grow with the
        number of steps, for ~13% more compute (129 prefix tokens per 1026).
        """
        vocab, n = self.vocab, state.shape[1]
        guided = config.guidance_scale > 0
        if guided and uncond_ids is None:
            raise ValueError("classifier-free guidance needs the unconditional prompt ids")
        prefixes = torch.cat([prompt_ids, uncond_ids]) if guided else prompt_ids
        states = torch.cat([state, state]) if guided else state
        rows = prefixes.shape[0]
        ids = torch.where(states == vocab.codebook_size, vocab.mask, states + vocab.image_offset)
        soi = torch.full((rows, 1), vocab.soi, dtype=ids.dtype, device=ids.device)
        eoi = torch.full((rows, 1), vocab.eoi, dtype=ids.dtype, device=ids.device)
        sequence = torch.cat([prefixes, soi, ids, eoi], dim=1)
        positions = torch.arange(sequence.shape[1], device=ids.device).expand(rows, -1)
        hidden = self.model.phi.model(input_ids=sequence, position_ids=positions, use_cache=False,
                                      attention_mask=generation_mask(prefixes == vocab.pad, n + 2)).last_hidden_state
        weight, bias = self._code_head()
        logits = F.linear(hidden[:, prefixes.shape[1] + 1 : -1], weight, bias)
        if guided:
            cond, uncond = logits.chunk(2)
            logits = (1 + config.guidance_scale) * cond - config.guidance_scale * uncond
        return logits.float().log_softmax(-1).gather(-1, prediction.clone()[..., None]).squeeze(-1)

    def position_logprobs(self, prompt_ids: torch.Tensor, trajectory: Trajectory, config: SamplerConfig,
                          uncond_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(B, steps, N) log p(x̂_{s,j} | x_{s-1}) under the current weights, differentiable, all steps in one
        graph over a shared prefix cache (memory grows with the steps; the trainer uses `step_logprobs`)."""
        cache, is_pad = self._prefixes(prompt_ids, uncond_ids, config.guidance_scale)
        out = []
        for state, prediction in zip(trajectory.states, trajectory.predictions):
            state, prediction = state.clone(), prediction.clone()  # inference tensors -> autograd-safe
            logits = self._guided(cache, is_pad, state, config.guidance_scale)
            out.append(logits.float().log_softmax(-1).gather(-1, prediction[..., None]).squeeze(-1))
        return torch.stack(out, dim=1)
