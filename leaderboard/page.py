"""Build the static leaderboard site: index.html (tables, charts, run details) and one browser page per run.

Every page is self-contained (inline CSS/JS, images as data URIs) and opens
from file://. All strings from runs go through jinja2's autoescaping; JSON for
scripts is embedded with `<` escaped so nothing can close the script element.
"""

from __future__ import annotations

import base64
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from evaluators.metrics import METRICS
from evaluators.rundir import Run, RunError, check_scored, find_runs, read_run
from unifybench_pp import Benchmark, SourceError, load
from unifybench_pp.errors import UbppError
from unifybench_pp.files import NotOurs, check_replaceable, sealed_entries, staged_directory
from unifybench_pp.images import BadImage, decoded
from unifybench_pp.paths import UnsafePath, inside
from unifybench_pp.schema import GENERATION_TASKS, TASK_TITLES

from .charts import radar, task_bars
from .exports import write_exports
from .tables import SANITY_NOTE, Table, build_tables, format_cell, slug

_ENV = Environment(loader=PackageLoader("leaderboard", "templates"), autoescape=select_autoescape(["html", "j2"]),
                   trim_blocks=True, lstrip_blocks=True)
_ENV.filters["cell"] = format_cell
_ENV.globals["sanity_note"] = SANITY_NOTE


@dataclass
class Site:
    out: Path
    tables: list[Table]
    runs: list[Run]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason) for every run directory that could not be read."""
    pages: dict[str, str] = field(default_factory=dict)
    """run id -> its browser page, relative to `out`."""
    warnings: list[str] = field(default_factory=list)
    """What the site lacks that the user asked for, once each: runs whose build --benchmark is not."""


class SiteError(UbppError):
    """An --out, --baseline or --benchmark the leaderboard cannot use; nothing was written."""


SITE_ENTRY = re.compile(r"index\.html|runs|runs/[^/]+\.html|[^/]+\.(md|csv|tex)")
"""Every entry a leaderboard site holds: an --out sealed by ubpp holding anything else (a benchmark build, a
model bundle) is not a site to replace."""

SITE_KIND = "leaderboard site"
"""What a site's marker says it is (`unifybench_pp.files`): `--out` replaces only a site."""

_OUT_FIX = "choose a new or empty --out, or move what is there elsewhere yourself"


def check_out(out: Path) -> None:
    """SiteError unless `out` is absent, empty, or a site an earlier `ubpp leaderboard` wrote and nobody added to.

    The same rule and marker (`unifybench_pp.files`) as `build-dataset --out`: a folder ubpp cannot prove
    it wrote, such as a user's own index.html, is never overwritten.
    """
    try:
        check_replaceable(out, SITE_KIND)
    except NotOurs as error:
        raise SiteError(f"{error.path}: not a leaderboard site to replace: it {error.problem} (fix: {_OUT_FIX})"
                        ) from None
    entries = sealed_entries(out)
    if entries is not None:  # markers older than kinds: what they list must look like a site
        other = [entry for entry in entries if not SITE_ENTRY.fullmatch(entry)]
        if other:
            raise SiteError(f"{out}: not a leaderboard site to replace: ubpp wrote it as something else (it holds "
                            f"{other[0]}) (fix: {_OUT_FIX})")


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
    """Every readable run under `roots`, and (path, reason) for each one skipped: the reason names a file of the run
    by its name in the run (`summary.json: ...`), the path being said once beside it."""
    runs, skipped = [], []
    for path in find_runs(roots):
        try:
            run = read_run(path)
            check_scored(run)
            runs.append(run)
        except (RunError, OSError, ValueError) as error:
            reason = str(error)
            for prefix in (f"{path}{os.sep}", f"{path}: "):
                reason = reason.removeprefix(prefix)
            skipped.append((str(path), reason))
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
    """Read the runs (skipping broken ones), build tables, charts, pages and exports, then put them in `out`.

    `out` must be absent, empty or a site written here before (check_out): it is filled in a hidden sibling
    and swapped in whole, as `build-dataset --out` is. `baseline`: the measured row every other is tested
    against (default: each run's recorded starting point); one that names no run read is refused.
    """
    out = Path(os.path.abspath(out))
    check_out(out)
    bench = None if benchmark is None else _benchmark(benchmark)
    runs, skipped = load_runs(roots)
    if not runs:  # an empty table would replace the published one
        raise SiteError(_nothing_to_publish(roots, out, skipped))
    models = sorted({run.info.model for run in runs})
    if baseline is not None and baseline not in models:
        raise SiteError(f"--baseline {baseline!r} names no run read (models: {', '.join(models) or 'none'}) "
                        f"(fix: give one of those model names, or drop --baseline)")
    tables = build_tables(runs, include_reported, baseline)
    site = Site(out, tables, runs, skipped, warnings=_other_builds(runs, bench) if bench else [])
    try:
        with staged_directory(out, SITE_KIND) as staging:
            _write_site(site, staging, bench, include_reported)
    except NotOurs as error:  # something was put in `out` while the site was built
        raise SiteError(f"{error.path}: not a leaderboard site to replace: it {error.problem} (fix: {_OUT_FIX})"
                        ) from None
    return site


