"""kill -9 during judge calls and cache writes: the cache stays readable and a re-run pays only for the rest."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bench.openai_server import ScriptedServer
from evaluators.judge import Judge, JudgeRequest

REPO = Path(__file__).resolve().parents[1]
ITEMS = 40
ASK = textwrap.dedent("""
    import sys
    from pathlib import Path
    from evaluators.judge import Judge, JudgeRequest
    judge = Judge("m", base_url=sys.argv[1], cache_path=Path(sys.argv[2]), concurrency=4)
    judge.run([JudgeRequest("text_answer", {"question": f"q{k}", "reference": "r", "prediction": "p"})
               for k in range(int(sys.argv[3]))])
""")


def requests() -> list[JudgeRequest]:
    return [JudgeRequest("text_answer", {"question": f"q{k}", "reference": "r", "prediction": "p"})
            for k in range(ITEMS)]


def test_kill_during_judge_calls_keeps_the_cache_and_its_answers(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "judge.sqlite"
    with ScriptedServer(lambda body, n: ("ok", "1"), latency=0.05) as server:
        child = subprocess.Popen([sys.executable, "-c", ASK, server.base_url, str(cache), str(ITEMS)], cwd=REPO,
                                 env={**os.environ, "PYTHONPATH": str(REPO), "OPENAI_API_KEY": "sk-test"})
        deadline = time.monotonic() + 120
        while len(server.requests) < ITEMS // 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)  # mid-call and, with 4 in flight, likely mid-write
        child.wait()
        paid_before = len(server.requests)
        assert ITEMS // 3 <= paid_before < ITEMS
        with sqlite3.connect(cache) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            stored = db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        assert 0 < stored <= paid_before
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        judge = Judge("m", base_url=server.base_url, cache_path=cache, concurrency=4)
        results = judge.run(requests())
    assert all(r.ok and r.reply == "1" for r in results)
    assert judge.usage.cached == stored and len(server.requests) - paid_before == ITEMS - stored


def test_concurrent_runs_sharing_a_cache_pay_once_per_prompt(tmp_path: Path) -> None:
    """Three processes asking the same 12 prompts through one cache file: each prompt is paid for once (the
    others wait on its claim and take the answer from the cache), and every process gets every answer."""
    cache, items = tmp_path / "judge.sqlite", 12
    with ScriptedServer(lambda body, n: ("ok", "1"), latency=0.3) as server:
        env = {**os.environ, "PYTHONPATH": str(REPO), "OPENAI_API_KEY": "sk-test"}
        report = ASK + "print(judge.usage.requests, judge.usage.cached, judge.usage.failed)\n"
        children = [subprocess.Popen([sys.executable, "-c", report, server.base_url, str(cache), str(items)],
                                     cwd=REPO, env=env, stdout=subprocess.PIPE, text=True) for _ in range(3)]
        counts = [tuple(map(int, child.communicate(timeout=300)[0].split())) for child in children]
    asked = [body["body"]["messages"][1]["content"] for body in server.requests]
    assert sorted(asked) == sorted(set(asked)) and len(asked) == items  # each prompt once, all of them
    assert sum(requests for requests, _, _ in counts) == items
    assert all(requests + cached == items and failed == 0 for requests, cached, failed in counts)


def test_a_claim_of_a_dead_process_is_taken_over_and_a_live_one_is_waited_for(tmp_path: Path) -> None:
    from unifybench_pp.openai_transport import AnswerCache

    cache = AnswerCache(tmp_path / "c.sqlite")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with cache._db:  # a claim left by a process killed mid-call, its lease far from over
        cache._db.execute("INSERT INTO claims VALUES (?, ?, ?)",
                          ("k", f"{os.uname().nodename}:{dead.stdout.strip()}:x", time.time() + 3600))
    mine = cache.claim("k", lease=60)
    assert mine is not None
    assert cache.claim("k", lease=60) is None  # held by this (live) process: the next caller waits
    cache.release("k", mine)
    assert cache.claim("k", lease=60) is not None


def test_one_prompt_asked_twice_in_one_run_is_paid_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with ScriptedServer(lambda body, n: ("ok", "1"), latency=0.3) as server:
        judge = Judge("m", base_url=server.base_url, cache_path=tmp_path / "c.sqlite", concurrency=4)
        results = judge.run(requests()[:2] * 4)
    assert [r.reply for r in results] == ["1"] * 8
    assert len(server.requests) == 2 and judge.usage.cached == 6


def test_an_answer_stored_between_the_look_and_the_claim_is_not_paid_for_again(tmp_path: Path) -> None:
    """The race the three-process test can hit: another caller stores the answer and releases its claim after
    this caller looked in the cache and before it claimed. The claim is then free, but the answer is there."""
    from unifybench_pp.openai_transport import Transport

    transport = Transport("http://127.0.0.1:9/v1", "sk-test", tmp_path / "c.sqlite", timeout=1.0)
    paid = []
    claim = transport.cache.claim

    def stored_meanwhile(key: str, lease: float) -> str | None:  # the other caller finishes just before our claim
        transport.cache.put(key, {"reply": "from the other caller"})
        return claim(key, lease)

    transport.cache.claim = stored_meanwhile
    answer = transport.cached("k", "reply", lambda: paid.append(1) or "paid")
    transport.cache.claim = claim
    assert (answer.value, answer.cached, paid) == ("from the other caller", True, [])
    assert transport.cache.claim("k", lease=60) is not None  # the claim taken for the second look was released
