"""An OpenAI-compatible API as this project pays for it: one client, a durable answer cache, retries, usage and cost.

The judge (`evaluators.judge`) and the GPT-4o rows (`baselines.openai_models`)
both ask an OpenAI-compatible server for answers that must be paid for once:
an answer is stored in SQLite as soon as it arrives, so a killed or resumed
run never asks again; transient failures (429, 5xx, timeouts, lost
connections) are retried with exponential backoff through tenacity, other
errors are not (retrying cannot help), nor is a refused connection or a host
name that does not resolve: nothing is listening there, so every later call
fails at once with that reason instead of each spending its backoff
(a re-run asks again: failures are not cached). A server that is there but
not answering (connections dropped, timeouts) is retried per item, and once
`UNREACHABLE_AFTER` items in a row failed that way the rest are not asked
either. Requests, retries, failures and tokens are counted for the run's cost
report. The key is read from the environment and is never written anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

UNREACHABLE_AFTER = 3
"""Items in a row that could not connect or timed out after all their retries before the rest are not asked."""

GPT4O = "gpt-4o-2024-08-06"
"""The GPT-4o the paper reports (its GPT-4o rows and its judge)."""

#: USD per million (input, output) tokens, for the per-run cost report.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-2024-08-06": (2.50, 10.00),
    "gpt-4o-2024-11-20": (2.50, 10.00),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
}


@dataclass
class Usage:
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

    def count_tokens(self, response: Any) -> None:
        """Add a completion's token counts; a reply without (valid) counts adds nothing."""
        counts = getattr(response, "usage", None)
        if counts is not None:
            self.add(**{name: value for name in ("prompt_tokens", "completion_tokens")
                        if isinstance(value := getattr(counts, name, 0), int) and value >= 0})

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


def added_usage(earlier: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """Two `Usage.to_dict` records as one: counts and cost summed (a cost stays None where neither knows it)."""
    total = {key: earlier.get(key, 0) + now.get(key, 0) for key in (*earlier, *now) if key != "cost_usd"}
    costs = [usage["cost_usd"] for usage in (earlier, now) if usage.get("cost_usd") is not None]
    return {**total, "cost_usd": sum(costs) if costs else None}


@dataclass(frozen=True)
class Answer:
    """One request's outcome: its value, or the error and how many attempts were made; `cached` when no call
    was made."""

    value: Any
    error: str | None = None
    attempts: int = 0
    cached: bool = False


class AnswerCache:
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
            self._db.execute("CREATE TABLE IF NOT EXISTS claims "
                             "(key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)")
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

    def claim(self, key: str, lease: float) -> str | None:
        """A token when this caller may ask for `key` now, None while another caller (thread or process) is
        asking for it. A claim ends when released, when its lease runs out, or when its process is gone from
        this host (kill -9), so a dead claimant delays the others by one poll, not a lease."""
        token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")  # the check and the insert are one write: atomic across processes
            row = self._db.execute("SELECT owner, expires FROM claims WHERE key = ?", (key,)).fetchone()
            if row is not None and row[1] > time.time() and _alive(row[0]):
                return None
            self._db.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?)", (key, token, time.time() + lease))
        return token

    def release(self, key: str, token: str) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, token))


def _alive(owner: str) -> bool:
    """Whether a claim's process may still be running: certain only for a process of this host."""
    host, pid, _ = owner.rsplit(":", 2)
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):  # alive under another user, or not a pid we can judge
        pass
    return True


class MalformedReply(Exception):
    """A 200 answer that is not what was asked for (a broken or foreign server): recorded, not retried."""


def reply_text(response: Any) -> str:
    """The text of a chat completion's first choice. No choice, no text (`content: null`) or an empty one is a
    MalformedReply: a failure the caller records, never an answer to cache (a cached "" would score 0 forever)."""
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, KeyError, TypeError):
        raise MalformedReply(f"no message in the reply: {str(response)[:200]}") from None
    if content is not None and not isinstance(content, str):
        raise MalformedReply(f"message content is not text: {content!r:.200}")
    if not content:
        raise MalformedReply("the reply has no text (content is null or empty)")
    return content


def image_data_url(path: Path) -> tuple[str, str]:
    """(data URL for the API, sha256 of the file): the URL is sent, the hash enters cache keys."""
    data = Path(path).read_bytes()
    mime = "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}", hashlib.sha256(data).hexdigest()


