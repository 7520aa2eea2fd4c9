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

from evaluators.judge import Judge, JudgeRequest

from .openai_server import ScriptedServer

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


def test_kill_during_judge_calls_keeps_the_cache_and_its_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
