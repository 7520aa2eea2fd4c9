"""Supervised training of a Show-o on a benchmark's training views: the tiny base's pretraining and the
UniCTokens-style concept-token fine-tuning both use it.

Examples are worded as the benchmark adapters word their inputs (`baselines.showo.personalize`), so a model
learns the format it is evaluated with, and are built from `training.data.training_views` only (profile,
training photos, training extra_info entries and their prompts): never from a test image or task item.

- image examples: a caption -> the codes of a training photo (a random crop or flip of it), learned as Show-o
  learns text-to-image: a random share of the codes masked (cosine schedule), cross-entropy at the masked
  positions; a tenth of the captions are dropped so that classifier-free guidance has an unconditional model;
- text examples: a photo (or the black image) and a question -> the answer and <|eot|>, cross-entropy over the
  whole vocabulary (the evaluation answers over it), each answer weighing the same whatever its length.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms import functional as TF

from baselines.showo.concepts import ConceptTokens
from baselines.showo.personalize import generation_condition, understanding_system
from baselines.showo.pipeline import ShowoPipeline
from baselines.showo.sampler import MAX_TEXT_LEN, MaskGitSampler, SamplerConfig, encode_prompts
from baselines.showo.understand import encode_questions
from unifybench_pp.prompts import rea_instruction

from .data import ConceptViews
from .rollout import BLACK, visual_question

CAPTION_DROPOUT = 0.1
REC_QUESTION = "Is {} in this photo? Answer yes or no."


@dataclass(frozen=True)
class ImageExample:
    concept: str
    caption: str
    """The generation prompt as the adapter builds it (personalization included)."""


@dataclass(frozen=True)
class TextExample:
    photo_of: str | None
    """Whose training photo is shown (a random view of it), or None for the black image."""
    system: str
    question: str
    answer: str


@dataclass
class SupervisedData:
    images: list[ImageExample]
    texts: list[TextExample]
    codes: dict[str, torch.Tensor]
    """Concept -> (views, N) image codes of its training photos' crops and flips."""
    black: torch.Tensor
    """(1, N) codes of the black image shown with text-only questions."""


def photo_views(paths: list[Path], size: int, per_photo: int, seed: int) -> torch.Tensor:
    """(len(paths) x per_photo, 3, size, size) in [-1, 1]: the whole photo, then random crops (80-100%) and flips."""
    generator = torch.Generator().manual_seed(seed)
    views = []
    for path in paths:
        with Image.open(path) as opened:
            photo = opened.convert("RGB")
        for k in range(per_photo):
            image = photo
            if k > 0:
                scale = 0.8 + 0.2 * float(torch.rand((), generator=generator))
                side = int(min(photo.size) * scale)
                left = int(torch.randint(0, photo.size[0] - side + 1, (), generator=generator))
                top = int(torch.randint(0, photo.size[1] - side + 1, (), generator=generator))
                image = photo.crop((left, top, left + side, top + side))
                if k % 2 == 1:
                    image = TF.hflip(image)
            image = TF.center_crop(TF.resize(image, size, TF.InterpolationMode.BICUBIC, antialias=True), size)
            views.append(TF.to_tensor(image) * 2 - 1)
    return torch.stack(views)


def build_examples(views: dict[str, ConceptViews], tokens: dict[str, ConceptTokens] | None = None
                   ) -> tuple[list[ImageExample], list[TextExample]]:
    """Image and text examples of every concept; `tokens` words them for a model with concept tokens."""
    images: list[ImageExample] = []
    texts: list[TextExample] = []
    ids = sorted(views)
    for cid in ids:
        concept, facts = views[cid].concept, views[cid].facts
        own = None if tokens is None else tokens[cid]
        token = concept.token
        for prompt in [f"A photo of {token}.", *(f.implicit_prompt for f in facts),
                       *(f.explicit_prompt for f in facts)]:
            images.append(ImageExample(cid, generation_condition(concept, prompt, own)))
        rec = understanding_system(concept, "rec", own)
        question = REC_QUESTION.format(token)
        texts += [TextExample(cid, rec, question, "Yes.")] * (len(ids) - 1)  # as many positives as negatives
        texts += [TextExample(other, rec, question, "No.") for other in ids if other != cid]
        texts.append(TextExample(cid, understanding_system(concept, "qa", own), visual_question(token), concept.info))
        rewrite = understanding_system(concept, "rea", own)
        for fact in facts:
            texts.append(TextExample(None, rewrite, rea_instruction(token, [f.text for f in facts],
                                                                    fact.implicit_prompt), fact.explicit_prompt))
    return images, texts


