"""Run directories written from chosen scores, for the leaderboard tests."""

from __future__ import annotations

from pathlib import Path

from evaluators.metrics import METRICS, MetricResult
from evaluators.rundir import RunInfo, write_run

INJECTED = '"><img src=x onerror="window.__pwned=2"><script>window.__pwned=1</script>'
"""A model name that tries markup and script injection: every page must show it as text."""


def make_run(root: Path, model: str, values: dict[str, float | None], capabilities: list[str],
             model_type: str = "Unified Model", protocol: str = "syncr1", output: str = "Yes") -> Path:
    results = []
    for name, spec in METRICS.items():
        if name in values:
            value = values[name]
            result = MetricResult(name, spec.task, protocol, "test-model", value=value,
                                  ci95=(value - 0.01, value + 0.01) if value is not None else None, n=10,
                                  not_computed=None if value is not None else "no judge: set OPENAI_API_KEY")
            result.per_item = {f"{spec.task}/ast/000": value}
            results.append(result)
    info = RunInfo(model=model, model_type=model_type, model_size="1.3B", capabilities=capabilities,
                   benchmark_version="bench-v1", protocol=protocol)
    path = root / model.replace("<", "_").replace(">", "_").replace("/", "_")[:40] / "bench-v1"
    write_run(path, info, {"qa": {"qa/ast/000": output}}, results, base=root)
    return path
