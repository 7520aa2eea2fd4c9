"""The judge against a real local HTTP server: retries, failures, cache, concurrency, no key leaks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bench.openai_server import ScriptedServer
from evaluators.judge import Judge, JudgeRequest
from evaluators.scorers.unavailable import ScorerUnavailable
from unifybench_pp import MINI_SOURCE

SECRET = "sk-test-secret-key-123"


def answer_request(k: int = 0) -> JudgeRequest:
    return JudgeRequest("text_answer", {"question": f"What colour is <bo>? ({k})", "reference": "Red.",
                                        "prediction": "red"})


def make_judge(server: ScriptedServer, tmp_path: Path, **kwargs) -> Judge:
    kwargs.setdefault("backoff", 0.01)
    return Judge("gpt-4o-2024-08-06", base_url=server.base_url, cache_path=tmp_path / "cache.sqlite", **kwargs)


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def test_answers_usage_and_cost(tmp_path: Path) -> None:
    with ScriptedServer(lambda body, n: ("ok", "0.5")) as server:
        judge = make_judge(server, tmp_path)
        [result] = judge.run([answer_request()])
        sent = server.requests[0]["body"]
    assert result.ok and result.reply == "0.5"
    # The harness's settings and prompt, word for word.
    assert sent["temperature"] == 1e-5 and sent["max_tokens"] == 64 and sent["model"] == "gpt-4o-2024-08-06"
    assert "response_format" not in sent
    assert sent["messages"][0]["content"].startswith("You are a score evaluator. Given a question, a reference answer")
    assert sent["messages"][1]["content"] == ("Question: What colour is <bo>? (0)\nReference answer: Red.\n"
                                              "Predicted answer: red")
    assert judge.usage.prompt_tokens == 100 and judge.usage.completion_tokens == 10
    assert judge.usage.cost_usd("gpt-4o-2024-08-06") == pytest.approx((100 * 2.5 + 10 * 10) / 1e6)


def test_retries_on_429_and_500_but_not_on_a_reply(tmp_path: Path) -> None:
    replies = [("status", 429), ("status", 500), ("ok", "not a number at all"), ("ok", "1")]
    with ScriptedServer(lambda body, n: replies[n - 1]) as server:
        judge = make_judge(server, tmp_path)
        [result] = judge.run([answer_request()])
    # Any reply is kept as it came: the metric parses it under its protocol (syncr1: 0; strict: a failure).
    assert result.ok and result.reply == "not a number at all" and result.attempts == 3
    assert judge.usage.retries == 2 and judge.usage.requests == 3 and judge.usage.failed == 0


def test_retries_after_a_timeout(tmp_path: Path) -> None:
    replies = [("sleep", 2.0, "0"), ("ok", "0")]
    with ScriptedServer(lambda body, n: replies[min(n, 2) - 1]) as server:
        judge = make_judge(server, tmp_path, timeout=0.5)
        [result] = judge.run([answer_request()])
    assert result.ok and result.attempts == 2


def test_failures_are_recorded_not_scored(tmp_path: Path) -> None:
    with ScriptedServer(lambda body, n: ("status", 503)) as server:
        judge = make_judge(server, tmp_path, max_retries=2)
        [result] = judge.run([answer_request()])
        assert len(server.requests) == 3
    assert not result.ok and result.reply is None and "InternalServerError" in result.error
    assert judge.usage.failed == 1


def test_client_errors_are_not_retried(tmp_path: Path) -> None:
    with ScriptedServer(lambda body, n: ("status", 400)) as server:
        [result] = make_judge(server, tmp_path).run([answer_request()])
        assert len(server.requests) == 1
    assert not result.ok and "BadRequestError" in result.error


def test_second_run_makes_zero_requests(tmp_path: Path) -> None:
    image = MINI_SOURCE / "concept/test/ast/0.jpg"
    requests = [answer_request(k) for k in range(5)] + [
        JudgeRequest("clause_binary", {"clause": "smiling"}, (image,))]

    def script(body: dict, n: int) -> tuple:
        if body["messages"][0]["content"].startswith("You are a professional image evaluator"):
            assert body["messages"][1]["content"][0]["text"] == "Text clause: smiling"
            assert body["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
            return ("ok", "0")
        return ("ok", "1")

    with ScriptedServer(script) as server:
        first = make_judge(server, tmp_path).run(requests)
        assert len(server.requests) == 6
        again = make_judge(server, tmp_path)
        second = again.run(requests)
        assert len(server.requests) == 6
    assert [r.reply for r in first] == [r.reply for r in second]
    assert all(r.cached for r in second) and again.usage.cached == 6 and again.usage.requests == 0
    assert first[-1].reply == "0"


def test_changed_template_or_model_misses_the_cache(tmp_path: Path) -> None:
    with ScriptedServer(lambda body, n: ("ok", "1")) as server:
        make_judge(server, tmp_path).run([answer_request()])
        other = Judge("gpt-4o-mini", base_url=server.base_url, cache_path=tmp_path / "cache.sqlite", backoff=0.01)
        other.run([answer_request()])
        assert len(server.requests) == 2


def test_concurrency_keeps_that_many_calls_in_flight(tmp_path: Path) -> None:
    """Counted by the server, not timed (a loaded machine makes wall-clock ratios flaky): serial is one call at a
    time, concurrency 8 overlaps calls (each takes 0.3 s, so eight starts overlap unless the machine stalls)."""
    requests = [answer_request(k) for k in range(16)]
    for concurrency in (1, 8):
        with ScriptedServer(lambda body, n: ("ok", "1"), latency=0.3) as server:
            results = make_judge(server, tmp_path / str(concurrency), concurrency=concurrency).run(requests)
        assert all(r.ok for r in results) and len(server.requests) == 16
        assert (server.max_in_flight == 1) if concurrency == 1 else (4 <= server.max_in_flight <= 8)


def test_api_key_is_sent_but_never_written(tmp_path: Path) -> None:
    with ScriptedServer(lambda body, n: ("ok", "1")) as server:
        judge = make_judge(server, tmp_path)
        results = judge.run([answer_request()])
        assert server.requests[0]["auth"] == f"Bearer {SECRET}"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes()
    assert SECRET not in repr(results) and SECRET not in json.dumps(judge.usage.to_dict(judge.model))


def test_no_key_and_no_server_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ScorerUnavailable, match="no judge: set OPENAI_API_KEY"):
        Judge(cache_path=tmp_path / "c.sqlite")


@pytest.mark.parametrize("concurrency", [1, 8])
def test_a_refused_connection_is_not_retried_and_nothing_more_is_asked(tmp_path: Path, concurrency: int) -> None:
    """Nothing listens on the port: retrying cannot help (it took 62 s of backoff for 40 items at concurrency 8),
    so the first refusal is the answer for every item, naming the URL and the fix; the calls already in flight
    end on their own refusal."""
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    judge = Judge("gpt-4o-2024-08-06", base_url=f"http://127.0.0.1:{port}/v1", cache_path=tmp_path / "c.sqlite",
                  backoff=1.0, max_retries=5, concurrency=concurrency)
    start = time.perf_counter()
    results = judge.run([answer_request(k) for k in range(40)])
    assert time.perf_counter() - start < 5
    assert not any(r.ok for r in results) and judge.usage.failed == 40 and judge.usage.retries == 0
    assert 1 <= judge.usage.requests <= concurrency
    assert all(f"nothing answers at http://127.0.0.1:{port}/v1" in r.error for r in results)
    assert sum(r.error.startswith("not asked") for r in results) >= 40 - concurrency


def test_a_connection_that_drops_is_retried_and_trips_the_breaker_after_a_few_items(tmp_path: Path) -> None:
    """A server that accepts and closes at once is there but failing: each item retries, and after three items
    the rest fail at once."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    stop = threading.Event()

    def drop() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                listener.accept()[0].close()
            except OSError:
                continue

    thread = threading.Thread(target=drop, daemon=True)
    thread.start()
    try:
        judge = Judge("gpt-4o-2024-08-06", base_url=f"http://127.0.0.1:{listener.getsockname()[1]}/v1",
                      cache_path=tmp_path / "c.sqlite", backoff=0.01, max_retries=2, concurrency=1)
        results = judge.run([answer_request(k) for k in range(20)])
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert not any(r.ok for r in results) and judge.usage.failed == 20
    assert judge.usage.requests == 3 * 3  # three items tried with their retries, the rest not asked
    assert "nothing answers" not in results[0].error
    assert "judge unreachable, not asked" in results[-1].error


