"""Two-phase Sync-R1 rollouts: reason about the concept (text), then draw it from a compound prompt (image).

Pathways (paper Sec. 3.1), chosen 1:1 per concept visit:
- Visual Instruct Reasoning: a training photo + a descriptive query -> the
  concept's attributes; compound prompt "A photo of <c>." + that result.
- Textual Attribute Reasoning: the benchmark's Rea. instruction over the
  concept's training extra_info entries only, asking to rewrite one of their
  implicit prompts; compound prompt = implicit prompt + the rewrite. Held-out
  entries never reach a rollout.

A group's candidates share the question; each draws its own reasoning and
image with its own seeded generator, so a trajectory depends only on
(seed, step, candidate index), not on batching, screening or resume points.
Both phases read the concept as the harness's Show-o adapter words it for the
evaluated model (`baselines.showo.personalize`: the text personalization, the
concept tokens' system prompt before a visual question, the token spelled as
its latent tokens in the generation prompt), so training optimizes the inputs
that are scored. (The authors' `grpo.py` asks with a bare "USER: ... ASSISTANT:"
and evaluates with the personalization prefix.)
With Dynamic Group Scaling, candidates run to the screening step in batches,
their early prediction is scored in memory, and only the kept ones finish.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from PIL import Image

from baselines.showo.personalize import generation_condition, understanding_system
from baselines.showo.pipeline import ShowoPipeline
from baselines.showo.sampler import MAX_TEXT_LEN, MaskGitSampler, SamplerConfig, SamplingRun, encode_prompts
from baselines.showo.understand import encode_questions
from unifybench_pp.errors import SettingsError
from unifybench_pp.loader import Benchmark
from unifybench_pp.prompts import rea_instruction, with_class_noun
from unifybench_pp.schema import Concept

from .config import TrainConfig
from .dgs import Screening, ThresholdController, screen
from .rewards import RewardEnsemble, RewardSample

Pathway = Literal["visual", "textual"]
BLACK = Image.new("RGB", (64, 64))
"""The image shown with text-only questions (UniCTokens answers those next to a black image)."""


@dataclass(frozen=True)
class TrainPrompt:
    concept: Concept
    pathway: Pathway
    image: Path | None
    question: str
    base_prompt: str
    """Phase II starts from this: "A photo of <c>." or the extra_info entry's implicit prompt."""
    candidates: list[str]
    truth: list[float]


