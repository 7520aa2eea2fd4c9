"""The LLM judge: the harness's judge prompts asked through the shared OpenAI-compatible transport.

Works with the OpenAI API or any compatible server (`base_url`). It asks the
public Sync-R1 harness's prompts (`templates/`) with the harness's settings
(temperature 1e-5, at most 64 reply tokens) and returns the raw reply; the
metric parses it under its protocol (`text_metrics.judge_score`), so both
protocols share one cached answer. Replies are cached (`unifybench_pp.openai_transport`)
keyed by (model, template hash, messages, image sha256), so re-running an
evaluation pays nothing; the transport's circuit breaker stops asking a
judge that does not answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unifybench_pp.openai_transport import Transport, Usage, endpoint, image_data_url, reply_text, request_key

from .scorers.unavailable import ScorerUnavailable
from .scoring_config import DEFAULT_JUDGE_MODEL

TEMPLATE_DIR = Path(__file__).parent / "templates"

JUDGE_TEMPERATURE = 1e-5
JUDGE_MAX_TOKENS = 64
"""The harness's judge settings (`evaluation/user_settings.py`)."""


@dataclass(frozen=True)
class JudgeRequest:
    template: str
    variables: dict[str, str]
    images: tuple[Path, ...] = ()
    repeat: int = 0
    """Asking the same prompt again (`--judge-repeats`): a separate cache entry, so the judge answers anew."""


@dataclass
class JudgeResult:
    reply: str | None
    """The judge's reply text; None when no reply came (`error` says why)."""
    error: str | None = None
    cached: bool = False
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.reply is not None


def load_template(name: str) -> tuple[str, str, str]:
    """(system text, user text, sha256 of the template file)."""
    raw = (TEMPLATE_DIR / f"{name}.txt").read_text(encoding="utf-8")
    system, _, user = raw.partition("\n===\n")
    return system.strip(), user.strip(), hashlib.sha256(raw.encode()).hexdigest()


def _fill(text: str, variables: dict[str, str]) -> str:
    # Plain replacement: templates contain literal JSON braces that str.format would choke on.
    for key, value in variables.items():
        text = text.replace("{" + key + "}", value)
    return text


class Judge:
    def __init__(
        self,
        model: str = DEFAULT_JUDGE_MODEL,
        base_url: str | None = None,
        cache_path: Path = Path.home() / ".cache" / "ubpp" / "judge.sqlite",
        concurrency: int = 8,
        max_retries: int = 5,
        timeout: float = 60.0,
        backoff: float = 1.0,
        api_key_env: str = "OPENAI_API_KEY",
    ) -> None:
        base_url, api_key = endpoint(base_url, api_key_env)
        if not api_key and not base_url:
            raise ScorerUnavailable(f"no judge: set {api_key_env} or pass --judge-base-url for a compatible server")
        self.model = model
        self.transport = Transport(base_url, api_key, cache_path, timeout, max_retries, backoff, concurrency,
                                   name="judge")

    @property
    def usage(self) -> Usage:
        return self.transport.usage

    @property
    def model_id(self) -> str:
        return self.model

    def template_hash(self, template: str) -> str:
        return load_template(template)[2]

    def _messages(self, request: JudgeRequest) -> tuple[list[dict[str, Any]], list[str]]:
        system, user, _ = load_template(request.template)
        text = _fill(user, request.variables)
        content: str | list[dict[str, Any]] = text if not request.images else [{"type": "text", "text": text}]
        hashes = []
        for path in request.images:
            url, digest = image_data_url(path)
            hashes.append(digest)
            content.append({"type": "image_url", "image_url": {"url": url}})
        return [{"role": "system", "content": _fill(system, request.variables)},
                {"role": "user", "content": content}], hashes

    def _cache_key(self, request: JudgeRequest, messages: list[dict[str, Any]], hashes: list[str]) -> str:
        """The request's key, images entering by content hash only (the sent messages carry them encoded)."""
        content = messages[1]["content"]
        if isinstance(content, list):
            content = [{**part, "image_url": "sha256"} if part["type"] == "image_url" else part for part in content]
        key = {"model": self.model, "template": self.template_hash(request.template),
               "messages": [messages[0], {**messages[1], "content": content}], "images": hashes}
        if request.repeat:
            key["repeat"] = request.repeat
        return request_key(key)

    def _call(self, request: JudgeRequest) -> JudgeResult:
        messages, hashes = self._messages(request)  # read and encode the images once, for the key and the call
        key = self._cache_key(request, messages, hashes)
        def ask() -> str:
            response = self.transport.client.chat.completions.create(
                model=self.model, messages=messages, temperature=JUDGE_TEMPERATURE, max_tokens=JUDGE_MAX_TOKENS)
            self.usage.count_tokens(response)
            return reply_text(response)

        # usable: a text; "" is a failure an earlier version cached.
        answer = self.transport.cached(key, "reply", ask, lambda reply: isinstance(reply, str) and bool(reply))
        if answer.value is None:
            return JudgeResult(None, error=answer.error, attempts=answer.attempts)
        return JudgeResult(answer.value, cached=answer.cached, attempts=answer.attempts)

    def run(self, requests: Sequence[JudgeRequest], advance: Callable[[], None] = lambda: None) -> list[JudgeResult]:
        """Answer every request with at most `concurrency` calls in flight; order is kept."""
        def one(request: JudgeRequest) -> JudgeResult:
            result = self._call(request)
            advance()
            return result

        return self.transport.map(one, requests)