def supervised_data(pipe: ShowoPipeline, views: dict[str, ConceptViews], per_photo: int, seed: int,
                    tokens: dict[str, ConceptTokens] | None = None) -> SupervisedData:
    images, texts = build_examples(views, tokens)
    size = pipe.image_size
    # clone(): encoding runs in inference mode, and autograd may not save inference tensors
    codes = {cid: pipe.magvit.encode(photo_views(v.images, size, per_photo, seed).to(pipe.device)).clone()
             for cid, v in views.items()}
    return SupervisedData(images, texts, codes, pipe.encode_images([BLACK]).clone())


def _pick(count: int, batch: int, generator: torch.Generator) -> list[int]:
    return torch.randint(0, count, (batch,), generator=generator).tolist()


def _random_view(data: SupervisedData, concept: str, generator: torch.Generator) -> torch.Tensor:
    """(N,) codes of one of the concept's photo views, drawn uniformly."""
    views = data.codes[concept]
    return views[int(torch.randint(0, len(views), (), generator=generator))]


def image_loss(pipe: ShowoPipeline, data: SupervisedData, batch: int, generator: torch.Generator) -> torch.Tensor:
    """Mean cross-entropy at the masked positions of a batch of captioned photos (Show-o's t2i objective)."""
    examples = [data.images[k] for k in _pick(len(data.images), batch, generator)]
    targets = torch.stack([_random_view(data, e.concept, generator) for e in examples])
    dropped = torch.rand(batch, generator=generator) < CAPTION_DROPOUT
    captions = ["" if drop else e.caption for e, drop in zip(examples, dropped.tolist())]
    # Left padding only shifts every position equally and rotary attention is relative, so the batch's own
    # longest caption sets the padded length (not the sampler's 128): same function, a fraction of the compute.
    longest = max(len(pipe.tokenizer(c, add_special_tokens=False)["input_ids"]) for c in captions)
    prompt_ids = encode_prompts(pipe.tokenizer, pipe.vocab, captions, min(MAX_TEXT_LEN, longest + 2)).to(pipe.device)
    n = targets.shape[1]
    share = torch.cos(torch.rand(batch, generator=generator) * math.pi / 2)  # Show-o's cosine masking schedule
    masked_count = (share * n).ceil().clamp(1, n).long()
    order = torch.rand(batch, n, generator=generator).argsort(dim=1)
    masked = (order < masked_count[:, None]).to(pipe.device)
    state = torch.where(masked, pipe.vocab.codebook_size, targets)
    logp = MaskGitSampler(pipe.model, pipe.vocab).step_logprobs(prompt_ids, state, targets,
                                                                SamplerConfig(guidance_scale=0.0))
    return -(logp * masked).sum() / masked.sum()


def text_loss(pipe: ShowoPipeline, data: SupervisedData, batch: int, generator: torch.Generator) -> torch.Tensor:
    """Cross-entropy per answer token (and <|eot|>), averaged within each answer, then over the batch.

    Each example weighs the same: averaged over all tokens of the batch, a Rec. answer's one deciding token ("Yes"
    or "No") was a few percent of a batch of long rewrites, and the tiny base answered "No." to every photo
    (balanced Rec. accuracy 0.5 on its own training photos; 0.93 with this average, same steps).
    """
    examples = [data.texts[k] for k in _pick(len(data.texts), batch, generator)]
    codes = torch.cat([data.black if e.photo_of is None else _random_view(data, e.photo_of, generator)[None]
                       for e in examples])
    ids, image_end = encode_questions(pipe.tokenizer, pipe.vocab, codes, [e.question for e in examples],
                                      [e.system for e in examples])
    answers = [pipe.tokenizer(e.answer, add_special_tokens=False)["input_ids"] + [pipe.vocab.eos] for e in examples]
    understander = pipe.understander(mmu_vocab="full")
    logp, mask = understander.answer_logprobs(ids, image_end, answers)
    return -(logp.sum(1) / mask.sum(1)).mean()


def fit(pipe: ShowoPipeline, data: SupervisedData, params: list[torch.nn.Parameter], steps: int, learning_rate: float,
        batch: int, seed: int, after_backward: Callable[[], None] = lambda: None,
        after_step: Callable[[], None] = lambda: None, on_step: Callable[[int], None] = lambda k: None,
        weight_decay: float = 0.0, stop_after: int | None = None) -> list[list[float]]:
    """AdamW on `params` (cosine decay after 5% warm-up) over image + text batches; the [image, text] loss per step.

    `after_backward` / `after_step` let a caller train a few rows of a tensor (see `training.policy.ConceptRows`);
    `stop_after` runs only the first steps of the same schedule (to check a run against a recorded curve).
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: min(1.0, (k + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, k / steps))))
    curve = []
    pipe.model.train()
    for step in range(steps if stop_after is None else stop_after):
        losses = [image_loss(pipe, data, batch, generator), text_loss(pipe, data, batch, generator)]
        sum(losses).backward()
        after_backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        after_step()
        schedule.step()
        curve.append([round(float(loss.detach()), 6) for loss in losses])
        on_step(step)
    pipe.model.eval()
    return curve
