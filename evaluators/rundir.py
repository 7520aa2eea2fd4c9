"""The results store: one run directory per (model, benchmark version).

    runs/<model>/<benchmark-version>/
        run.json           who and what: model, type, size, checkpoint, commit, metric models, judge, cost
        predictions.jsonl  one line per item: task, id, output (text or image path relative to the run)
        scores.jsonl       one line per (metric, item): score and judge details
        summary.json       one record per metric: value, 95% CI, n, model, or why not computed
        images/            generated images

Writers replace each file atomically (temp file + rename) so a crash never
leaves a half-written file; readers validate and raise RunError naming the
file and the problem, so a leaderboard can skip a broken run with a warning.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .metrics import METRICS, MetricResult

MODEL_TYPES = ("Upper Bound", "Und. Only", "Gen. Only", "Unified Model")


AGREEMENT_FILE = "judge_agreement.json"
"""Written into a run directory by `ubpp judge-agreement`; the leaderboard shows it beside judged columns."""


class RunError(ValueError):
    """A run directory that is malformed or incomplete."""


@dataclass
class RunInfo:
    model: str
    """Row name in tables, e.g. `Sync-R1`."""
    model_type: str
    """One of MODEL_TYPES: the table group the row goes in."""
    model_size: str
    capabilities: list[str]
    """`understand` and/or `generate`; a missing capability shows as "-"."""
    benchmark_version: str
    protocol: str
    adapter: str = ""
    checkpoint: str = ""
    checkpoint_sha256: str = ""
    commit: str = ""
    date: str = ""
    seed: int = 0
    reasoning_input: str = "own"
    """What Rea. Gen. / Dense Rea. Gen. drew from: own (the harness's flow), implicit or explicit."""
    compared_with: str = ""
    """The leaderboard row (model name) this run is tested against: its untrained starting point, when it has one."""
    metric_models: dict[str, str | None] = field(default_factory=dict)
    judge: dict[str, Any] = field(default_factory=dict)
    """Judge model, template hashes and usage (tokens, cost)."""
    packages: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise RunError(f"model_type {self.model_type!r} is not one of {MODEL_TYPES}")

    def record_scoring(self, results: list[MetricResult], judge_model: str, judge_usage: dict[str, Any] | None) -> None:
        """Which model produced each computed metric, and the judge's model, prompt hashes and usage."""
        self.metric_models = {r.name: r.model for r in results if r.value is not None}
        self.judge = {"model": judge_model, "templates": {r.name: r.template_hash for r in results if r.template_hash},
                      "usage": judge_usage or {}}


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("unifybench-pp", "torch", "transformers", "open_clip_torch", "openai"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


@dataclass
class Run:
    path: Path
    info: RunInfo
    results: dict[str, MetricResult]
    predictions: dict[tuple[str, str], dict[str, Any]]
    """(task, item id) -> prediction record."""
    agreements: list[dict[str, Any]] = field(default_factory=list)
    """Measured agreement of this run's judge with another judge or with people (AGREEMENT_FILE)."""

    @property
    def id(self) -> str:
        return f"{self.info.model}@{self.info.benchmark_version}"


def scored_run_info(model: str, model_type: str, model_size: str, bench: Any, predictions: dict[str, dict[str, str]],
                    results: list[MetricResult], config: Any, judge_usage: dict[str, Any] | None) -> RunInfo:
    """RunInfo for predictions scored outside the runner (`ubpp score --run-dir`)."""
    from unifybench_pp.schema import GENERATION_TASKS, UNDERSTANDING_TASKS

    tasks = {task for task, items in predictions.items() if items}
    info = RunInfo(
        model=model, model_type=model_type, model_size=model_size,
        capabilities=[c for c, group in (("understand", UNDERSTANDING_TASKS), ("generate", GENERATION_TASKS))
                      if tasks & set(group)],
        benchmark_version=bench.version, protocol=config.protocol, adapter="predictions-file",
        date=utc_now(), packages=package_versions(),
    )
    info.record_scoring(results, config.judge_model, judge_usage)
    return info


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _jsonl(records: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records)


def write_results(path: Path, info: RunInfo, results: list[MetricResult]) -> None:
    """run.json, scores.jsonl and summary.json, each replaced atomically."""
    atomic_write(path / "run.json", json.dumps(asdict(info), indent=2, sort_keys=True) + "\n")
    atomic_write(path / "scores.jsonl", _jsonl(
        {"metric": r.name, "id": item, "score": score, "details": r.item_details.get(item, {})}
        for r in results for item, score in r.per_item.items()))
    summary = []
    for result in results:
        record = result.to_dict()
        del record["per_item"], record["item_details"]
        summary.append(record)
    atomic_write(path / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")


def write_run(path: Path, info: RunInfo, predictions: dict[str, dict[str, str]], results: list[MetricResult]) -> None:
    """A complete run directory from predictions scored elsewhere (`ubpp score --run-dir`)."""
    atomic_write(path / "predictions.jsonl", _jsonl(
        {"task": task, "id": item, "output": output}
        for task, items in predictions.items() for item, output in items.items()))
    write_results(path, info, results)


def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise RunError(f"{path}: missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise RunError(f"{path}: malformed JSON at line {error.lineno}") from None


def _load_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise RunError(f"{path}: malformed JSON at line {number}") from None
    return records


def read_run(path: Path) -> Run:
    """Load and validate a run directory; per-item scores are attached to their metric."""
    raw = _load_json(path / "run.json")
    try:
        info = RunInfo(**raw)
    except TypeError as error:
        raise RunError(f"{path / 'run.json'}: {error}") from None
    summary = _load_json(path / "summary.json")
    if not isinstance(summary, list):
        raise RunError(f"{path / 'summary.json'}: expected a list of metric records")
    results: dict[str, MetricResult] = {}
    for record in summary:
        try:
            if record["name"] not in METRICS:
                raise RunError(f"{path / 'summary.json'}: unknown metric {record['name']!r}")
            ci = record.get("ci95")
            results[record["name"]] = MetricResult(**{**record, "ci95": tuple(ci) if ci else None})
        except (TypeError, KeyError) as error:
            raise RunError(f"{path / 'summary.json'}: bad metric record ({error})") from None
    for line in _load_jsonl(path / "scores.jsonl"):
        result = results.get(line.get("metric"))
        if result is not None:
            result.per_item[line["id"]] = line.get("score")
            if line.get("details"):
                result.item_details[line["id"]] = line["details"]
    predictions = {(p["task"], p["id"]): p for p in _load_jsonl(path / "predictions.jsonl")}
    agreements = _load_json(path / AGREEMENT_FILE) if (path / AGREEMENT_FILE).is_file() else []
    return Run(path, info, results, predictions, agreements if isinstance(agreements, list) else [])


def find_runs(roots: Iterable[Path]) -> list[Path]:
    """Every directory holding a run.json under the given roots (a root may itself be a run)."""
    found = set()
    for root in roots:
        if (root / "run.json").is_file():
            found.add(root)
        found.update(p.parent for p in root.rglob("run.json"))
    return sorted(found)
