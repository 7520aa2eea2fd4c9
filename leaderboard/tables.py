"""Runs and paper-reported numbers -> the paper's table layouts, with best/second marks."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from evaluators.compare import PairedDifference, paired_difference, with_q_values
from evaluators.metrics import METRICS, MetricResult, metrics_for
from evaluators.rundir import MODEL_TYPES, Run
from unifybench_pp.schema import TABLE1_TASKS, TASK_TITLES, UNDERSTANDING_TASKS, task_capability

REPORTED_FILE = Path(__file__).parent / "data" / "reported.json"

CellStatus = Literal["ok", "partial", "na", "nc"]

SANITY_NOTE = ("sanity baseline: a trivial answer (always Yes, the question echoed back) that checks each metric can "
               "tell a model from it; never ranked best or second, and compared with only when --baseline names it")
"""What a sanity row's tag says on hover, and what the exports' method names end in "(sanity)" for."""


@dataclass(frozen=True)
class Column:
    key: str
    group: str
    task: str
    metric: str
    note: str = ""
    """How the column is computed (the metric registry's description), shown on hover."""


@dataclass
class Cell:
    value: float | None
    status: CellStatus
    """ok: a number; partial: a number over part of the items (shown with `coverage`, never ranked); na: the model
    lacks the capability ("-"); nc: not computed ("n/c")."""
    reason: str = ""
    ci95: tuple[float, float] | None = None
    n: int = 0
    rank: dict[str, int] = field(default_factory=dict)
    """1 = best, 2 = second, per view: `all` rows or `measured` rows only."""
    versus: PairedDifference | None = None
    """This row minus the row it is compared with (paired over concepts), when it has one."""
    judge: str = ""
    """For judged columns: the judge model and its measured agreement, when the run records it."""
    coverage: str = ""
    """"scored/expected" items of a partial cell."""
    @property
    def change(self) -> str:
        """"up" / "down" when significantly better / worse than the compared row (p < 0.05), else ""."""
        if self.versus is None or not self.versus.significant() or self.versus.difference is None:
            return ""
        better_up = METRICS[self.versus.metric].higher_is_better
        return "up" if (self.versus.difference > 0) == better_up else "down"


@dataclass
class Row:
    id: str
    method: str
    type: str
    size: str
    source: Literal["measured", "reported"]
    cells: dict[str, Cell]
    run: Run | None = None
    note: str = ""
    compared_with: str = ""
    """Method name of the row its cells' `versus` differences are taken against."""

    @property
    def sanity(self) -> bool:
        """A sanity baseline's row, as its run records (`RunInfo.sanity`): tagged, never ranked, and compared with
        only when --baseline names it."""
        return self.run is not None and self.run.info.sanity


@dataclass
class Table:
    key: str
    title: str
    columns: list[Column]
    rows: list[Row]
    protocol: str = "syncr1"

    def groups(self) -> list[tuple[str, int, list[tuple[str, list[Column]]]]]:
        """Header structure: [(group, column span, [(task title, [columns])])], in column order."""
        out: list[tuple[str, list[tuple[str, list[Column]]]]] = []
        for column in self.columns:
            if not out or out[-1][0] != column.group:
                out.append((column.group, []))
            tasks = out[-1][1]
            if not tasks or tasks[-1][0] != column.task:
                tasks.append((column.task, []))
            tasks[-1][1].append(column)
        return [(group, sum(len(cols) for _, cols in tasks), tasks) for group, tasks in out]


def table1_columns() -> list[Column]:
    columns = []
    for spec in metrics_for("unifybench"):
        if spec.table1:
            group = "Understanding" if spec.task in UNDERSTANDING_TASKS else "Generation"
            columns.append(Column(spec.name, group, TASK_TITLES[spec.task], spec.title, spec.description))
    assert {c.task for c in columns} == {TASK_TITLES[t] for t in TABLE1_TASKS}
    return columns


def supplementary_columns(runs: list[Run]) -> list[Column]:
    """The supplementary metrics (reward experts, offline stand-ins) that at least one of the runs computed."""
    computed = {name for run in runs for name, result in run.results.items() if result.value is not None}
    return [Column(spec.name, "Supplementary (not Table 1)", TASK_TITLES[spec.task], spec.title, spec.description)
            for spec in METRICS.values() if not spec.table1 and spec.name in computed]


_TABLE5_LAYOUT = {
    "table5_understanding": [
        Column("yollava.rec.weight", "Yo'LLaVA", "Rec", "Weight"),
        Column("yollava.vqa.acc", "Yo'LLaVA", "VQA", "Acc"),
        Column("yollava.qa.acc", "Yo'LLaVA", "QA", "Acc"),
        Column("mcllava.rec.weight", "MC-LLaVA", "Rec", "Weight"),
        Column("mcllava.vqa.bleu", "MC-LLaVA", "VQA", "BLEU"),
        Column("mcllava.qa.acc", "MC-LLaVA", "QA", "Acc"),
    ],
    "table5_generation": [
        Column("dreambench.clip_i", "Generation", "DreamBench", "CLIP-I"),
        Column("dreambench.clip_t", "Generation", "DreamBench", "CLIP-T"),
        Column("yollava.clip_i", "Generation", "Yo'LLaVA", "CLIP-I"),
    ],
}


#: Table 5's two layouts; each column is the registry metric of the same name (its description on hover).
TABLE5_COLUMNS = {key: [Column(c.key, c.group, c.task, c.metric, METRICS[c.key].description) for c in columns]
                  for key, columns in _TABLE5_LAYOUT.items()}


def run_formats(run: Run) -> set[str]:
    """The benchmark formats a run was scored on (from its metrics): which tables its row belongs in."""
    return {METRICS[name].benchmark for name in run.results if name in METRICS}


def load_reported() -> dict[str, Any]:
    return json.loads(REPORTED_FILE.read_text(encoding="utf-8"))


def _reported_rows(table: dict[str, Any], key: str) -> list[Row]:
    rows = []
    for k, raw in enumerate(table["rows"]):
        cells = {
            column: Cell(value, "ok") if value is not None else Cell(None, "na", "not reported for this model")
            for column, value in zip(table["columns"], raw["cells"], strict=True)
        }
        rows.append(Row(f"reported-{key}-{k}", raw["method"], raw["type"], raw["size"] or "-", "reported", cells,
                        note=raw.get("note", "")))
    return rows


def _measured_row(runs: list[Run], columns: list[Column]) -> Row:
    """One model's row; with several runs (Table 5: one per benchmark) each cell comes from the run scoring it."""
    run = runs[0]
    formats = set().union(*map(run_formats, runs))
    cells = {}
    for column in columns:
        spec = METRICS[column.key]
        needs = task_capability(spec.task)
        holder = next((r for r in runs if column.key in r.results), None)
        result = holder.results[column.key] if holder is not None else None
        if needs not in run.info.capabilities:
            cells[column.key] = Cell(None, "na", f"{run.info.model} cannot {needs}")
        elif result is None and spec.benchmark not in formats:
            cells[column.key] = Cell(None, "nc", f"not evaluated on a {spec.benchmark} build")
        elif result is None or result.value is None:
            reason = result.not_computed if result is not None else "metric missing from the run"
            cells[column.key] = Cell(None, "nc", reason or "not computed")
        else:
            cells[column.key] = Cell(result.value, "ok" if result.complete else "partial", ci95=result.ci95,
                                     n=result.n, judge=judge_note(holder, result) if spec.needs == "judge" else "",
                                     coverage=result.coverage or "")
    return Row(run.id, run.info.model, run.info.model_type, run.info.model_size, "measured", cells, run=run)


def judge_note(run: Run, result: MetricResult) -> str:
    """"judge gpt-4o; vs human: kappa 0.71, alpha 0.69 (212 judgements)" from the run's agreement records."""
    parts = [f"judge {result.model}"]
    for entry in (e for e in run.agreements if e.get("metric") == result.name):
        kappa, alpha = entry.get("kappa"), entry.get("alpha")
        measures = ", ".join(f"{label} {value:.2f}" for label, value in (("kappa", kappa), ("alpha", alpha))
                             if value is not None)
        parts.append(f"vs {entry['judge_b']}: {measures or 'no variation'} "
                     f"({entry['units']} judgements)")
    return "; ".join(parts)


def rank_cells(rows: list[Row], columns: list[Column]) -> None:
    """Mark best (1) and second (2) per column, over all rows and over measured rows only, in the direction the
    metric registry gives (`higher_is_better`), on the values as shown: rows that read the same share a mark, as
    in the paper's tables. Sanity rows take no part: a trivial answer that scores high (text-echo's
    Rec. 1.000) shows a metric's blind spot, not the best model."""
    ranked = [r for r in rows if not r.sanity]
    for view, members in (("all", ranked), ("measured", [r for r in ranked if r.source == "measured"])):
        for column in columns:
            values = sorted({shown_value(r.cells[column.key].value) for r in members
                             if r.cells[column.key].status == "ok"}, reverse=METRICS[column.key].higher_is_better)
            for row in members:
                cell = row.cells[column.key]
                if cell.status == "ok" and shown_value(cell.value) in values[:2]:
                    cell.rank[view] = values.index(shown_value(cell.value)) + 1


def _ordered(rows: list[Row]) -> list[Row]:
    """Paper order: by model type group, reported rows in paper order before measured ones."""
    return sorted(rows, key=lambda r: (MODEL_TYPES.index(r.type), r.source == "measured"))


def mark_comparisons(rows: list[Row], columns: list[Column], baseline: str | None = None) -> None:
    """Give each measured row's cells their paired difference to its compared row (same table only).

    The compared row is the run whose model name is `baseline` when given, else the one the run records
    (its untrained starting point); rows without one, or whose name several runs in the table share, stay
    unmarked (the latter with a note), as do rows whose recorded one is a sanity baseline: arrows against a
    trivial answer say little, so only an explicit `baseline` makes one the compared row.
    """
    measured = [r for r in rows if r.source == "measured" and r.run is not None]
    for row in measured:
        name = baseline or row.run.info.compared_with
        targets = [r for r in measured if r.run.info.model == name]
        if len(targets) > 1:
            row.note = _joined(row.note, f"not compared: {len(targets)} runs in this table are named {name}")
            continue
        if not targets or targets[0] is row:
            continue
        if targets[0].sanity and baseline is None:
            row.note = _joined(row.note, f"not compared: {name} is a sanity baseline (--baseline {name} compares "
                                         f"with it)")
            continue
        row.compared_with = targets[0].method
        differences = with_q_values([paired_difference(row.run.results.get(column.key),
                                                       targets[0].run.results.get(column.key), column.key)
                                     for column in columns])
        for column, difference in zip(columns, differences):
            row.cells[column.key].versus = difference


def distinct_names(rows: list[Row]) -> None:
    """Label measured rows that share a model name (two checkpoints evaluated without `--name`) with the end of
    their run folder's path, as few parts of it as tell them apart (the folder's name, usually its config hash), so
    no table or export holds two rows that read the same."""
    shared: dict[str, list[Row]] = {}
    for row in rows:
        if row.source == "measured" and row.run is not None:
            shared.setdefault(row.method, []).append(row)
    for name, group in shared.items():
        if len(group) < 2:
            continue
        paths = [row.run.path.parts for row in group]
        depth = next((k for k in range(1, max(map(len, paths)) + 1)
                      if len({parts[-k:] for parts in paths}) == len(paths)), max(map(len, paths)))
        for row, parts in zip(group, paths):
            row.note = _joined(row.note, f"{len(group)} runs are named {name}: labelled by run folder (evaluate "
                                         f"--name gives a run its own name)")
            row.method = f"{name} (run {'/'.join(parts[-depth:])})"


def _joined(note: str, more: str) -> str:
    return f"{note}; {more}" if note else more


SLUG_LENGTH = 80


def slug(text: str, empty: str = "run") -> str:
    """`text` made safe for a file name and an HTML id (`empty` when nothing is left). A long one keeps its start
    and ends with a hash of the whole text: cutting it would make two runs of a long-named model one page."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or empty
    if len(safe) <= SLUG_LENGTH:
        return safe
    return f"{safe[:SLUG_LENGTH - 9]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def build_suffixes(builds: list[str]) -> dict[str, str]:
    """Each benchmark build's part of a table key ("" when there is only one): its version, made safe for a file
    name and an HTML id, and distinct."""
    if len(builds) <= 1:
        return {build: "" for build in builds}
    suffixes: dict[str, str] = {}
    for build in builds:
        suffix = "@" + slug(build, "build")
        while suffix in suffixes.values():
            suffix += "-"
        suffixes[build] = suffix
    return suffixes


def _titled(title: str, notes: list[str], builds: list[str]) -> str:
    """The title with the setting's notes and the benchmark build(s) its measured rows were scored on."""
    if builds:
        notes = [*notes, ("build " if len(builds) == 1 else "builds ") + ", ".join(builds)]
    return title + (f" ({', '.join(notes)})" if notes else "")


def _by_build(runs: list[Run]) -> dict[str, list[Run]]:
    """The runs grouped by the benchmark build (version) they were scored on, in version order."""
    groups: dict[str, list[Run]] = {}
    for run in sorted(runs, key=lambda r: r.info.benchmark_version):
        groups.setdefault(run.info.benchmark_version, []).append(run)
    return groups


def _table5_groups(runs: list[Run]) -> list[list[Run]]:
    """Table 5's runs split so that each table holds one build per benchmark (a column's numbers all come from
    one build): the k-th build of each benchmark, in version order, goes in the k-th table."""
    versions: dict[tuple[str, ...], list[str]] = {}
    for run in runs:
        builds = versions.setdefault(tuple(sorted(run_formats(run))), [])
        if run.info.benchmark_version not in builds:
            builds.append(run.info.benchmark_version)
    for builds in versions.values():
        builds.sort()
    groups: list[list[Run]] = [[] for _ in range(max((len(b) for b in versions.values()), default=1))]
    for run in runs:
        groups[versions[tuple(sorted(run_formats(run)))].index(run.info.benchmark_version)].append(run)
    return groups


def build_tables(runs: list[Run], include_reported: bool = True, baseline: str | None = None) -> list[Table]:
    """Table 1 per (protocol, reasoning input, benchmark build) among the runs, then Table 5.

    The paper's reported rows join the harness's setting (`syncr1`, the
    model's own reasoning); other protocols and reasoning-input ablations get
    tables of their own, so their numbers never sit beside the paper's. Runs
    scored on different benchmark builds (the release split and a
    `build-dataset --seed` draw: different held-out items) get a table each,
    the build named in its title and key, so numbers are ranked and compared
    only against numbers on the same items.
    """
    reported = load_reported()["tables"] if include_reported else {}
    columns = table1_columns()
    paper = ("syncr1", "own")
    settings = sorted({(run.info.protocol, run.info.reasoning_input) for run in runs}
                      | ({paper} if include_reported else set()))
    tables = []
    for protocol, reasoning in settings:
        measured = [run for run in runs if (run.info.protocol, run.info.reasoning_input) == (protocol, reasoning)]
        notes = ([f"{protocol} protocol"] if protocol != "syncr1" else []) + \
                ([f"{reasoning} reasoning input"] if reasoning != "own" else [])
        key = "table1-" + protocol + ("" if reasoning == "own" else f"-{reasoning}")
        table1_builds = _by_build([run for run in measured if "unifybench" in run_formats(run)]) or {"": []}
        suffixes = build_suffixes(list(table1_builds))
        for build, build_runs in table1_builds.items():
            rows = [_measured_row([run], columns) for run in build_runs]
            if (protocol, reasoning) == paper and "table1" in reported:
                rows = _reported_rows(reported["table1"], "table1") + rows
            rows = _ordered(rows)
            distinct_names(rows)
            rank_cells(rows, columns)
            mark_comparisons(rows, columns, baseline)
            tables.append(Table(key + suffixes[build], _titled("Table 1: UnifyBench and UnifyBench++", notes,
                                                                [build] if build else []), columns, rows, protocol))
        extra_builds = {build: (group, extra) for build, group in _by_build(measured).items()
                        if (extra := supplementary_columns(group))}
        suffixes = build_suffixes(list(extra_builds))
        for build, (group, extra) in extra_builds.items():  # measured rows only: the paper reports none of these
            rows = _ordered([_measured_row([run], extra) for run in group])
            distinct_names(rows)
            rank_cells(rows, extra)
            mark_comparisons(rows, extra, baseline)
            tables.append(Table(key.replace("table1", "supplementary", 1) + suffixes[build],
                                _titled("Supplementary metrics: reward experts and offline stand-ins, measured rows "
                                        "only", notes, [build]), extra, rows, protocol))
    for key, t5_columns in TABLE5_COLUMNS.items():
        t5_runs = [run for run in runs if any(c.key in run.results and task_capability(METRICS[c.key].task)
                                              in run.info.capabilities for c in t5_columns)]
        for protocol in sorted({run.info.protocol for run in t5_runs} | ({"syncr1"} if key in reported else set())):
            groups = _table5_groups([r for r in t5_runs if r.info.protocol == protocol])
            for number, group in enumerate(groups, start=1):
                rows = [_measured_row(row_runs, t5_columns) for row_runs in _rows_of_runs(group)]
                if protocol == "syncr1" and key in reported:
                    rows = _reported_rows(reported[key], key) + rows
                rows = _ordered(rows)
                distinct_names(rows)
                rank_cells(rows, t5_columns)
                title = reported[key]["title"] if key in reported else key
                if rows and any(r.source == "measured" for r in rows):
                    title = title.replace(" (reported)", "")
                suffix = ("" if protocol == "syncr1" else f"-{protocol}") + (f"@{number}" if len(groups) > 1 else "")
                tables.append(Table(key + suffix, _titled(title, [f"{protocol} protocol"] if protocol != "syncr1"
                                                          else [], sorted({r.info.benchmark_version for r in group})),
                                    t5_columns, rows, protocol))
    return tables


def _rows_of_runs(runs: list[Run]) -> list[list[Run]]:
    """Table 5's rows: one setting's runs on different benchmarks share a row (a setting: the model name, adapter,
    checkpoint, seed and sampling recipe a run records); a second run of a setting on a benchmark its row already
    has starts another row instead of hiding behind the first, and runs of different settings never share one."""
    rows: list[list[Run]] = []
    for run in runs:
        formats = run_formats(run)
        row = next((r for r in rows if _setting(r[0]) == _setting(run)
                    and not formats & set().union(*map(run_formats, r))), None)
        if row is None:
            rows.append([run])
        else:
            row.append(run)
    return rows


def _setting(run: Run) -> tuple[str, ...]:
    info = run.info
    return (info.model, info.adapter, info.checkpoint_sha256, str(info.seed), json.dumps(info.recipe, sort_keys=True))


DECIMALS = 3
"""A score's digits in the tables (the paper's)."""


def shown_value(value: float) -> float:
    """A score as the tables show it: what ranks compare."""
    return round(value, DECIMALS)


def format_cell(cell: Cell) -> str:
    if cell.status == "na":
        return "-"
    if cell.status == "nc":
        return "n/c"
    if cell.status == "partial":
        return f"{cell.value:.{DECIMALS}f} ({cell.coverage})"
    return f"{cell.value:.{DECIMALS}f}"
