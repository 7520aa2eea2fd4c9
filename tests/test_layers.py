"""The layers hold by construction: the lint rules and the data-flow contracts of pyproject.toml pass (ruff,
import-linter), reading results needs no torch, and bench/ imports nothing from tests/."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tool(name: str) -> str:
    """A console script of the test extras, beside the interpreter running the tests."""
    path = Path(sys.executable).with_name(name)
    assert path.is_file(), f"{name} is not installed: pip install -e '.[test]'"
    return str(path)


def test_the_code_passes_its_lint_rules() -> None:
    result = subprocess.run([tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]


def test_the_data_flow_contracts_hold() -> None:
    """unifybench_pp imports no model, metric or training code; the leaderboard neither models nor training;
    evaluators and baselines never training; nothing imports the CLI."""
    result = subprocess.run([tool("lint-imports")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "4 kept, 0 broken" in result.stdout, result.stdout[-3000:]


def test_reading_results_loads_no_torch() -> None:
    """The leaderboard, `ubpp compare`, `ubpp doctor`'s data and the metric registry, in a fresh interpreter."""
    modules = ["leaderboard.tables", "leaderboard.page", "leaderboard.exports", "evaluators.compare",
               "evaluators.metrics", "evaluators.availability", "training.requirements", "baselines.registry"]
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + \
        "print(sorted(m for m in ('torch', 'transformers', 'openai') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_every_metric_names_a_scorer_that_exists() -> None:
    from evaluators.metrics import METRICS

    for spec in METRICS.values():
        assert callable(spec.score_items()), spec.name
        if spec.needs == "judge":
            assert (ROOT / "evaluators" / "templates" / f"{spec.judge_template}.txt").is_file(), spec.name


def test_bench_imports_nothing_from_tests() -> None:
    offenders = []
    for path in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            offenders += [f"{path.name}: {n}" for n in names if n == "tests" or n.startswith("tests.")]
    assert offenders == []
