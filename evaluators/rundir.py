"""The results store: one run directory per (model, benchmark version).

    runs/<model>/<benchmark-version>/      each name one path component (unifybench_pp.paths.path_component)
        run.json           who and what: model, type, size, checkpoint, commit, metric models, judge, cost
        predictions.jsonl  one line per item: task, id, output (text or image path relative to the run)
        scores.jsonl       one line per (metric, item): score and judge details
        summary.json       one record per metric: value, 95% CI, n, model, or why not computed
        images/            generated images
        predictions.shard-<i>-of-<n>.jsonl, shard-<i>-of-<n>.done
                           a sharded launch's own files; the last shard to finish merges them

Writers replace each file atomically (temp file + rename) so a crash never
leaves a half-written file; one process writes a run at a time (runlock.py).
Readers validate and raise RunError naming the file and the problem, so a
leaderboard can skip a broken run with a warning. A run names only its own
files: every file read and every image output is confined to the run
directory (unifybench_pp.paths), because runs may come from untrusted submitters.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from typing_extensions import NotRequired, TypedDict  # pydantic needs these on Python < 3.12

from unifybench_pp.errors import UbppError
from unifybench_pp.files import atomic_write
from unifybench_pp.jsonio import BadJSON, BadLine, jsonl_text, loads, parse_jsonl, write_json, write_jsonl
from unifybench_pp.openai_transport import added_usage
from unifybench_pp.paths import NotText, UnsafePath, inside, path_component, read_regular, read_regular_text
from unifybench_pp.runlock import utc_now
from unifybench_pp.schema import GENERATION_TASKS, error_location

from .metrics import METRICS, MetricResult

MODEL_TYPES = ("Upper Bound", "Und. Only", "Gen. Only", "Unified Model")


AGREEMENT_FILE = "judge_agreement.json"
"""Written into a run directory by `ubpp judge-agreement`; the leaderboard shows it beside judged columns."""


class RunError(UbppError, ValueError):
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
    recipe: dict[str, Any] = field(default_factory=dict)
    """How the model sampled (resolution, steps, guidance, temperature, top-k/p, seeds, precision), for adapters
    that state it (`Model.recipe`)."""
    sanity: bool = False
    """A sanity baseline's run (its adapter states `sanity`: always-yes, text-echo), which can score high for a
    trivial reason (text-echo's Rec. under syncr1): the leaderboard tags it and never ranks it. False in runs
    written before the field."""

    def recipe_text(self) -> str:
        """The recipe on one line, for the CLI summary and the leaderboard row's hover."""
        return "; ".join(f"{key} {value}" for key, value in sorted(self.recipe.items()))

    def __post_init__(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise RunError(f"model_type {self.model_type!r} is not one of {MODEL_TYPES}")

    def record_scoring(self, results: list[MetricResult], judge_model: str, judge_usage: dict[str, Any] | None,
                       earlier: RunInfo | None = None) -> None:
        """Which model produced each computed metric, and the judge's model, prompt hashes and usage: `usage` this
        scoring's, `total_usage` every scoring of the run added up (`earlier`: what run.json held), so that a
        resume or a re-run, which finds its answers in the cache, does not wipe what judging the run cost."""
        self.metric_models = {r.name: r.model for r in results if r.value is not None}
        before = earlier.judge_total_usage if earlier and earlier.judge.get("model") == judge_model else {}
        self.judge = {"model": judge_model, "templates": {r.name: r.template_hash for r in results if r.template_hash},
                      "usage": judge_usage or {}, "total_usage": added_usage(before, judge_usage or {})}

    @property
    def judge_total_usage(self) -> dict[str, Any]:
        """What judging this run cost over all its scorings (a run written before totals were kept: its last)."""
        return self.judge.get("total_usage", self.judge.get("usage", {}))


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
        """Model, benchmark build and which run folder (a short hash of its location): runs of one model on one
        build (another protocol, seed or sample count, each in its own folder) are told apart."""
        folder = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:8]
        return f"{self.info.model}@{self.info.benchmark_version}@{folder}"


SCORED_FILE = "predictions-file"
"""The adapter a run written by `ubpp score --run-dir` records: what a later `score --run-dir` may replace."""


def scored_run_info(model: str, model_type: str, model_size: str, bench: Any, predictions: dict[str, dict[str, str]],
                    results: list[MetricResult], config: Any, judge_usage: dict[str, Any] | None) -> RunInfo:
    """RunInfo for predictions scored outside the runner (`ubpp score --run-dir`)."""
    from unifybench_pp.schema import UNDERSTANDING_TASKS

    tasks = {task for task, items in predictions.items() if items}
    info = RunInfo(
        model=model, model_type=model_type, model_size=model_size,
        capabilities=[c for c, group in (("understand", UNDERSTANDING_TASKS), ("generate", GENERATION_TASKS))
                      if tasks & set(group)],
        benchmark_version=bench.version, protocol=config.protocol, adapter=SCORED_FILE,
        date=utc_now(), packages=package_versions(),
    )
    info.record_scoring(results, config.judge_model, judge_usage)
    return info


def image_name(item_id: str, suffix: str = ".png") -> str:
    """Where a run keeps an item's generated image: `images/<task>/<concept>/<number><suffix>`, each part of the
    id one path component, so two items never share a file (UnsafePath for a part that could climb out)."""
    return "images/" + "/".join(path_component(part, "item id part") for part in item_id.split("/")) + suffix


def write_results(path: Path, info: RunInfo, results: list[MetricResult]) -> None:
    """run.json, scores.jsonl and summary.json, each replaced atomically."""
    write_json(path / "run.json", asdict(info))
    atomic_write(path / "scores.jsonl", jsonl_text(
        {"metric": r.name, "id": item, "score": score, "details": r.item_details.get(item, {})}
        for r in results for item, score in r.per_item.items()))
    summary = []
    for result in results:
        record = result.to_dict()
        del record["per_item"], record["item_details"]
        summary.append(record)
    write_json(path / "summary.json", summary)


def write_run(path: Path, info: RunInfo, predictions: dict[str, dict[str, str]], results: list[MetricResult],
              base: Path) -> None:
    """A complete run directory from predictions scored elsewhere (`ubpp score --run-dir`).

    Image outputs (relative to `base`, confined to it) are copied into the
    run's images/, so the run is self-contained and names only its own files.
    """
    records = []
    for task, items in predictions.items():
        for item, output in items.items():
            if task in GENERATION_TASKS:
                source = inside(base, output)
                output = image_name(item, source.suffix)
                target = path / output
                if not (target.exists() and target.samefile(source)):
                    atomic_write(target, read_regular(source))
            records.append({"task": task, "id": item, "output": output})
    write_jsonl(path / "predictions.jsonl", records)
    write_results(path, info, results)


class _PredictionLine(TypedDict):
    task: str
    id: str
    output: str


class _ScoreLine(TypedDict):
    metric: str
    id: str
    score: float | None
    details: NotRequired[dict[str, Any]]


def _validated(adapter: TypeAdapter, value: Any, where: str) -> Any:
    """`value` checked against `adapter`'s type, strictly as JSON (a number written as text, "0.5", is refused, not
    read as 0.5); a mismatch is a RunError naming `where` and the first problem."""
    try:
        return adapter.validate_json(json.dumps(value), strict=True)
    except ValidationError as error:
        first = error.errors()[0]
        place = error_location(first["loc"])
        got = f", not {first['input']!r}" if not isinstance(first["input"], (dict, list)) else ""
        raise RunError(f"{where}: {place + ': ' if place else ''}{first['msg']}{got}") from None
    except RunError as error:
        raise RunError(f"{where}: {error}") from None


def _text(run: Path, name: str) -> str | None:
    """A run file's text (None when absent), read only if it lies inside the run."""
    try:
        return read_regular_text(inside(run, name))
    except FileNotFoundError:
        return None
    except UnsafePath as error:
        raise RunError(f"{run / name}: {error}") from None
    except (OSError, NotText) as error:
        raise RunError(f"{run / name}: unreadable ({error})") from None


def _load_json(run: Path, name: str) -> Any:
    text = _text(run, name)
    if text is None:
        raise RunError(f"{run / name}: missing")
    try:
        return loads(text)
    except BadJSON as error:
        raise RunError(f"{run / name}: malformed JSON ({error})") from None


def _load_jsonl(run: Path, name: str, adapter: TypeAdapter) -> list[dict[str, Any]]:
    """Each line checked against `adapter`; the records are returned as written (extra keys kept)."""
    records = []
    try:
        for number, record in parse_jsonl(_text(run, name) or ""):
            _validated(adapter, record, f"{run / name}: line {number}")
            records.append(record)
    except BadLine as error:
        raise RunError(f"{run / name}: malformed JSON at line {error.number}") from None
    return records


def prediction_record(value: Any, where: str) -> dict[str, Any]:
    """`value` if it is a prediction line ({"task", "id", "output"} strings, extra keys kept), else RunError."""
    _validated(_PREDICTION, value, where)
    return value


_RUN_INFO = TypeAdapter(RunInfo)
_METRIC_RESULT = TypeAdapter(MetricResult)
_PREDICTION = TypeAdapter(_PredictionLine)
_SCORE = TypeAdapter(_ScoreLine)
_AGREEMENTS = TypeAdapter(list[dict[str, Any]])


RUN_FILES = ("run.json", "predictions.jsonl", "scores.jsonl", "summary.json")
"""What a scored run directory holds (a run missing one is not published or compared)."""
_SHARD_FILE = re.compile(r"(?:predictions\.shard-|shard-)(\d+)-of-(\d+)\.(?:jsonl|done)")


def shard_files(run_dir: Path, shard: tuple[int, int]) -> tuple[Path, Path]:
    """A launch's predictions file and its done marker: the run's own for one process, else shard i of n's."""
    index, count = shard
    if count == 1:
        return run_dir / "predictions.jsonl", run_dir / "predictions.done"
    return run_dir / f"predictions.shard-{index}-of-{count}.jsonl", run_dir / f"shard-{index}-of-{count}.done"


def unfinished_shards(run_dir: Path, counts: Iterable[int] = ()) -> list[str]:
    """`i/n` of every shard not finished, for each shard count some launch of the run started (and `counts`)."""
    started = {int(match[2]) for path in run_dir.glob("*shard-*-of-*")
               if (match := _SHARD_FILE.fullmatch(path.name)) and int(match[2]) > 1}
    return [f"{i}/{n}" for n in sorted(started | set(counts)) for i in range(n)
            if not shard_files(run_dir, (i, n))[1].exists()]


def check_scored(run: Run) -> None:
    """RunError naming the file when a run read by `read_run` is not a scored run: `read_run` takes a missing
    predictions file (or a scores file, when the summary counts no score) as empty, and an empty summary as a run
    (one still predicting, stopped before scoring, or waiting for its other shards); it would be published, or
    compared, as measured."""
    if not run.results and (waiting := unfinished_shards(run.path)):  # a summary.json it lacks, read_run refused
        raise RunError(f"{run.path}: not scored yet: shard{'s' * (len(waiting) > 1)} {', '.join(waiting)} "
                       f"{'have' if len(waiting) > 1 else 'has'} not finished (run the evaluate command with "
                       f"--shard {waiting[0]}; the last shard to finish scores the run)")
    for name in RUN_FILES:
        path = run.path / name
        if not (path.exists() or path.is_symlink()):
            raise RunError(f"{path}: missing")
    if not run.results:
        raise RunError(f"{run.path / 'summary.json'}: no metric scored yet (the run stopped before scoring, or its "
                       f"other shards have not finished; re-run its evaluate command)")


def read_run_info(path: Path) -> RunInfo:
    """A run's run.json, validated as `read_run` validates it (RunError naming the problem)."""
    return _validated(_RUN_INFO, _load_json(path, "run.json"), str(path / "run.json"))


def read_run(path: Path) -> Run:
    """Load and validate a run directory; per-item scores are attached to their metric.

    Every file is read only inside `path`, and every image output must name a file inside it.
    """
    info = read_run_info(path)
    summary = _load_json(path, "summary.json")
    if not isinstance(summary, list):
        raise RunError(f"{path / 'summary.json'}: expected a list of metric records")
    results: dict[str, MetricResult] = {}
    for number, record in enumerate(summary):
        result = _validated(_METRIC_RESULT, record, f"{path / 'summary.json'}: record {number}")
        if result.name not in METRICS:
            raise RunError(f"{path / 'summary.json'}: unknown metric {result.name!r}")
        if result.name in results:
            raise RunError(f"{path / 'summary.json'}: record {number}: {result.name} appears twice")
        results[result.name] = result
    for line in _load_jsonl(path, "scores.jsonl", _SCORE):
        result = results.get(line["metric"])
        if result is not None:
            result.per_item[line["id"]] = line["score"]
            if line.get("details"):
                result.item_details[line["id"]] = line["details"]
    _check_scores_agree(path, results)
    predictions = {}
    for record in _load_jsonl(path, "predictions.jsonl", _PREDICTION):
        if record["task"] in GENERATION_TASKS:
            try:
                inside(path, record["output"])
            except UnsafePath as error:
                raise RunError(f"{path / 'predictions.jsonl'}: item {record['id']}: output {error}") from None
        predictions[(record["task"], record["id"])] = record
    agreements = (_validated(_AGREEMENTS, _load_json(path, AGREEMENT_FILE), str(path / AGREEMENT_FILE))
                  if _text(path, AGREEMENT_FILE) is not None else [])
    return Run(path, info, results, predictions, agreements)


def _check_scores_agree(path: Path, results: dict[str, MetricResult]) -> None:
    """RunError unless every metric has as many scored items in scores.jsonl as summary.json's `n` counts (failed
    and skipped items are written with a null score, and `n` leaves them out): an emptied or cut-short scores.jsonl
    beside an intact summary (a copy, an edit) would be published as a complete run, and compared as "no item scored
    in both runs"."""
    scores = path / "scores.jsonl"
    for name, result in results.items():
        scored = sum(score is not None for score in result.per_item.values())
        if scored == result.n:
            continue
        held = "missing" if not os.path.lexists(scores) else f"holds {scored} scored items of {name}"
        raise RunError(f"{scores}: {held}, but summary.json counts n={result.n} for {name} (the two files come from "
                       f"different scorings, or one was cut short; re-run the command that scored the run)")


def locate_run(path: Path) -> Path:
    """The run a user names on the command line: a run directory, or a folder above exactly one (`runs/MODEL` or
    `runs/MODEL/BUILD`, the levels `ubpp evaluate` writes above a run's own), since the hash level is the one
    nobody types. Several runs below are listed to choose from, never picked. A run.json of any kind (a broken
    link, a folder) makes `path` the run, for the reader to name what is wrong with it."""
    if os.path.lexists(path / "run.json"):
        return path
    if not path.is_dir():
        raise RunError(f"{path}: no such run directory" + ("" if path.exists() else " (nothing is there)"))
    runs = find_runs([path])
    if len(runs) == 1:
        return runs[0]
    if not runs:
        raise RunError(f"{path}: no run here or below (a run directory holds run.json; `ubpp evaluate` writes one "
                       f"to RUNS/MODEL/BUILD/HASH)")
    shown = ", ".join(str(run) for run in runs[:5]) + (f" and {len(runs) - 5} more" if len(runs) > 5 else "")
    raise RunError(f"{path} holds {len(runs)} runs; name one: {shown}")


def find_runs(roots: Iterable[Path]) -> list[Path]:
    """Every directory holding a run.json under the given roots (a root may itself be a run).

    Symlinked folders are not followed: a run found here lies inside its root. A root that cannot be
    searched (a symlink loop, a file) is returned as is, so that reading it names the problem.
    """
    found = set()
    for root in roots:
        if (root / "run.json").is_file():
            found.add(root)
        try:
            for candidate in root.rglob("run.json"):
                try:
                    inside(root, candidate.parent.relative_to(root).as_posix())
                except UnsafePath:
                    continue
                found.add(candidate.parent)
        except OSError:
            found.add(root)
    return sorted(found)
