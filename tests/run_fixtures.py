"""Run directories written from chosen scores, for the leaderboard tests, and the check that an evaluated run
holds every Table 1 task."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from evaluators.metrics import METRICS, MetricResult
from evaluators.rundir import RunInfo, write_run
from unifybench_pp.schema import TABLE1_TASKS

INJECTED = '"><img src=x onerror="window.__pwned=2"><script>window.__pwned=1</script>'
"""A model name that tries markup and script injection: every page must show it as text."""


def make_run(root: Path, model: str, values: dict[str, float | None], capabilities: list[str],
             model_type: str = "Unified Model", protocol: str = "syncr1", output: str = "Yes") -> Path:
    results = []
    for name, spec in METRICS.items():
        if name in values:
            value = values[name]
            result = MetricResult(name, spec.task, protocol, "test-model", value=value,
                                  ci95=(value - 0.01, value + 0.01) if value is not None else None,
                                  n=int(value is not None),
                                  not_computed=None if value is not None else "no judge: set OPENAI_API_KEY")
            result.per_item = {f"{spec.task}/ast/000": value}
            results.append(result)
    info = RunInfo(model=model, model_type=model_type, model_size="1.3B", capabilities=capabilities,
                   benchmark_version="bench-v1", protocol=protocol)
    path = root / model.replace("<", "_").replace(">", "_").replace("/", "_")[:40] / "bench-v1"
    write_run(path, info, {"qa": {"qa/ast/000": output}}, results, base=root)
    return path


def every_task_predicted(run_dir: Path, image_size: tuple[int, int] | None = None) -> list[dict]:
    """The run's prediction records, checked to cover the nine Table 1 tasks; with `image_size`, every generated
    image is checked to have it."""
    records = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert {r["task"] for r in records} == set(TABLE1_TASKS)
    for record in records:
        if image_size is not None and record["task"].endswith("gen"):
            with Image.open(run_dir / record["output"]) as image:
                assert image.size == image_size, record["id"]
    return records
