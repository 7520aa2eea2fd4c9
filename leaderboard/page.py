"""Build the static leaderboard site: index.html (tables, charts, run details) and one browser page per run.

Every page is self-contained (inline CSS/JS, images as data URIs) and opens
from file://. All strings from runs go through jinja2's autoescaping; JSON for
scripts is embedded with `<` escaped so nothing can close the script element.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from evaluators.metrics import METRICS
from evaluators.rundir import Run, RunError, find_runs, read_run
from unifybench_pp import Benchmark, SourceError, load
from unifybench_pp.images import BadImage, decoded
from unifybench_pp.paths import UnsafePath, inside
from unifybench_pp.schema import GENERATION_TASKS, TASK_TITLES

from .charts import radar, task_bars
from .exports import write_exports
from .tables import Table, build_tables, format_cell

_ENV = Environment(loader=PackageLoader("leaderboard", "templates"), autoescape=select_autoescape(["html", "j2"]),
                   trim_blocks=True, lstrip_blocks=True)
_ENV.filters["cell"] = format_cell


@dataclass
class Site:
    out: Path
    tables: list[Table]
    runs: list[Run]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason) for every run directory that could not be read."""
    pages: dict[str, str] = field(default_factory=dict)
    """run id -> its browser page, relative to `out`."""


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "run"


def thumbnail(root: Path, name: str, size: int = 160) -> str | None:
    """A JPEG data URI of the image `name` inside `root`, or None when it is outside, missing or unusable.

    The page embeds these bytes, so nothing outside `root` may be read (runs come from submitters).
    """
    try:
        with decoded(inside(root, name)) as image:
            image = image.convert("RGB")
            image.thumbnail((size, size))
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=80)
    except (UnsafePath, BadImage, OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def load_runs(roots: list[Path]) -> tuple[list[Run], list[tuple[str, str]]]:
    runs, skipped = [], []
    for path in find_runs(roots):
        try:
            runs.append(read_run(path))
        except (RunError, OSError, ValueError) as error:
            skipped.append((str(path), str(error)))
    return runs, skipped


def _item_rows(run: Run, bench: Benchmark | None) -> list[dict[str, Any]]:
    """Everything the browser shows per predicted item."""
    by_item: dict[str, dict[str, Any]] = {}
    for name, result in run.results.items():
        for item_id, score in result.per_item.items():
            entry = by_item.setdefault(item_id, {"scores": {}, "judge": []})
            entry["scores"][name] = score
            details = result.item_details.get(item_id, {})
            if "segments" in details and details.get("judge"):
                entry["judge"] = list(zip(details["segments"], details["judge"]["verdicts"]))
            if details.get("judge_error"):
                entry["judge_error"] = details["judge_error"]
    items = {(task, item.id): item for task, group in (bench.tasks.items() if bench else []) for item in group}
    rows = []
    for (task, item_id), prediction in sorted(run.predictions.items()):
        item = items.get((task, item_id))
        output = str(prediction.get("output", ""))
        is_image = task in GENERATION_TASKS
        image = None
        if is_image:
            image = thumbnail(run.path, output)
        reference = None
        if item is not None and bench is not None:
            reference_name = getattr(item, "image", None) or bench.concepts[item.concept].test_images[0]
            reference = thumbnail(bench.root, reference_name)
        extra = by_item.get(item_id, {"scores": {}, "judge": []})
        rows.append({
            "task": task, "task_title": TASK_TITLES.get(task, task), "id": item_id,
            "concept": item.concept if item else item_id.split("/")[1] if item_id.count("/") >= 2 else "",
            "prompt": (getattr(item, "question", None) or getattr(item, "prompt", "")) if item else "",
            "answer": getattr(item, "answer", "") if item else "",
            "output": "" if is_image else output, "image": image, "reference": reference,
            "scores": extra["scores"], "judge": extra["judge"], "judge_error": extra.get("judge_error"),
        })
    return rows


def build_site(roots: list[Path], out: Path, benchmark: Path | None = None, include_reported: bool = True,
               baseline: str | None = None) -> Site:
    """Read the runs (skipping broken ones), build tables, charts, pages and exports under `out`.

    `baseline`: the measured row every other is tested against (default: each run's recorded starting point).
    """
    runs, skipped = load_runs(roots)
    bench = None
    if benchmark is not None:
        try:
            bench = load(benchmark)
        except SourceError as error:
            skipped.append((str(benchmark), f"benchmark not loaded: {error}"))
    tables = build_tables(runs, include_reported, baseline)
    site = Site(out, tables, runs, skipped)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    for run in runs:
        page = f"runs/{slug(run.id)}.html"
        site.pages[run.id] = page
        rows = _item_rows(run, bench if bench and bench.version == run.info.benchmark_version else None)
        html = _ENV.get_template("run.html.j2").render(
            run=run, rows=rows, metrics=METRICS, tasks=sorted({r["task"] for r in rows}),
            concepts=sorted({r["concept"] for r in rows}), bench_loaded=bench is not None)
        (out / page).write_text(html, encoding="utf-8")
    charts = []
    for table in tables:
        if table.key.startswith("table1"):
            shown = [r for r in table.rows if r.source == "measured"] or table.rows[-4:]
            charts.append((Markup(task_bars(table, shown)), Markup(radar(table, shown))))
    index = _ENV.get_template("index.html.j2").render(site=site, charts=charts, include_reported=include_reported)
    (out / "index.html").write_text(index, encoding="utf-8")
    write_exports(tables, out)
    return site