@pytest.mark.parametrize("bad", [("raw", json.dumps({"id": "x", "object": "chat.completion", "created": 0,
                                                     "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
                                                     "message": {"role": "assistant", "content": None}}]})),
                                 ("ok", ""),
                                 ("raw", json.dumps({"id": "x", "object": "chat.completion", "created": 0,
                                                     "model": "m", "choices": []}))])
def test_a_reply_without_text_is_a_failure_and_never_cached(tmp_path: Path, bad: tuple) -> None:
    """`content: null`, an empty text or no choice at all: recorded as a failure (the old code cached "" and the
    item scored 0 forever); the next run asks again and caches the real answer."""
    replies = [bad, ("ok", "1")]
    with ScriptedServer(lambda body, n: replies[min(n, 2) - 1]) as server:
        first = make_judge(server, tmp_path, max_retries=0).run([answer_request()])[0]
        assert not first.ok and "reply" in first.error
        second = make_judge(server, tmp_path, max_retries=0).run([answer_request()])[0]
        third = make_judge(server, tmp_path, max_retries=0).run([answer_request()])[0]
    assert (second.reply, second.cached) == ("1", False) and (third.reply, third.cached) == ("1", True)
    assert len(server.requests) == 2


def test_a_hung_judge_fails_fast_once_timeouts_trip_the_breaker(tmp_path: Path) -> None:
    """A server that never answers in time: each call times out (--judge-timeout), and after three items timed
    out the rest fail at once instead of each waiting through its timeout (the issue saw 820 s for 8 items)."""
    with ScriptedServer(lambda body, n: ("sleep", 3.0, "1")) as server:
        judge = make_judge(server, tmp_path, timeout=0.3, max_retries=0, concurrency=1)
        started = time.perf_counter()
        results = judge.run([answer_request(k) for k in range(8)])
        elapsed = time.perf_counter() - started
    assert not any(r.ok for r in results)
    assert all("APITimeoutError" in r.error for r in results[:3])
    assert all("judge unreachable, not asked" in r.error for r in results[3:])
    assert len(server.requests) == 3 and elapsed < 3.0


