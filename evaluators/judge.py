"""The LLM judge: an OpenAI-compatible chat client with a cache, retries and cost accounting.

Works with the OpenAI API or any compatible server (`base_url`). It asks the
public Sync-R1 harness's prompts (`templates/`) with the harness's settings
(temperature 1e-5, at most 64 reply tokens) and returns the raw reply; the
metric parses it under its protocol (`text_metrics.judge_score`), so both
protocols share one cached answer. Replies are cached in SQLite keyed by
(model, template hash, messages, image sha256), so re-running an evaluation
pays nothing. The API key is read from the environment and is never written
anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .scorers.base import ScorerUnavailable

DEFAULT_JUDGE_MODEL = "gpt-4o-2024-08-06"
UNREACHABLE_AFTER = 3
"""Items that failed to connect after all retries before the judge stops asking."""
TEMPLATE_DIR = Path(__file__).parent / "templates"

#: USD per million (input, output) tokens, for the per-run cost report.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-2024-08-06": (2.50, 10.00),
    "gpt-4o-2024-11-20": (2.50, 10.00),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
}


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


@dataclass
class JudgeUsage:
    requests: int = 0
    cached: int = 0
    failed: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)

    def cost_usd(self, model: str) -> float | None:
        price = PRICES.get(model)
        if price is None:
            return None
        return (self.prompt_tokens * price[0] + self.completion_tokens * price[1]) / 1e6

    def to_dict(self, model: str) -> dict[str, Any]:
        return {
            "requests": self.requests, "cached": self.cached, "failed": self.failed, "retries": self.retries,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd(model),
        }


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


class JudgeCache:
    """SQLite answer cache shared by threads and by processes (runs pointing at the same file).

    Write-ahead logging and one committed transaction per answer: a process
    killed at any point (kill -9 mid-call or mid-write) leaves a readable cache
    holding every answer stored before, so a re-run pays only for the rest.
    A busy timeout lets concurrent runs share the file instead of failing.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process kills
        with self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL)")
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored answer; a row that is not a JSON object (a damaged entry) counts as absent."""
        with self._lock:
            row = self._db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        try:
            answer = json.loads(row[0]) if row else None
        except (TypeError, ValueError, RecursionError):
            return None
        return answer if isinstance(answer, dict) else None

    def put(self, key: str, answer: dict[str, Any]) -> None:
        with self._lock, self._db:  # one transaction per answer, committed before the next call
            self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?)", (key, json.dumps(answer, sort_keys=True)))


class MalformedReply(Exception):
    """A 200 answer that is not a chat completion (a broken or foreign server): recorded, not retried."""


def count_tokens(usage: JudgeUsage, response: Any) -> None:
    counts = getattr(response, "usage", None)
    if counts is not None:
        usage.add(**{name: value for name in ("prompt_tokens", "completion_tokens")
                     if isinstance(value := getattr(counts, name, 0), int) and value >= 0})


def with_retries(call: Callable[[], Any], usage: JudgeUsage, max_retries: int, backoff: float
                 ) -> tuple[Any, str | None, int]:
    """(result, None, attempts), or (None, last error, attempts) once retries are spent.

    429, 5xx, timeouts and connection errors are retried with
    exponential backoff; other 4xx errors are not (retrying cannot help).
    """
    import openai

    error = "no attempt made"
    attempt = 0
    for attempt in range(max_retries + 1):
        if attempt:
            usage.add(retries=1)
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            usage.add(requests=1)
            return call(), None, attempt + 1
        except (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                openai.APIConnectionError) as exc:
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
        except (openai.APIStatusError, openai.APIResponseValidationError, MalformedReply, ValueError) as exc:
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
            break
    usage.add(failed=1)
    return None, error, attempt + 1


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
        from openai import OpenAI

        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        api_key = os.environ.get(api_key_env)
        if not api_key and not base_url:
            raise ScorerUnavailable(f"no judge: set {api_key_env} or pass --judge-base-url for a compatible server")
        self.model = model
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff = backoff
        self.usage = JudgeUsage()
        self.cache = JudgeCache(cache_path)
        # Circuit breaker: once a few items could not connect at all, the rest fail at once instead of
        # each waiting through its own backoff (an unreachable server is not a transient error).
        self._unreachable_items = 0
        self._last_connection_error = ""
        self._breaker_lock = threading.Lock()
        # Our own retry loop counts and backs off; the client's would hide both.
        self._client = OpenAI(api_key=api_key or "unused", base_url=base_url, max_retries=0, timeout=timeout)

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
            data = Path(path).read_bytes()
            hashes.append(hashlib.sha256(data).hexdigest())
            mime = "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
            url = f"data:{mime};base64,{base64.b64encode(data).decode()}"
            content.append({"type": "image_url", "image_url": {"url": url}})
        return [{"role": "system", "content": _fill(system, request.variables)},
                {"role": "user", "content": content}], hashes

    def cache_key(self, request: JudgeRequest) -> str:
        messages, hashes = self._messages(request)
        if isinstance(messages[1]["content"], list):
            for part in messages[1]["content"]:
                if part["type"] == "image_url":
                    part["image_url"] = "sha256"  # images enter the key by content hash only
        key = {"model": self.model, "template": self.template_hash(request.template), "messages": messages,
               "images": hashes}
        if request.repeat:
            key["repeat"] = request.repeat
        blob = json.dumps(key, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _call(self, request: JudgeRequest) -> JudgeResult:
        key = self.cache_key(request)
        cached = self.cache.get(key)
        if cached is not None and isinstance(cached.get("reply"), str):
            self.usage.add(cached=1)
            return JudgeResult(cached["reply"], cached=True)
        if self._unreachable_items >= UNREACHABLE_AFTER:
            self.usage.add(failed=1)
            return JudgeResult(None, error=f"judge unreachable, not asked ({self._last_connection_error})")
        messages, _ = self._messages(request)

        def ask() -> str:
            response = self._client.chat.completions.create(
                model=self.model, messages=messages, temperature=JUDGE_TEMPERATURE, max_tokens=JUDGE_MAX_TOKENS)
            count_tokens(self.usage, response)
            try:
                content = response.choices[0].message.content
            except (AttributeError, IndexError, KeyError, TypeError):
                raise MalformedReply(f"no message in the reply: {str(response)[:200]}") from None
            if content is not None and not isinstance(content, str):
                raise MalformedReply(f"message content is not text: {content!r:.200}")
            return content or ""

        reply, error, attempts = with_retries(ask, self.usage, self.max_retries, self.backoff)
        if reply is None:
            if error and error.startswith("APIConnectionError"):
                with self._breaker_lock:
                    self._unreachable_items += 1
                    self._last_connection_error = error
            return JudgeResult(None, error=error, attempts=attempts)
        self._unreachable_items = 0
        self.cache.put(key, {"reply": reply})
        return JudgeResult(reply, attempts=attempts)

    def run(self, requests: Sequence[JudgeRequest], advance: Callable[[], None] = lambda: None) -> list[JudgeResult]:
        """Answer every request with at most `concurrency` calls in flight; order is kept."""
        def one(request: JudgeRequest) -> JudgeResult:
            result = self._call(request)
            advance()
            return result

        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(one, requests))