def _benchmark(path: Path) -> Benchmark:
    """The build --benchmark names, loaded, else SiteError: a user who names one wants its prompts on the pages, so
    one that cannot be loaded (a typo, a folder that is not a build) is refused as a mistyped runs folder is."""
    try:
        return load(path)
    except SourceError as error:
        place = f"{error.file}:{error.where}" if error.where else error.file
        raise SiteError(f"--benchmark {path} cannot be loaded: {place}: {error.problem} (fix: name the folder "
                        f"`ubpp build-dataset` wrote for these runs, or leave --benchmark out)") from None


def _other_builds(runs: list[Run], bench: Benchmark) -> list[str]:
    """One warning per build the runs were scored on that `bench` is not: its items are not theirs, so their
    samples pages show no prompts or reference images (a site may hold several builds' runs, so this is no
    reason to refuse)."""
    counts: dict[str, int] = {}
    for run in runs:
        if run.info.benchmark_version != bench.version:
            counts[run.info.benchmark_version] = counts.get(run.info.benchmark_version, 0) + 1
    return [f"{count} run{'s' if count > 1 else ''} scored on build {version}, but --benchmark {bench.root} is build "
            f"{bench.version}: their samples pages show no prompts or reference images (fix: pass the build they "
            f"were scored on)" for version, count in sorted(counts.items())]


def _nothing_to_publish(roots: list[Path], out: Path, skipped: list[tuple[str, str]]) -> str:
    searched = ", ".join(str(root) for root in roots)
    if not skipped:
        return (f"no run found under {searched}: a run folder holds run.json; {out} is left as it was (fix: give "
                f"the folder `ubpp evaluate` wrote to, its --runs-dir, runs/ by default)")
    shown = "; ".join(f"{path}: {reason}" for path, reason in skipped[:3])
    more = f"; and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    return (f"no run to publish: the {len(skipped)} found under {searched} were all skipped ({shown}{more}); "
            f"{out} is left as it was")


def _write_site(site: Site, folder: Path, bench: Benchmark | None, include_reported: bool) -> None:
    (folder / "runs").mkdir()
    for run in site.runs:
        page = f"runs/{slug(run.id)}.html"
        site.pages[run.id] = page
        own = bench if bench and bench.version == run.info.benchmark_version else None
        rows = _item_rows(run, own)
        html = _ENV.get_template("run.html.j2").render(
            run=run, rows=rows, metrics=METRICS, tasks=sorted({r["task"] for r in rows}),
            concepts=sorted({r["concept"] for r in rows}), bench_loaded=own is not None,
            other_build=bench.version if bench and own is None else "")
        (folder / page).write_text(html, encoding="utf-8")
    charts = []
    for table in site.tables:
        if table.key.startswith("table1"):
            shown = [r for r in table.rows if r.source == "measured"] or table.rows[-4:]
            charts.append((Markup(task_bars(table, shown)), Markup(radar(table, shown))))
    index = _ENV.get_template("index.html.j2").render(site=site, charts=charts, include_reported=include_reported)
    (folder / "index.html").write_text(index, encoding="utf-8")
    write_exports(site.tables, folder)
