"""`emu3-tp`: BAAI's Emu3 through transformers, the concept described in text: Emu3-Chat answers, Emu3-Gen
draws (two checkpoints of one architecture: `--checkpoint` the Chat one, `--option gen=` the Gen one).

The authors' harness has no Emu3, so the recipe is Emu3's own (its model card and demo), with the harness's
text personalization (the `name:/info:` lines, as every TP row):

- Understanding: "You are a helpful assistant. USER: <image><text> ASSISTANT:", the text being the TP lines
  and the question; the test image unless it is the release's black image (then no `<image>`); greedy, at
  most 100 new tokens.
- Generation: the TP lines, the item's source prompt and Emu3's positive suffix (" masterpiece, film grained,
  best quality."); classifier-free guidance 3.0 against Emu3's negative prompt (transformers' unbatched CFG:
  the negative prompt runs as its own sequence), top-k 2048, temperature 1.0, square 1:1 at an area of
  518,400 px (720 x 720, 90 x 90 tokens); the token layout (rows of visual tokens, each closed by the
  end-of-line token, then end-of-frame, end-of-image, end) is forced as Emu3's demo forces it.
- Seeds: one request at a time, torch's stream seeded with the request's seed before it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image

from unifybench_pp.prompts import with_tp_prefix
from unifybench_pp.schema import Concept

from .base import GenerateRequest, UnderstandRequest, checked_number, model_dtype, weights_not_found
from .harness_inputs import shown_image, source_prompt

CHAT, GEN = "BAAI/Emu3-Chat-hf", "BAAI/Emu3-Gen-hf"
POSITIVE = " masterpiece, film grained, best quality."
NEGATIVE = ("lowres, bad anatomy, bad hands, text, error, missing fingers, extra digit, fewer digits, cropped, worst "
            "quality, low quality, normal quality, jpeg artifacts, signature, watermark, username, blurry.")
END_OF_LINE = "<|extra_200|>"


def chat_prompt(text: str, with_image: bool) -> str:
    return f"You are a helpful assistant. USER: {'<image>' if with_image else ''}{text} ASSISTANT:"


def _load(checkpoint: str, precision: torch.dtype, device: str, role: str) -> tuple[Any, Any]:
    from transformers import Emu3ForConditionalGeneration, Emu3Processor

    try:
        processor = Emu3Processor.from_pretrained(checkpoint)
        model = Emu3ForConditionalGeneration.from_pretrained(checkpoint, dtype=precision).to(device).eval()
    except (OSError, ValueError) as error:
        option = "--checkpoint " if role == "Chat" else "--option gen="
        raise weights_not_found(f"Emu3-{role}", checkpoint, error,
                                f"pass {option}PATH or a hub id ({CHAT if role == 'Chat' else GEN})") from None
    return processor, model


class Emu3:
    capabilities = {"understand", "generate"}

    def __init__(self, chat: str, gen: str, device: str = "cpu", dtype: str = "auto", max_new_tokens: int = 100,
                 cfg: float = 3.0, top_k: int = 2048, temperature: float = 1.0, image_area: int = 518400,
                 ratio: str = "1:1") -> None:
        self.name = "emu3-tp"
        max_new_tokens = checked_number(self.name, "max_new_tokens", max_new_tokens, whole=True, least=1)
        cfg = checked_number(self.name, "cfg", cfg)
        top_k = checked_number(self.name, "top_k", top_k, whole=True, least=1)
        temperature = checked_number(self.name, "temperature", temperature)
        image_area = checked_number(self.name, "image_area", image_area, whole=True, least=1)
        precision = model_dtype(dtype, device, self.name)
        self.chat_processor, self.chat = _load(chat, precision, device, "Chat")
        self.gen_processor, self.gen = _load(gen, precision, device, "Gen")
        self.device, self.max_new_tokens = device, max_new_tokens
        self.sampling = {"guidance_scale": cfg, "top_k": top_k, "temperature": temperature, "top_p": 1.0}
        self.layout = {"image_area": image_area, "ratio": ratio}
        tokens = self.gen_processor.calculate_generate_size(ratio, image_area, self.gen_processor.downsample_ratio)
        self.recipe = {"resolution": f"{tokens[1] * 8}x{tokens[0] * 8}", "image_tokens": f"{tokens[0]}x{tokens[1]}",
                       "cfg": cfg, "cfg_applied": "transformers' unbatched CFG against Emu3's negative prompt",
                       "positive_suffix": POSITIVE.strip(), "temperature": temperature, "top_k": top_k,
                       "top_p": 1.0, "images_per_request": 1,
                       "understanding": f"greedy, at most {max_new_tokens} new tokens",
                       "seed": "torch's stream seeded with the request's seed, one request at a time",
                       "precision": str(precision).removeprefix("torch."), "chat": chat, "gen": gen}
        self._negative = self.gen_processor(text=[NEGATIVE], return_for_image_generation=True, return_tensors="pt",
                                            **self.layout)

    def personalize(self, concept: Concept, train_images: list[Path]) -> None:
        """Text-prompted: the concept is its `name:/info:` lines; no photo is shown."""

    def understanding_input(self, request: UnderstandRequest) -> tuple[str, list[Image.Image]]:
        images = shown_image(request)
        return chat_prompt(with_tp_prefix(request.concept, request.prompt), bool(images)), images

    def generation_prompt(self, request: GenerateRequest) -> str:
        return with_tp_prefix(request.concept, source_prompt(request)) + POSITIVE

    @torch.inference_mode()
    def understand(self, requests: list[UnderstandRequest]) -> list[str]:
        answers = []
        for request in requests:
            prompt, images = self.understanding_input(request)
            inputs = self.chat_processor(text=[prompt], images=images or None, return_tensors="pt").to(self.device)
            output = self.chat.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
            new = output[0, inputs["input_ids"].shape[1]:]
            answers.append(self.chat_processor.tokenizer.decode(new, skip_special_tokens=True).strip())
        return answers

    @torch.inference_mode()
    def generate(self, requests: list[GenerateRequest]) -> list[Image.Image]:
        images = []
        negative = self._negative.to(self.device)
        for request in requests:
            inputs = self.gen_processor(text=[self.generation_prompt(request)], return_for_image_generation=True,
                                        return_tensors="pt", **self.layout)
            height, width = inputs.pop("image_sizes")[0]
            inputs = inputs.to(self.device)
            torch.manual_seed(request.seed)
            output = self.gen.generate(
                **inputs, do_sample=True, max_new_tokens=(width + 1) * height + 3,
                prefix_allowed_tokens_fn=self._layout_rule(height, width),
                negative_prompt_ids=negative["input_ids"], negative_prompt_attention_mask=negative["attention_mask"],
                **self.sampling)
            tokens = output[:, inputs["input_ids"].shape[1]:]
            pixels = self.gen.decode_image_tokens(image_tokens=tokens, height=height, width=width)
            images.append(self.gen_processor.postprocess(list(pixels.float()),
                                                         return_tensors="PIL.Image.Image")["pixel_values"][0])
        return images

    def _layout_rule(self, height: int, width: int):
        """Emu3's image layout as allowed next tokens: `height` rows of `width` visual tokens, each row closed by
        the end-of-line token, then end-of-frame, end-of-image, end of sequence, padding."""
        tokenizer = self.gen_processor.tokenizer
        wrapper = tokenizer.convert_tokens_to_ids(tokenizer.image_wrapper_token)
        visual = self.gen.model.vocabulary_mapping.image_tokens
        tail = [tokenizer.convert_tokens_to_ids(tokenizer.eof_token), tokenizer.eoi_token_id, tokenizer.eos_token_id]
        end_of_line = [tokenizer.convert_tokens_to_ids(END_OF_LINE)]
        image_length = (width + 1) * height

        def allowed(_: int, ids: torch.Tensor) -> list[int]:
            offset = ids.shape[0] - torch.nonzero(ids == wrapper, as_tuple=True)[0][0].item()
            if offset > image_length + 3:
                return [tokenizer.pad_token_id]
            if offset > image_length:
                return [tail[offset - image_length - 1]]
            return end_of_line if offset % (width + 1) == 0 else visual

        return allowed


def emu3_tp(checkpoint: str | None = None, device: str = "cpu", gen: str = GEN, **options: Any) -> Emu3:
    return Emu3(checkpoint or CHAT, gen, device, **options)