def test_the_breaker_is_the_transports_and_counts_failures_in_a_row(tmp_path: Path) -> None:
    """The breaker lives in the shared transport (the GPT-4o rows' too): it opens after three items in a row timed
    out, a success in between starts the count again, and the refusal names who was asked."""
    from unifybench_pp.openai_transport import Transport

    answers = iter([("sleep", 3.0, "x"), ("sleep", 3.0, "x"), ("ok", "1"), ("sleep", 3.0, "x"), ("sleep", 3.0, "x"),
                    ("sleep", 3.0, "x")])
    with ScriptedServer(lambda body, n: next(answers)) as server:
        transport = Transport(server.base_url, "sk-test", tmp_path / "c.sqlite", timeout=0.3, max_retries=0,
                              name="gpt-4o-tp")

        def ask(k: int) -> str | None:
            def request() -> str:
                return transport.client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": str(k)}]).choices[0].message.content
            answer = transport.cached(f"key {k}", "value", request)
            return answer.value if answer.value is not None else answer.error

        outcomes = [ask(k) for k in range(8)]
    assert outcomes[2] == "1" and all(o.startswith("APITimeoutError") for o in outcomes[:2] + outcomes[3:6])
    assert all(o.startswith("gpt-4o-tp unreachable, not asked (APITimeoutError") for o in outcomes[6:])
    assert len(server.requests) == 6


def test_judge_timeout_and_retries_are_options_with_bounds(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli import app

    for bad in (["--judge-timeout", "0"], ["--judge-retries", "-1"], ["--judge-concurrency", "0"]):
        result = CliRunner().invoke(app, ["score", str(tmp_path), str(tmp_path / "p.jsonl"), *bad])
        assert result.exit_code == 2 and "Invalid value" in result.output, bad
    assert "--judge-timeout" in CliRunner().invoke(app, ["evaluate", "--help"]).output


def test_a_run_keeps_what_judging_it_cost_when_scored_again(mini_build: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-run or resume finds every answer in the cache: its own usage is 0 requests, but the run's recorded
    cost (the leaderboard's "judge cost") used to be replaced by that 0."""
    import unifybench_pp
    from baselines.registry import create
    from evaluators.rundir import read_run_info
    from evaluators.runner import EvalConfig, run_evaluation
    from evaluators.scoring_config import ScoringConfig
    from leaderboard.page import build_site

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    bench = unifybench_pp.load(mini_build)
    asked = len(bench.tasks["qa"])
    with ScriptedServer(lambda body, n: ("ok", "1")) as server:  # 100 prompt + 10 completion tokens a request
        config = EvalConfig("text-echo", runs_dir=tmp_path / "runs", tasks=["qa"], scoring=ScoringConfig(
            judge_base_url=server.base_url, judge_cache=tmp_path / "j.sqlite"))
        run = run_evaluation(bench, create("text-echo"), config).run_dir
        run_evaluation(bench, create("text-echo"), config)
        assert len(server.requests) == asked
    judge = read_run_info(run).judge
    assert judge["usage"]["requests"] == 0 and judge["usage"]["cached"] == asked  # the second scoring's own
    total = judge["total_usage"]
    assert (total["requests"], total["prompt_tokens"], total["completion_tokens"]) == (asked, 100 * asked, 10 * asked)
    assert total["cost_usd"] == pytest.approx(asked * (100 * 2.50 + 10 * 10.00) / 1e6)  # gpt-4o-2024-08-06's price
    build_site([run], tmp_path / "site", include_reported=False)
    assert f"{100 * asked} + {10 * asked} tokens, ${total['cost_usd']:.4f}" in (tmp_path / "site" / "index.html"
                                                                                 ).read_text()
