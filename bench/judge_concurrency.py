"""Judge throughput: N requests at concurrency C vs one at a time, against a local server of fixed latency.

    python -m bench.judge_concurrency [--requests 64] [--concurrency 8] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.openai_server import ScriptedServer
from evaluators.judge import Judge, JudgeRequest


def timed_run(server: ScriptedServer, cache: Path, requests: list[JudgeRequest], concurrency: int) -> float:
    judge = Judge("bench-judge", base_url=server.base_url, cache_path=cache, concurrency=concurrency)
    start = time.perf_counter()
    results = judge.run(requests)
    elapsed = time.perf_counter() - start
    assert all(r.ok for r in results) and judge.usage.requests == len(requests)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    requests = [JudgeRequest("text_answer", {"question": f"q{k}", "reference": "a", "prediction": "p"})
                for k in range(args.requests)]
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer(lambda b, n: ("ok", "1"),
                                                             latency=args.latency) as server:
        sequential = timed_run(server, Path(tmp) / "seq.sqlite", requests, 1)
        concurrent = timed_run(server, Path(tmp) / "con.sqlite", requests, args.concurrency)
        cached_judge = Judge("bench-judge", base_url=server.base_url, cache_path=Path(tmp) / "con.sqlite")
        before = len(server.requests)
        cached_judge.run(requests)
        repeat_requests = len(server.requests) - before
    print(f"| judge, {args.requests} requests, server latency {args.latency}s | concurrency {args.concurrency} "
          f"vs 1 | speed-up x{sequential / concurrent:.2f} (ideal x{args.concurrency}) | "
          f"requests on a cached re-run: {repeat_requests} |")


if __name__ == "__main__":
    main()