class PromptSchedule:
    """Which concept, pathway and source item each training step uses; a pure function of (seed, step)."""

    def __init__(self, bench: Benchmark, concepts: list[str] | None, seed: int, visual_share: float) -> None:
        ids = concepts or sorted(bench.concepts)
        unknown = [c for c in ids if c not in bench.concepts]
        if unknown:
            raise SettingsError(f"unknown concept(s) {', '.join(unknown)}; the benchmark has "
                                f"{', '.join(sorted(bench.concepts))}")
        self.bench = bench
        self.order = sorted(ids)
        random.Random(f"order:{seed}").shuffle(self.order)
        self.seed = seed
        self.visual_share = visual_share
        self.train_facts = {c: [x for x in bench.extra_info if x.concept == c and x.split == "train"] for c in ids}
        for c in ids:
            if not bench.concepts[c].train_images:
                raise SettingsError(f"concept {c} has no training images to reason about")

    def _pathway(self, visit: int, concept: str) -> Pathway:
        if not self.train_facts[concept]:
            return "visual"
        share = self.visual_share
        return "visual" if int((visit + 1) * share) > int(visit * share) else "textual"

    def prompt(self, step: int) -> TrainPrompt:
        concept = self.bench.concepts[self.order[step % len(self.order)]]
        rng = random.Random(f"prompt:{self.seed}:{step}")
        token = concept.token
        if self._pathway(step // len(self.order), concept.id) == "visual":
            own = _clauses(concept.info)
            others = [s for c in self.order if c != concept.id for s in _clauses(self.bench.concepts[c].info)]
            others = rng.sample(others, min(len(others), max(len(own), 3)))
            return TrainPrompt(concept, "visual", self.bench.image_path(rng.choice(concept.train_images)),
                               visual_question(token), f"A photo of {token}.", own + others,
                               [1.0] * len(own) + [0.0] * len(others))
        facts = self.train_facts[concept.id]
        target = rng.choice(facts)
        return TrainPrompt(concept, "textual", None,
                           rea_instruction(token, [f.text for f in facts], target.implicit_prompt),
                           target.implicit_prompt, [f.text for f in facts],
                           [1.0 if f.id == target.id else 0.0 for f in facts])


def visual_question(token: str) -> str:
    """Visual Instruct Reasoning's query about a photo of the concept."""
    return f"What does {token} look like in this photo? Describe {token}'s distinctive attributes."


def _clauses(text: str) -> list[str]:
    """A profile's clauses (split at , ; and full stops): the Visual Instruct pathway's candidate attributes."""
    return [part.strip() for part in re.split(r"[,;.]", text) if part.strip()]


@dataclass
class Rollout:
    prompt: TrainPrompt
    question_ids: torch.Tensor
    """(1, L) the Phase I prompt, shared by the group."""
    image_end: torch.Tensor
    answers: list[list[int]]
    """Reasoning token ids per kept candidate this process holds, with the closing <|eot|> when the answer ended."""
    reasoning: list[str]
    run: SamplingRun | None
    """This process's kept candidates' finished image trajectories (prompt ids, states, predictions, log-probs);
    None when it holds none of the group."""
    images: list[Image.Image]
    rewards: list[dict[str, float | None]]
    """Rewards of this process's kept candidates."""
    rows: list[int]
    """Their places in the group (0..G-1): with the group split over processes, each holds some of it."""
    group_rewards: list[dict[str, float | None]]
    """Every kept candidate's rewards, in group order, gathered from every process: advantages are taken over
    the whole group."""
    screening: Screening | None
    denoise_steps: int
    """Image denoising steps spent on this group (one per candidate per step), over every process."""
    denoise_steps_without_dgs: int
    """What finishing every screened candidate would have cost."""


@dataclass
class Candidates:
    answers: list[list[int]]
    reasoning: list[str]
    run: SamplingRun


@dataclass(frozen=True)
class Share:
    """Which of a group's candidates this process draws: those whose index is `rank` modulo `world`, with `gather`
    collecting a list from every process (concatenated in rank order). One process: everything, gathered as is."""

    rank: int = 0
    world: int = 1
    gather: Callable[[list], list] = list

    def mine(self, indices: range | list[int]) -> list[int]:
        return [i for i in indices if i % self.world == self.rank]

    def collect(self, values: dict[int, Any]) -> dict[int, Any]:
        """Per candidate index, the values every process computed for its own candidates."""
        return dict(self.gather(sorted(values.items())))


def _candidate_seed(seed: int, step: int, index: int) -> int:
    """A generator seed torch accepts (below 2**63) for any seed, step and index."""
    return ((seed * 1_000_003 + step) * 10_007 + index) % 2**63


class RolloutEngine:
    def __init__(self, pipe: ShowoPipeline, config: TrainConfig, rewards: RewardEnsemble, bench_root: Path) -> None:
        self.pipe = pipe
        self.bench_root = bench_root
        self.config = config
        self.rewards = rewards
        self.sampler_config = SamplerConfig(steps=config.generation_steps, guidance_scale=config.guidance_scale,
                                            temperature=config.generation_temperature)

    def encode_question(self, prompt: TrainPrompt) -> tuple[torch.Tensor, torch.Tensor]:
        pipe = self.pipe
        if prompt.image is None:
            picture = BLACK
        else:
            with Image.open(prompt.image) as opened:
                picture = opened.convert("RGB")
        codes = pipe.encode_images([picture])
        task = "qa" if prompt.pathway == "visual" else "rea"
        system = understanding_system(prompt.concept, task, pipe.concepts[prompt.concept.id])
        return encode_questions(pipe.tokenizer, pipe.vocab, codes, [prompt.question], [system])

    def draw_candidates(self, prompt: TrainPrompt, ids: torch.Tensor, image_end: torch.Tensor, step: int,
                        indices: list[int]) -> Candidates:
        """The candidates with these indices: reasoning sampled, image trajectories started (not yet advanced)."""
        pipe, config = self.pipe, self.config
        device, count = pipe.device, len(indices)
        text_generators = [torch.Generator(device=device).manual_seed(_candidate_seed(config.seed, step, k) + 1)
                           for k in indices]
        understander = pipe.understander(mmu_vocab="text")  # reasoning is words: it joins the generation prompt
        tokens = understander.generate_ids(ids.expand(count, -1), image_end.expand(count),
                                           max_new_tokens=config.reasoning_max_new_tokens,
                                           temperature=config.reasoning_temperature, top_k=config.reasoning_top_k,
                                           generator=text_generators)
        answers = [t + [pipe.vocab.eos] if len(t) < config.reasoning_max_new_tokens else t for t in tokens]
        reasoning = [understander.text(t) for t in tokens]
        concept_tokens = pipe.concepts[prompt.concept.id]
        compound = [generation_condition(prompt.concept, f"{prompt.base_prompt} {r}".strip(), concept_tokens)
                    for r in reasoning]
        prompt_ids = encode_prompts(pipe.tokenizer, pipe.vocab, compound, MAX_TEXT_LEN).to(device)
        uncond_ids = encode_prompts(pipe.tokenizer, pipe.vocab, [""] * count, MAX_TEXT_LEN).to(device)
        generators = [torch.Generator(device=device).manual_seed(_candidate_seed(config.seed, step, k))
                      for k in indices]
        run = MaskGitSampler(pipe.model, pipe.vocab).start(prompt_ids, pipe.model.config.num_vq_tokens, uncond_ids,
                                                          generators, config.generation_temperature, True)
        return Candidates(answers, reasoning, run)

    def samples(self, prompt: TrainPrompt, reasoning: list[str], images: list[Image.Image]) -> list[RewardSample]:
        references = [self.bench_root / p for p in prompt.concept.train_images]
        return [RewardSample(prompt.concept, text, prompt.candidates, prompt.truth,
                             with_class_noun(f"{prompt.base_prompt} {text}".strip(), prompt.concept.token,
                                             prompt.concept.class_noun), image,
                             references) for text, image in zip(reasoning, images)]

    def rollout(self, prompt: TrainPrompt, step: int, controller: ThresholdController | None,
                share: Share = Share()) -> Rollout:
        """One group: G kept trajectories with rewards (screened by DGS when a controller is given), of which this
        process draws and finishes its `share`; screening scores and rewards are gathered, so every process
        takes the same decisions and sees the whole group's rewards."""
        config, sampler = self.config, MaskGitSampler(self.pipe.model, self.pipe.vocab)
        ids, image_end = self.encode_question(prompt)
        group, steps = config.group_size, config.generation_steps
        screening = None
        if controller is None:
            kept, mine = list(range(group)), share.mine(range(group))
            held = {i: row for row, i in enumerate(mine)}
            finished = self.draw_candidates(prompt, ids, image_end, step, mine) if mine else None
            spent = baseline = group * steps
        else:
            early = config.screening_step
            drawn: dict[int, tuple[Candidates, int]] = {}

            def draw(first: int, count: int) -> list[float]:
                mine = share.mine(range(first, first + count))
                scores: dict[int, float] = {}
                if mine:
                    batch = self.draw_candidates(prompt, ids, image_end, step, mine)
                    sampler.advance(batch.run, self.sampler_config, until=early)
                    drawn.update({index: (batch, row) for row, index in enumerate(mine)})
                    guesses = self.pipe.decode_images(batch.run.best_guess)
                    found = self.rewards.compute(config.dgs.surrogate, self.samples(prompt, batch.reasoning, guesses))
                    scores = dict(zip(mine, found))
                scores = share.collect(scores)
                return [scores[i] for i in range(first, first + count)]

            screening = screen(draw, group, config.candidate_budget, config.dgs.screen_batch, controller.tau)
            kept = screening.kept
            held = {i: row for row, i in enumerate(i for i in kept if i in drawn)}
            finished = _pick([drawn[i] for i in held]) if held else None
            spent = screening.screened * early + group * (steps - early)
            baseline = screening.screened * steps
        images: list[Image.Image] = []
        rewards: list[dict[str, float | None]] = []
        if finished is not None:
            sampler.advance(finished.run, self.sampler_config)
            images = self.pipe.decode_images(finished.run.sampled)
            rewards = self.rewards.score(self.samples(prompt, finished.reasoning, images))
        everyone = share.collect(dict(zip(held, rewards)))
        rows = [kept.index(i) for i in held]
        return Rollout(prompt, ids, image_end, finished.answers if finished else [],
                       finished.reasoning if finished else [], finished.run if finished else None, images, rewards,
                       rows, [everyone[i] for i in kept], screening, spent, baseline)


def _pick(chosen: list[tuple[Candidates, int]]) -> Candidates:
    """The given (batch, row) candidates, as one batch."""
    return Candidates([b.answers[r] for b, r in chosen], [b.reasoning[r] for b, r in chosen],
                      SamplingRun.concat([b.run.select([r]) for b, r in chosen]))
