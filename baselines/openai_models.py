"""GPT-4o rows of Table 1 through any OpenAI-compatible API: `gpt-4o-tp` and `gpt-4o-ip`.

TP describes the concept in text (its profile sentence); IP shows its
reference photos. Understanding goes through chat completions (photos as data
URLs); generation through the images API (`images.generate` for TP,
`images.edit` with the reference photos for IP). Calls share the judge's
machinery: an SQLite cache keyed by the request (so a resumed run pays
nothing twice), retries with backoff on 429/5xx/timeouts, bounded
concurrency, token counting (`openai_transport`). The key comes from
OPENAI_API_KEY and is never written anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

from unifybench_pp.openai_transport import (
    GPT4O,
    MalformedReply,
    Transport,
    endpoint,
    image_data_url,
    reply_text,
    request_key,
)
from unifybench_pp.prompts import tp_prefix
from unifybench_pp.schema import Concept

from .base import GenerateRequest, ModelError, UnderstandRequest, checked_number


class OpenAIModel:
    capabilities = {"understand", "generate"}

    def __init__(self, name: str, mode: str, checkpoint: str | None, base_url: str | None = None,
                 image_model: str = "gpt-image-1", image_size: str = "1024x1024", max_tokens: int = 300,
                 cache: str | None = None, concurrency: int = 4, max_retries: int = 5, backoff: float = 1.0,
                 timeout: float = 120.0) -> None:
        max_tokens = checked_number(name, "max_tokens", max_tokens, whole=True, least=1)
        concurrency = checked_number(name, "concurrency", concurrency, whole=True, least=1)
        max_retries = checked_number(name, "max_retries", max_retries, whole=True)
        backoff = checked_number(name, "backoff", backoff)
        timeout = checked_number(name, "timeout", timeout, least=1e-3)
        base_url, key = endpoint(base_url)
        if not key and not base_url:
            raise ModelError(f"{name} needs an API: set OPENAI_API_KEY, or --option base_url=URL for a compatible "
                             f"server")
        self.name, self.mode = name, mode
        self.model = checkpoint or GPT4O
        self.image_model, self.image_size, self.max_tokens = image_model, image_size, max_tokens
        self.recipe = {"understanding": f"{self.model}, temperature 0, at most {max_tokens} tokens, the request's "
                                        f"seed sent", "generation": f"{image_model} at {image_size}",
                       "images_per_request": 1}
        self.transport = Transport(base_url, key, Path(cache) if cache else Path.home() / ".cache" / "ubpp" /
                                   "models.sqlite", timeout, max_retries, backoff, concurrency, name)
        self._references: dict[str, tuple[Path, ...]] = {}

    def personalize(self, concept: Concept, train_images: list[Path]) -> None:
        """TP needs nothing beyond the request; IP shows the concept's training photos with every question."""
        self._references[concept.id] = tuple(train_images)

    def _cached(self, kind: str, payload: dict[str, Any], call: Any, usable: Any = bool) -> Any:
        """The cached answer when it is `usable` (an earlier version cached failures: "" and broken images),
        else one asked for and cached."""
        key = request_key({"kind": kind, "model": self.model, **payload})
        answer = self.transport.cached(key, "value", call, usable)
        if answer.value is None:
            raise ModelError(f"{self.name}: the API failed ({answer.error}) after {answer.attempts} attempt"
                             f"{'s' * (answer.attempts != 1)}; re-run to resume")
        return answer.value

    def _concept_messages(self, concept: Concept, references: tuple[Path, ...]) -> list[dict[str, Any]]:
        if self.mode == "tp":
            return [{"type": "text", "text": tp_prefix(concept.id, concept.info)}]
        parts: list[dict[str, Any]] = [{"type": "text", "text": f"These photos show {concept.token}, "
                                                                 f"a {concept.class_noun}:"}]
        return parts + [{"type": "image_url", "image_url": {"url": image_data_url(p)[0]}} for p in references]

    def _answer(self, request: UnderstandRequest, references: tuple[Path, ...]) -> str:
        user: list[dict[str, Any]] = [{"type": "text", "text": request.prompt},
                                      {"type": "image_url", "image_url": {"url": image_data_url(request.image)[0]}}]
        messages = [{"role": "system", "content": self._concept_messages(request.concept, references)},
                    {"role": "user", "content": user}]

        def ask() -> str:
            response = self.transport.client.chat.completions.create(model=self.model, messages=messages, temperature=0,
                                                            max_tokens=self.max_tokens, seed=request.seed)
            self.transport.usage.count_tokens(response)
            return reply_text(response)

        digest = hashlib.sha256(json.dumps(messages).encode()).hexdigest()
        return self._cached("chat", {"messages": digest, "seed": request.seed}, ask)

    def understand(self, requests: list[UnderstandRequest]) -> list[str]:
        refs = [self._references.get(r.concept.id, ()) if self.mode == "ip" else () for r in requests]
        return self.transport.map(self._answer, requests, refs)

    def _image(self, request: GenerateRequest) -> Image.Image:
        concept = request.concept
        if self.mode == "tp":
            prompt = request.prompt.replace(concept.token, f"the {concept.class_noun}") + \
                f" ({concept.info.replace(concept.token, 'the ' + concept.class_noun)})"
        else:
            prompt = request.prompt.replace(concept.token, f"the {concept.class_noun} in the reference photos")

        def draw() -> str:
            if self.mode == "tp":
                response = self.transport.client.images.generate(model=self.image_model, prompt=prompt,
                                                                 size=self.image_size, n=1)
            else:
                files = [(p.name, p.read_bytes()) for p in request.references]
                response = self.transport.client.images.edit(model=self.image_model, image=files, prompt=prompt,
                                                             size=self.image_size, n=1)
            try:
                encoded = response.data[0].b64_json
                _decode_image(encoded)
            except (AttributeError, IndexError, TypeError, ValueError, OSError) as error:
                raise MalformedReply(f"the image in the reply cannot be decoded ({error})") from None
            return encoded

        encoded = self._cached("image", {"prompt": prompt, "seed": request.seed, "image_model": self.image_model,
                                         "refs": [hashlib.sha256(p.read_bytes()).hexdigest()
                                                  for p in request.references] if self.mode == "ip" else []}, draw,
                               _decodable)
        return _decode_image(encoded)

    def generate(self, requests: list[GenerateRequest]) -> list[Image.Image]:
        return self.transport.map(self._image, requests)


def _decode_image(encoded: str) -> Image.Image:
    """A base64 PNG/JPEG from the images API as RGB; raises on anything else (checked before it is cached)."""
    return Image.open(io.BytesIO(base64.b64decode(encoded, validate=True))).convert("RGB")


def _decodable(encoded: Any) -> bool:
    try:
        _decode_image(encoded)
        return True
    except (TypeError, ValueError, OSError):
        return False


def gpt4o_tp(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> OpenAIModel:
    return OpenAIModel("gpt-4o-tp", "tp", checkpoint, **options)


def gpt4o_ip(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> OpenAIModel:
    return OpenAIModel("gpt-4o-ip", "ip", checkpoint, **options)
