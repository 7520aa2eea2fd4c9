"""`janus-tp` / `janus-ip`: DeepSeek's Janus and Janus-Pro (1B, 7B) through transformers, given the inputs the
public Sync-R1 harness gives them (`evaluation/adapters/janus_base.py`, `external_baseline.py`, `tasks.py`,
`common.py`).

What each request becomes, as the harness builds it:

- Understanding: DeepSeek's SFT template with Janus's default system prompt; the user turn is one
  `<image_placeholder>` line per image, then the text. TP: the text is `name: <c>\\ninfo: ...` and the
  question (or the whole Rea. rewrite instruction). IP: the text is `a photo of <c>` and the question; the
  images are the concept's first training photo and the test image. The release's black image (Rea., Dense
  Rea., text-only QA) is not shown: the harness skips files named `black_*`; a build stores images by hash,
  so here an image whose every pixel is 0 is that image. Greedy, at most 100 new tokens, one request at a time.
  The harness gets only the new tokens back and then cuts the first prompt-length of them whenever there are
  more new tokens than prompt tokens (possible only for a short prompt without images): `answers=harness`
  (the `syncr1` protocol) does the same, `answers=whole` (`strict`) keeps the whole answer.
- Generation: the template with an empty system prompt, then `<begin_of_image>`; 576 image tokens (384 px)
  sampled at temperature 1.0 with no top-k or top-p, classifier-free guidance 4.0 on the raw logits of the
  generation head, the unconditional rows being the prompt with every token but its first and last (the
  trailing `<begin_of_image>`) replaced by the pad token. TP: the prompt is the `name:/info:` prefix and the
  generation prompt; IP:
  `a photo of <c>`, the generation prompt, then `Reference appearance details: <caption>`, the caption being
  the model's own greedy description of the first training photo (the harness's instruction, at most 128 new
  tokens, cached per concept as the harness caches it per reference photo). Rea. Gen. prompts are the model's own
  rewrites (the runner's two-stage flow).
- Seeds: each request's seed is the harness's `stable_seed(seed, "janus_tp"|"janus_ip", family, task,
  concept, 0, item)`; the image is sampled after `torch.manual_seed(stable_seed(request seed,
  "janus_image_batch", 0))`, as the harness does before its first batch. So one image per request and one
  request at a time: batching prompts shares one random stream and changes every image. `prompt_batch=N`
  does that for speed (N prompts per call, left-padded, the stream seeded by the first request), recorded in
  the recipe; the default 1 is the harness's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from unifybench_pp.prompts import with_tp_prefix
from unifybench_pp.schema import Concept

from .base import (
    GenerateRequest,
    ModelError,
    UnderstandRequest,
    cache_keyword,
    checked_number,
    model_dtype,
    open_rgb,
    size_label,
    weights_not_found,
)
from .harness_inputs import conditioning_text, joined, shown_image, source_prompt
from .harness_seeds import request_seed, stable_seed

SYSTEM_PROMPT = ("You are a helpful language and vision assistant. You are able to understand the visual content "
                 "that the user provides, and assist the user with a variety of tasks using natural language.")
"""Janus's `VLChatProcessor` default system prompt, which the harness's understanding chat keeps."""
CAPTION_INSTRUCTION = ("Describe the shared subject in these reference images in one concise sentence. "
                       "Focus on appearance, clothing, accessories, colors, and distinctive attributes. "
                       "Output only the description.")
IMAGE_PLACEHOLDER = "<image_placeholder>"
ANSWER_MARKERS = ("<|Assistant|>", "<｜Assistant｜>", "Assistant:")
"""The harness keeps only what follows the last of these in an answer."""


def sft_prompt(user: str, system: str) -> str:
    """DeepSeek's SFT format for one user turn awaiting the assistant, as Janus's processor writes it."""
    return (f"{system}\n\n" if system else "") + f"<|User|>: {user}\n\n<|Assistant|>:"


def user_turn(text: str, images: int) -> str:
    return "\n".join([IMAGE_PLACEHOLDER] * images + [text.strip()])


def clean_answer(text: str) -> str:
    cleaned = text.strip()
    for marker in ANSWER_MARKERS:
        if marker in cleaned:
            cleaned = cleaned.split(marker)[-1].strip()
    return cleaned


class Janus:
    capabilities = {"understand", "generate"}

    def __init__(self, checkpoint: str | None, device: str = "cpu", mode: str = "tp", cfg_weight: float = 4.0,
                 temperature: float = 1.0, max_new_tokens: int = 100, caption_max_new_tokens: int = 128,
                 dtype: str = "auto", answers: str = "harness", prompt_batch: int = 1) -> None:
        from transformers import JanusForConditionalGeneration, JanusProcessor
        if mode not in ("tp", "ip"):
            raise ModelError(f"janus mode must be tp or ip, got {mode!r}")
        if answers not in ("harness", "whole"):
            raise ModelError(f"janus answers must be harness or whole, got {answers!r}")
        self.answers = answers
        cfg_weight = checked_number("janus", "cfg_weight", cfg_weight)
        temperature = checked_number("janus", "temperature", temperature)
        max_new_tokens = checked_number("janus", "max_new_tokens", max_new_tokens, whole=True, least=1)
        caption_max_new_tokens = checked_number("janus", "caption_max_new_tokens", caption_max_new_tokens, whole=True,
                                                least=1)
        self.prompt_batch = checked_number("janus", "prompt_batch", prompt_batch, whole=True, least=1)
        if not checkpoint:
            raise ModelError("weights for janus not found: pass --checkpoint PATH or a hub id of a transformers "
                             "Janus checkpoint (e.g. deepseek-community/Janus-Pro-1B)")
        self.name, self.mode = f"janus-{mode}", mode
        self.harness_name = f"janus_{mode}"
        precision = model_dtype(dtype, device, self.name)
        try:
            self.processor = JanusProcessor.from_pretrained(checkpoint)
            self.model = JanusForConditionalGeneration.from_pretrained(checkpoint, dtype=precision).to(device).eval()
        except (OSError, ValueError) as error:
            raise weights_not_found("janus", checkpoint, error) from None
        self.processor.use_default_system_prompt = False  # the system prompt is written into the text below
        self.device = device
        self.cfg_weight, self.temperature = cfg_weight, temperature
        self.max_new_tokens, self.caption_max_new_tokens = max_new_tokens, caption_max_new_tokens
        tokenizer = self.processor.tokenizer
        self.pad_token_id = self.model.generation_config.pad_token_id
        if self.pad_token_id is None:
            self.pad_token_id = tokenizer.pad_token_id
        vision = self.model.config.vision_config
        self.recipe = {
            "resolution": vision.image_size, "image_tokens": vision.num_image_tokens,
            "cfg": cfg_weight, "cfg_applied": "raw generation-head logits, uncond + w * (cond - uncond); "
                                              "unconditional rows: the prompt but its first and last token padded",
            "temperature": temperature, "top_k": None, "top_p": None, "images_per_request": 1,
            "understanding": f"greedy, at most {max_new_tokens} new tokens, Janus's default system prompt",
            "answers": answers,
            "ip_caption": f"greedy, at most {caption_max_new_tokens} new tokens, of the first training photo",
            "seed": "harness stable_seed per request; image stream stable_seed(seed, 'janus_image_batch', 0)",
            "precision": str(precision).removeprefix("torch."),
            "batching": "one request at a time" if prompt_batch == 1 else
            f"{prompt_batch} prompts per call, one random stream per call (images depend on their batch)",
        }
        self.size = checkpoint_size(checkpoint, self.model)
        self._references: dict[str, Image.Image] = {}
        """Concept -> its first training photo, decoded once."""
        self._captions: dict[str, str] = {}
        """Concept -> the model's caption of that photo."""

    def personalize(self, concept: Concept, train_images: list[Path]) -> None:
        if self.mode == "ip" and not train_images:
            raise ModelError(f"janus-ip: concept {concept.id} has no training photo to show")
        if train_images:
            self._references[concept.id] = open_rgb(train_images[0])
            self._captions.pop(concept.id, None)

    def request_seed(self, base_seed: int, task: str, concept: str, item_id: str) -> int:
        return request_seed(base_seed, self.harness_name, task, concept, 0, item_id)

    def understanding_input(self, request: UnderstandRequest) -> tuple[str, list[Image.Image]]:
        """The prompt text (template included) and images the harness gives for this request."""
        concept = request.concept
        images = ([self._references[concept.id]] if self.mode == "ip" else []) + shown_image(request)
        if self.mode == "tp":
            text = with_tp_prefix(concept, request.prompt)
        else:
            text = joined(conditioning_text(concept), request.prompt)
        return sft_prompt(user_turn(text, len(images)), SYSTEM_PROMPT), images

    def generation_prompt(self, request: GenerateRequest) -> str:
        """The text the harness samples the image from (template included)."""
        concept, source = request.concept, source_prompt(request)
        if self.mode == "tp":
            text = with_tp_prefix(concept, source)
        else:
            caption = self._caption(concept.id)
            text = joined(conditioning_text(concept), source, f"Reference appearance details: {caption}")
        return sft_prompt(text.strip(), "")

    @torch.inference_mode()
    def _chat(self, prompt: str, images: list[Image.Image], max_new_tokens: int) -> str:
        inputs = self.processor(text=[prompt], images=images or None, return_tensors="pt").to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        output = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        length = inputs["input_ids"].shape[1]
        new = output[0, length:]
        decode = self.processor.tokenizer.decode
        answer = decode(new, skip_special_tokens=True).strip()
        if self.answers == "harness" and len(new) > length:  # see the module docstring
            answer = decode(new[length:], skip_special_tokens=True).strip() or answer
        return clean_answer(answer)

    def _caption(self, concept_id: str) -> str:
        if concept_id not in self._captions:
            prompt = sft_prompt(user_turn(CAPTION_INSTRUCTION, 1), SYSTEM_PROMPT)
            self._captions[concept_id] = self._chat(prompt, [self._references[concept_id]],
                                                    self.caption_max_new_tokens)
        return self._captions[concept_id]

    def understand(self, requests: list[UnderstandRequest]) -> list[str]:
        return [self._chat(*self.understanding_input(request), self.max_new_tokens) for request in requests]

    def generate(self, requests: list[GenerateRequest]) -> list[Image.Image]:
        size = self.prompt_batch
        return [image for start in range(0, len(requests), size)
                for image in self._generate_batch(requests[start:start + size])]

    @torch.inference_mode()
    def _generate_batch(self, requests: list[GenerateRequest]) -> list[Image.Image]:
        """One image per request in one token loop, sampled from one stream seeded by the first request's image
        seed: with one request, exactly the harness's image (its `_run_generation_batch`, written out the same
        way: cond/uncond rows interleaved, the uncond prompt padded but for its first and last token, a growing
        key/value cache, CFG on the generation head's raw logits, softmax sampling at the temperature, no
        top-k or top-p). Several prompts are left-padded, with their attention masks and positions."""
        tokenizer = self.processor.tokenizer
        prompts = [tokenizer(self.generation_prompt(r) + tokenizer.boi_token)["input_ids"] for r in requests]
        width = max(len(ids) for ids in prompts)
        rows = torch.full((2 * len(prompts), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(rows)
        for k, ids in enumerate(prompts):
            row = torch.tensor(ids)
            rows[2 * k, width - len(ids):] = row
            rows[2 * k + 1, width - len(ids):] = row
            rows[2 * k + 1, width - len(ids) + 1:width - 1] = self.pad_token_id
            mask[2 * k:2 * k + 2, width - len(ids):] = 1
        rows, mask = rows.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        embeds = self.model.get_input_embeddings()(rows)
        language, head = self.model.model.language_model, self.model.model.generation_head
        cache, tokens, cache_arg = None, [], cache_keyword(language.forward)
        torch.manual_seed(stable_seed(requests[0].seed, "janus_image_batch", 0))
        padded = len(prompts) > 1  # one prompt: no mask or positions, as the harness calls the model
        for _ in range(self.recipe["image_tokens"]):
            out = language(inputs_embeds=embeds, attention_mask=mask if padded else None,
                           position_ids=positions if padded else None, use_cache=True, **{cache_arg: cache})
            cache = getattr(out, cache_arg)
            logits = head(out.last_hidden_state[:, -1, :])
            guided = logits[1::2] + self.cfg_weight * (logits[0::2] - logits[1::2])
            if self.temperature > 0:
                token = torch.multinomial(torch.softmax(guided / max(self.temperature, 1e-5), dim=-1), 1)
            else:
                token = guided.argmax(dim=-1, keepdim=True)
            tokens.append(token)
            pair = token.repeat_interleave(2, dim=0)
            embeds = self.model.prepare_embeddings_for_image_generation(pair.squeeze(-1)).unsqueeze(1)
            mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=-1)
            positions = positions[:, -1:] + 1
        pixels = self.model.decode_image_tokens(torch.cat(tokens, dim=-1)).float().cpu().numpy()
        return [Image.fromarray(np.clip((one + 1.0) / 2.0 * 255.0, 0, 255).astype(np.uint8)) for one in pixels]


def checkpoint_size(checkpoint: str, model: torch.nn.Module) -> str:
    """The size a leaderboard row shows: the one the checkpoint is named by (`Janus-Pro-7B` -> 7B), else the
    parameter count."""
    named = re.search(r"(?<![\w.])(\d+(?:\.\d+)?)[Bb](?![\w])", Path(checkpoint).name)
    if named:
        return f"{named.group(1)}B"
    return size_label(sum(p.numel() for p in model.parameters()))


def janus_tp(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> Janus:
    return Janus(checkpoint, device, mode="tp", **options)


def janus_ip(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> Janus:
    return Janus(checkpoint, device, mode="ip", **options)