def request_key(payload: dict[str, Any]) -> str:
    """The cache key of a request: sha256 of its canonical JSON."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


SECRET_PATTERNS = (
    re.compile(r"(?i)(authorization|api[-_ ]?key|x-api-key)(['\"]?\s*[:=]\s*['\"]?)(?:(?:bearer|basic)\s+)?"
               r"[^\s'\",;]+"),
    re.compile(r"(?i)\b(bearer|basic)\s+(?!\[redacted\])[^\s'\",;]+"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),
)
"""What an error text may carry of a credential: an `Authorization:` / `api_key=` value, a bearer value, an
OpenAI-style `sk-` key. A server's 401 may echo the key it was sent (`Incorrect API key provided: ...`)."""
REDACTED = "[redacted]"


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` without the given secret values (the key in use, whatever its shape) and without anything shaped
    like a credential: error texts end up in scores.jsonl, summary.json, logs and published pages."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return SECRET_PATTERNS[2].sub(REDACTED, text)


def nothing_listens(exc: BaseException) -> bool:
    """Whether a connection failure was a refused connection or an unresolvable host name (looked up in the
    exception's causes: the OpenAI client wraps httpx's, which wraps the socket's)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, (ConnectionRefusedError, socket.gaierror)):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def endpoint(base_url: str | None, api_key_env: str = "OPENAI_API_KEY") -> tuple[str | None, str | None]:
    """(base URL, key) from the arguments and the environment; both None means there is nothing to ask."""
    return base_url or os.environ.get("OPENAI_BASE_URL"), os.environ.get(api_key_env)


class Transport:
    """A client plus what every paid call needs; callers build the request and parse the answer."""

    def __init__(self, base_url: str | None, api_key: str | None, cache_path: Path, timeout: float,
                 max_retries: int = 5, backoff: float = 1.0, concurrency: int = 8, name: str = "server") -> None:
        from openai import OpenAI

        self.max_retries, self.backoff, self.concurrency = max_retries, backoff, concurrency
        self.name = name
        """Who is asked, as failure messages name it ("judge", "gpt-4o-tp")."""
        # The longest one call may take with its retries: a claim outliving it belongs to a hung claimant.
        self.lease = timeout * (max_retries + 1) + backoff * 2 ** (max_retries + 1)
        self._secrets = (api_key,)
        self.base_url = base_url or "https://api.openai.com/v1"
        self.down: str | None = None
        """Why nothing is asked any more: set by the first refused connection (see `nothing_listens`)."""
        # Circuit breaker for a server that is there but not answering: items in a row that failed to connect
        # or timed out after their retries, and the last such error.
        self._unreachable_items = 0
        self._last_unreachable = ""
        self._breaker_lock = threading.Lock()
        self.usage = Usage()
        self.cache = AnswerCache(cache_path)
        # tenacity counts and backs off; the client's own retries would hide both.
        self.client = OpenAI(api_key=api_key or "unused", base_url=base_url, max_retries=0, timeout=timeout)

    def call(self, request: Callable[[], T]) -> tuple[T | None, str | None, int]:
        """(result, None, attempts), or (None, last error, attempts) once retries are spent or cannot help."""
        import openai
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

        transient = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                     openai.APIConnectionError)
        permanent = (openai.APIStatusError, openai.APIResponseValidationError, MalformedReply, ValueError)
        attempts = 0

        def attempt() -> T:
            nonlocal attempts
            attempts += 1
            self.usage.add(requests=1)
            return request()

        retrying = Retrying(stop=stop_after_attempt(self.max_retries + 1), reraise=True,
                            wait=wait_exponential(multiplier=self.backoff, exp_base=2, min=0),
                            retry=retry_if_exception(lambda exc: isinstance(exc, transient)
                                                     and not nothing_listens(exc) and self.down is None),
                            before_sleep=lambda _: self.usage.add(retries=1))
        try:
            result = retrying(attempt)
        except transient + permanent as exc:
            self.usage.add(failed=1)
            error = f"{type(exc).__name__}: {redact(str(exc), self._secrets)[:200]}"
            if nothing_listens(exc):
                error = (f"{error} (nothing answers at {redact(self.base_url, self._secrets)}: connection refused "
                         "or unknown host; start the server or fix the URL, then run again)")
                self.down = error
            elif isinstance(exc, openai.APIConnectionError):  # timeouts too (a subclass): the server is not answering
                with self._breaker_lock:
                    self._unreachable_items += 1
                    self._last_unreachable = error
            return None, error, attempts
        with self._breaker_lock:
            self._unreachable_items = 0
        return result, None, attempts

    def refusal(self) -> str | None:
        """Why a request is not asked at all: the server was found down, or the breaker is open."""
        if self.down:
            return f"not asked: {self.down}"
        with self._breaker_lock:
            if self._unreachable_items >= UNREACHABLE_AFTER:
                return f"{self.name} unreachable, not asked ({self._last_unreachable})"
        return None

    def cached(self, key: str, field: str, request: Callable[[], T], usable: Callable[[Any], bool] = bool
               ) -> Answer:
        """The cached `field` of `key` when `usable`, else `request`'s result, stored before it is returned.

        Callers sharing the cache file (threads, concurrent runs) ask for one key once: the first claims it,
        the others wait for its answer and take it from the cache; when the claimant fails, the next one asks.
        After a cache miss, a `refusal` (server down, breaker open) is the answer instead of a call."""
        wait = 0.02
        while True:
            if (answer := self._stored(key, field, usable)) is not None:
                return answer
            reason = self.refusal()
            if reason is not None:
                self.usage.add(failed=1)
                return Answer(None, error=reason)
            token = self.cache.claim(key, self.lease)
            if token is not None:
                # Another caller may have stored the answer and released its claim between our look and our
                # claim: look again before paying.
                if (answer := self._stored(key, field, usable)) is not None:
                    self.cache.release(key, token)
                    return answer
                break
            time.sleep(wait)
            wait = min(wait * 2, 1.0)
        try:
            value, error, attempts = self.call(request)
            if value is not None:
                self.cache.put(key, {field: value})
            return Answer(value, error, attempts)
        finally:
            self.cache.release(key, token)

    def _stored(self, key: str, field: str, usable: Callable[[Any], bool]) -> Answer | None:
        hit = self.cache.get(key)
        if hit is not None and usable(hit.get(field)):
            self.usage.add(cached=1)
            return Answer(hit[field], cached=True)
        return None

    def map(self, function: Callable[..., T], *iterables: Iterable[Any]) -> list[T]:
        """`function` over the iterables in step (as the built-in `map`), at most `concurrency` calls in flight;
        order is kept."""
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(function, *iterables))
