"""Run every benchmark in bench/ and write one Markdown report of their ratio lines.

    python -m bench.run_all [--out build/bench-report.md]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


NOT_BENCHES = ("run_all", "__init__", "gpu_check")
"""This runner, the package, and the GPU check (a device measurement at Show-o's real size, not a ratio)."""


def benches() -> list[str]:
    """Every module in bench/ that runs as a benchmark (has a `main`), except those of NOT_BENCHES."""
    return sorted(p.stem for p in HERE.glob("*.py")
                  if p.stem not in NOT_BENCHES and "\ndef main(" in p.read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/bench-report.md"))
    args = parser.parse_args()
    lines = ["# UnifyBench++ benchmark report", "",
             "Each line is a ratio measured side by side in one run (ours vs the reference).", "",
             "| setting | comparison | ratio | check |", "|---|---|---|---|"]
    for name in benches():
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", f"bench.{name}"], capture_output=True, text=True)
        rows = [line for line in run.stdout.splitlines() if line.startswith("|")]
        if run.returncode != 0 or not rows:
            rows = [f"| bench.{name} | failed (exit {run.returncode}) | - | {run.stderr.strip()[-200:]} |"]
        lines += rows
        print(f"bench.{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
