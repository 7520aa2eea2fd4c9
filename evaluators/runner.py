"""`ubpp evaluate`: run a model over a built benchmark, resumably and shardably, then score it.

Layout: `runs/<model>/<benchmark-version>/<config-hash>/` (see rundir.py). The
config hash covers what changes results (model, checkpoint fingerprint,
options, seed, protocol, metric models), so a changed config starts a new
directory instead of mixing results; task, concept and limit selections and
the batch size do not enter it, so widening a run reuses what is done.

Resume: each prediction is one line appended with a single write and fsync
(generated images are written first, atomically), so a run killed at any
point keeps every finished item; the next run skips them and drops a torn
last line. Judge answers come from the judge's cache. One process writes a
run at a time (runlock.py): a second one on the same run stops at once
naming the holder, or waits (`wait`) and then resumes.

Two stages: Rea. Gen. and Dense Rea. Gen. draw from the model's own Rea. /
Dense Rea. output for the same prompt (`reasoning_input="own"`, the
harness's flow), so within each concept the understanding items run first;
a resumed run keeps that order. `implicit` and `explicit` feed the implicit
or the explicit prompt instead (ablations; explicit = oracle rewriting). A
model that cannot understand always gets the implicit prompt. Each record
names the prompt it was generated from.

Sharding: `--shard i/n`, or the RANK / WORLD_SIZE that `accelerate launch`
sets, keeps every n-th concept (so both stages of a concept stay in one
process); each shard appends to its own file under its own lock and marks
itself done; the last shard to finish takes the run's lock, merges the files
and scores, so the summary equals a single-process run's. Items another
launch of the run finished (unsharded, or with another shard count) are
taken over, not predicted again.

Generated images that cannot be scored (a file corrupted after the run wrote
it) are failed items with their reason, never a crash or a silent 0.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from baselines.base import GenerateRequest, Model, ModelError, UnderstandRequest
from baselines.harness_seeds import HARNESS_SEED
from unifybench_pp import Benchmark
from unifybench_pp.errors import SettingsError
from unifybench_pp.files import append_durably, atomic_write
from unifybench_pp.jsonio import BadJSON, jsonl_text, loads, write_json
from unifybench_pp.paths import NotText, UnsafePath, inside, path_component, read_regular, utf8_text
from unifybench_pp.runlock import run_lock, utc_now
from unifybench_pp.schema import GENERATION_TASKS, REASONING_SOURCES, TASKS, UNDERSTANDING_TASKS, task_capability

from .metrics import MetricResult
from .rundir import (
    RunError,
    RunInfo,
    image_name,
    package_versions,
    prediction_record,
    read_run_info,
    shard_files,
    unfinished_shards,
    write_results,
)
from .scoring import NO_PREDICTIONS, Scorers, score
from .scoring_config import ScoringConfig
from .variance import observation_id


class EvalSettingsError(SettingsError):
    """Settings that do not fit the benchmark or each other (an unknown task or concept, samples below 1)."""


@dataclass
class EvalConfig:
    model: str
    checkpoint: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    tasks: list[str] | None = None
    concepts: list[str] | None = None
    limit: int | None = None
    """Items per task (the first ones, in benchmark order)."""
    seed: int = HARNESS_SEED
    """The run seed (the harness's default --seed): every request's seed derives from it (see `seed_for`)."""
    batch_size: int = 8
    device: str = "cpu"
    runs_dir: Path = Path("runs")
    shard: tuple[int, int] = (0, 1)
    model_type: str = "Unified Model"
    model_size: str = ""
    """The size the row shows (`--model-size`); empty: the one the run recorded, else `default_size`."""
    display_name: str = ""
    """The row's name (`--name`); empty: the one the run recorded (a resume keeps it), else `default_name`."""
    default_size: str = "-"
    default_name: str = ""
    """The row's name for a new run when none is given (the adapter's display name); empty: `model`."""
    reasoning_input: str = "own"
    """What the two-stage generation tasks draw from: own | implicit | explicit (see module doc), or harness:
    what the authors' harness gives this model, resolved by `run_evaluation` (the model's
    `harness_reasoning_input`, else own)."""
    compared_with: str = ""
    """The leaderboard row this model is tested against (its starting point); recorded, not hashed."""
    samples: int = 1
    """Outputs per prompt, each with its own seed (the paper uses one): measures sampling variance."""
    wait: bool = False
    """When another process writes the run: wait for it (True) or stop with RunLocked (False)."""
    scoring: ScoringConfig = field(default_factory=ScoringConfig)

    def __post_init__(self) -> None:
        if self.samples < 1 or self.scoring.judge_repeats < 1:
            raise EvalSettingsError("--samples and --judge-repeats must be at least 1")
        if self.reasoning_input not in (HARNESS_FLOW, *REASONING_INPUTS):
            raise EvalSettingsError(f"reasoning input must be one of {', '.join((HARNESS_FLOW, *REASONING_INPUTS))}, "
                             f"not {self.reasoning_input!r}")


REASONING_INPUTS = ("own", "implicit", "explicit")
HARNESS_FLOW = "harness"
"""The reasoning input resolved per model: what the authors' harness gives it."""


@dataclass
class EvalResult:
    run_dir: Path
    results: list[MetricResult] | None
    """None for a shard that finished before the others (the last one scores)."""
    predicted: int
    skipped: int
    info: RunInfo
    """What run.json holds (display name, judge usage, ...)."""
    waiting: list[str] = field(default_factory=list)
    """The shards (`i/n`) a finished shard leaves the run waiting for."""


def checkpoint_fingerprint(checkpoint: str | None) -> str:
    """sha256 over a local checkpoint's files (whole small files; size + first/last 4 MiB of big ones)."""
    if not checkpoint or not Path(checkpoint).exists():
        return checkpoint or ""
    root = Path(checkpoint)
    digest = hashlib.sha256()
    for path in sorted(p for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file()):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(root) if root.is_dir() else path.name}:{size}".encode())
        with path.open("rb") as handle:
            if size <= 16 << 20:
                digest.update(handle.read())
            else:
                digest.update(handle.read(4 << 20))
                handle.seek(-(4 << 20), os.SEEK_END)
                digest.update(handle.read())
    return digest.hexdigest()


def _config_hash(config: EvalConfig, checkpoint_sha: str, recipe: dict[str, Any]) -> str:
    s = config.scoring
    key = {"model": config.model, "checkpoint": config.checkpoint, "checkpoint_sha256": checkpoint_sha,
           **({"recipe": recipe} if recipe else {}),
           "options": config.options, "seed": config.seed, "protocol": s.protocol, "clip": s.clip,
           "reasoning_input": config.reasoning_input, "samples": config.samples,
           "judge_repeats": s.judge_repeats,
           "judge": s.judge_model, "text_embedder": s.text_embedder, "dinov2": s.dinov2, "blip2": s.blip2,
           "facenet": s.facenet}
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]


def item_seed(seed: int, item_id: str) -> int:
    """A per-item seed: an item's output never depends on its batch, shard or resume point."""
    return int(hashlib.sha256(f"{seed}:{item_id}".encode()).hexdigest()[:8], 16)


def seed_for(model: Model, seed: int, task: str, item: Any) -> int:
    """A request's seed: the model's own rule when it reproduces a harness's seeding (`request_seed`, e.g. the
    Show-o family's), else `item_seed`. Recorded with the prediction."""
    rule = getattr(model, "request_seed", None)
    return rule(seed, task, item.concept, item.id) if rule else item_seed(seed, item.id)


def check_selection(bench: Benchmark, config: EvalConfig) -> list[str]:
    """The tasks asked for; EvalSettingsError for an unknown task or concept (before a run folder exists)."""
    tasks = list(TASKS) if config.tasks is None else config.tasks
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        named = ", ".join(map(repr, unknown or [""]))
        raise EvalSettingsError(f"unknown task(s) {named}; tasks are {', '.join(TASKS)}")
    if config.concepts:
        missing = [c for c in config.concepts if c not in bench.concepts]
        if missing:
            raise EvalSettingsError(f"concept(s) {', '.join(repr(c) for c in missing)} not in {bench.version}")
    return tasks


def check_capabilities(capabilities: Collection[str], config: EvalConfig) -> None:
    """Tasks named in `tasks` that the model cannot do are refused (by default, all tasks, they are left out): a run
    asked for `pure_gen` of a model that only answers would otherwise do nothing and report success."""
    if config.tasks is None:
        return
    unable = [t for t in config.tasks if task_capability(t) not in capabilities]
    if unable:
        can = " and ".join(sorted(capabilities))
        raise EvalSettingsError(f"{config.model} cannot do {', '.join(unable)} (it can {can}); leave "
                                f"{'it' if len(unable) == 1 else 'them'} out of --tasks")


def check_served(bench: Benchmark, model: Model, config: EvalConfig) -> None:
    """A checkpoint of per-concept models (`served_concepts`) that lacks some of the concepts asked for is refused
    before anything is predicted, rather than when that concept's turn comes."""
    served = getattr(model, "served_concepts", None)
    if served is None:
        return
    lacking = [c for c in (config.concepts or sorted(bench.concepts)) if c not in served]
    if lacking:
        raise ModelError(f"{config.model}: {config.checkpoint} holds no model for concept(s) {', '.join(lacking)}; "
                         f"it has {', '.join(sorted(served)) or 'none'} (fix: --concepts "
                         f"{','.join(c for c in sorted(served) if c in bench.concepts)}, or train the others into the "
                         f"same --out)")


def plan(bench: Benchmark, model: Model, config: EvalConfig) -> list[tuple[str, Any]]:
    """(task, item) pairs this process predicts: concept-major, each concept's understanding first.

    With `reasoning_input="own"`, a Rea. Gen. / Dense Rea. Gen. item brings
    the Rea. / Dense Rea. item it draws from, even when that task was not
    asked for (its prediction is recorded like any other).
    """
    tasks = check_selection(bench, config)
    able = [t for t in TASKS if t in tasks and task_capability(t) in model.capabilities]
    chosen: dict[tuple[str, str], Any] = {}
    for task in able:
        items = bench.items(task, config.concepts)
        for item in items[: config.limit] if config.limit is not None else items:
            source = REASONING_SOURCES.get(task)
            if source and config.reasoning_input == "own" and "understand" in model.capabilities:
                chosen.setdefault((source, item.source_item), bench.item(source, item.source_item))
            chosen[(task, item.id)] = item
    order = {task: k for k, task in enumerate([t for t in TASKS if t not in REASONING_SOURCES]
                                              + list(REASONING_SOURCES))}
    concepts = sorted(bench.concepts)
    index, count = config.shard
    mine = {c for k, c in enumerate(concepts) if k % count == index}
    pairs = [(task, sampled(item, k)) for (task, _), item in chosen.items() if item.concept in mine
             for k in range(config.samples)]
    return sorted(pairs, key=lambda pair: (concepts.index(pair[1].concept), order[pair[0]]))


def sampled(item: Any, sample: int) -> Any:
    """The item as its `sample`-th output is recorded (id `<id>#<k>`; a two-stage item reads sample k of its
    source). Sample 0 keeps the plain id, so one sample per prompt is the harness's run exactly."""
    if not sample:
        return item
    extra = {"source_item": observation_id(item.source_item, sample)} if hasattr(item, "source_item") else {}
    return replace(item, id=observation_id(item.id, sample), **extra)


class PredictionLog:
    """Append-only JSONL of predictions.

    A torn last line (a kill mid-write) is dropped on open; a last line that
    is a whole record but lacks its newline is kept. Any other bad line is a
    RunError naming it, and then the file is left exactly as it was.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[tuple[str, str], dict[str, Any]] = {}
        self._folder = _identity(path.parent)
        try:
            raw = read_regular(path)
        except FileNotFoundError:
            return
        except UnsafePath as error:
            raise RunError(f"{path}: {error}") from None
        lines = raw.split(b"\n")
        torn = lines.pop()  # b"" when the file ends with a newline
        if torn.strip() and self._parse(torn) is not None:
            lines.append(torn)
            torn = b""
        for number, line in enumerate(lines, start=1):
            if line.strip():
                record = self._parse(line)
                if record is None:
                    raise RunError(f"{path}: line {number} is not a JSON prediction record: repair or remove it")
                record = prediction_record(record, f"{path}: line {number}")
                self.done[(record["task"], record["id"])] = record
        if torn or not raw.endswith(b"\n") and raw:
            atomic_write(path, b"".join(line + b"\n" for line in lines))

    @staticmethod
    def _parse(line: bytes) -> Any:
        try:
            return loads(utf8_text(line))
        except (NotText, BadJSON):
            return None

    def append(self, records: list[dict[str, Any]]) -> None:
        """Add records; RunError when the run folder was removed or replaced since the log was opened (writing on
        would leave a folder that looks finished and holds part of the run)."""
        if _identity(self.path.parent) != self._folder:
            raise RunError(f"{self.path.parent} was removed or replaced while this run wrote to it; nothing more is "
                           f"written (fix: run the same command again: it starts the run over)")
        append_durably(self.path, jsonl_text(records))
        for record in records:
            self.done[(record["task"], record["id"])] = record


def _identity(folder: Path) -> tuple[int, int] | None:
    """Which folder is at this path (device and inode): a folder deleted and made again is another one."""
    try:
        found = folder.stat()
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def finished_elsewhere(run_dir: Path, own: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Records in the run's other prediction files (the one-process file, shard files of any shard count).

    Outputs depend on the item alone (per-item seeds), so an item another launch of this run finished is done for
    this one too: a sharded run after an unsharded one, or the reverse, predicts nothing twice. Another process
    may be appending to those files, so they are only read, never repaired: bad lines and a last line without its
    newline are passed over, and a generation record counts only while its image is there."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in [run_dir / "predictions.jsonl", *sorted(run_dir.glob("predictions.shard-*-of-*.jsonl"))]:
        if path == own:
            continue
        try:
            raw = read_regular(path)
        except (FileNotFoundError, UnsafePath):
            continue
        for line in raw.split(b"\n")[:-1]:
            record = PredictionLog._parse(line)
            try:
                record = prediction_record(record, str(path)) if record is not None else None
            except RunError:
                continue
            if record is not None and _output_here(run_dir, record):
                found.setdefault((record["task"], record["id"]), record)
    return found


def _output_here(run_dir: Path, record: dict[str, Any]) -> bool:
    """A record is done while its output is there: a text always, a generated image while its file is."""
    if record["task"] not in GENERATION_TASKS:
        return True
    try:
        return inside(run_dir, record["output"]).is_file()
    except UnsafePath:
        return False


def generation_prompt(item: Any, task: str, model: Model, config: EvalConfig, log: PredictionLog
                      ) -> tuple[str, str]:
    """(prompt, where it came from) for a generation item; two-stage items per `config.reasoning_input`."""
    source = REASONING_SOURCES.get(task)
    if source is None:
        return item.prompt, "item"
    if config.reasoning_input == "explicit":
        return item.explicit_prompt, "explicit"
    if config.reasoning_input == "implicit" or "understand" not in model.capabilities:
        return item.implicit_prompt, "implicit"
    return log.done[(source, item.source_item)]["output"].strip(), f"own:{item.source_item}"


def _requests(bench: Benchmark, task: str, items: list, model: Model, config: EvalConfig,
              log: PredictionLog) -> tuple[list, list[str]]:
    """The batch's requests, and for generation where each prompt came from."""
    out, sources = [], []
    for item in items:
        concept = bench.concepts[item.concept]
        if task in UNDERSTANDING_TASKS:
            out.append(UnderstandRequest(item.id, task, concept, item.question, bench.image_path(item.image),
                                         seed_for(model, config.seed, task, item)))
            sources.append("item")
        else:
            prompt, source = generation_prompt(item, task, model, config, log)
            out.append(GenerateRequest(item.id, task, concept, prompt,
                                       tuple(bench.image_path(p) for p in concept.train_images),
                                       seed_for(model, config.seed, task, item)))
            sources.append(source)
    return out, sources


def _call(model: Model, task: str, requests: list, device: str) -> list:
    """One batch; on out-of-memory, retry once in two halves, then give up with a clear message."""
    method = model.understand if task in UNDERSTANDING_TASKS else model.generate
    try:
        return method(requests)
    except torch.OutOfMemoryError:
        if len(requests) < 2:
            raise ModelError(f"out of memory on {device} at batch size 1: use a smaller dtype or another device") \
                from None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = len(requests) // 2
        try:
            return method(requests[:half]) + method(requests[half:])
        except torch.OutOfMemoryError:
            raise ModelError(f"out of memory on {device} even at batch size {half}: pass a smaller --batch-size") \
                from None


def predict(bench: Benchmark, model: Model, config: EvalConfig, run_dir: Path, log: PredictionLog,
            on_task: Callable[[str, int], Callable[[int], None]] = lambda task, total: lambda n: None) -> tuple[int,
                                                                                                                int]:
    """Predict every planned item not already in the log; returns (predicted, skipped). A generated image deleted
    since is predicted again, as it is when another launch's record lost its image (`finished_elsewhere`)."""
    pairs = plan(bench, model, config)
    done_here = {key for key, record in log.done.items() if _output_here(run_dir, record)}
    if any((task, item.id) not in done_here for task, item in pairs):
        elsewhere = finished_elsewhere(run_dir, log.path)
        taken = [elsewhere[key] for key in ((task, item.id) for task, item in pairs)
                 if key in elsewhere and key not in done_here]
        log.append(taken)
        done_here.update((record["task"], record["id"]) for record in taken)
    predicted = skipped = 0
    advances = {}
    for task in dict.fromkeys(t for t, _ in pairs):
        items = [item for t, item in pairs if t == task]
        done = sum((task, item.id) in done_here for item in items)
        skipped += done
        advances[task] = on_task(task, len(items))
        advances[task](done)
    todo = [(task, item) for task, item in pairs if (task, item.id) not in done_here]
    # Concept-major: each concept is personalized once (a DreamBooth pipeline is loaded once, not per task).
    for concept_id in dict.fromkeys(item.concept for _, item in todo):
        concept = bench.concepts[concept_id]
        model.personalize(concept, [bench.image_path(p) for p in concept.train_images])
        for task in dict.fromkeys(t for t, item in todo if item.concept == concept_id):
            group = [item for t, item in todo if t == task and item.concept == concept_id]
            for start in range(0, len(group), config.batch_size):
                batch = group[start : start + config.batch_size]
                requests, sources = _requests(bench, task, batch, model, config, log)
                outputs = _call(model, task, requests, config.device)
                if len(outputs) != len(batch):
                    raise ModelError(f"{config.model} returned {len(outputs)} outputs for {len(batch)} requests")
                log.append([_record(run_dir, task, item, output, request, source)
                            for item, output, request, source in zip(batch, outputs, requests, sources)])
                predicted += len(batch)
                advances[task](len(batch))
    return predicted, skipped


def _record(run_dir: Path, task: str, item: Any, output: str | Image.Image,
            request: UnderstandRequest | GenerateRequest, source: str) -> dict[str, Any]:
    if task in GENERATION_TASKS:
        if not isinstance(output, Image.Image):
            raise ModelError(f"generation for {item.id} did not return an image")
        buffer = io.BytesIO()
        output.save(buffer, format="PNG")
        try:
            relative = image_name(item.id)
            atomic_write(inside(run_dir, relative), buffer.getvalue())
        except UnsafePath as error:
            raise RunError(f"{run_dir}: cannot write the image of {item.id}: {error}") from None
        output = relative
    record = {"task": task, "id": item.id, "output": str(output), "seed": request.seed}
    if task in REASONING_SOURCES:
        record.update(prompt=request.prompt, prompt_source=source)
    return record


def _git_commit() -> str:
    head = Path(__file__).resolve().parents[1] / ".git" / "HEAD"
    if not head.is_file():
        return ""
    ref = head.read_text().strip()
    if ref.startswith("ref: "):
        target = head.parent / ref[5:]
        return target.read_text().strip() if target.is_file() else ""
    return ref


def open_run(bench: Benchmark, model: Model, config: EvalConfig) -> tuple[Path, RunInfo]:
    checkpoint_sha = checkpoint_fingerprint(config.checkpoint)
    try:
        named = path_component(config.model, "model name"), path_component(bench.version, "benchmark version")
    except UnsafePath as error:
        raise RunError(f"cannot name a run directory under {config.runs_dir}: {error}") from None
    recipe = dict(getattr(model, "recipe", {}))
    run_dir = config.runs_dir.joinpath(*named, _config_hash(config, checkpoint_sha, recipe))
    run_dir.mkdir(parents=True, exist_ok=True)
    recorded = _recorded_info(run_dir)
    info = RunInfo(
        model=config.display_name or (recorded.model if recorded else config.default_name or config.model),
        model_type=config.model_type,
        model_size=config.model_size or (recorded.model_size if recorded else config.default_size),
        capabilities=sorted(model.capabilities), benchmark_version=bench.version, protocol=config.scoring.protocol,
        adapter=config.model, checkpoint=config.checkpoint or "", checkpoint_sha256=checkpoint_sha,
        commit=_git_commit(), date=utc_now(), seed=config.seed, reasoning_input=config.reasoning_input,
        compared_with=config.compared_with,
        packages=package_versions(), recipe=recipe, sanity=bool(getattr(model, "sanity", False)),
    )
    return run_dir, info


def _recorded_info(run_dir: Path) -> RunInfo | None:
    """What an earlier launch of this run recorded (None for a new run, or a run.json that cannot be read: the
    run then takes the labels it is given, and scoring writes run.json again)."""
    try:
        return read_run_info(run_dir) if (run_dir / "run.json").exists() else None
    except RunError:
        return None


def _relabel(run_dir: Path, info: RunInfo) -> None:
    """Record a row name or size given on a resume at once (the rest of run.json waits for scoring), so a resume
    that is stopped again and then run without them still keeps them."""
    recorded = _recorded_info(run_dir)
    if recorded is not None and (recorded.model, recorded.model_size) != (info.model, info.model_size):
        write_json(run_dir / "run.json", asdict(replace(recorded, model=info.model, model_size=info.model_size)))


def _shards_in_other_folders(run_dir: Path, waiting: list[str]) -> list[str]:
    """A shard this run waits for that finished in a sibling folder was launched with other settings (the folder
    is the settings' hash): it never merges here, and this run would wait for ever without being told."""
    notes = []
    for shard in waiting:
        index, count = map(int, shard.split("/"))
        elsewhere = sorted(folder for folder in run_dir.parent.iterdir() if folder != run_dir
                           and shard_files(folder, (index, count))[1].exists())
        notes += [f"shard {shard} finished in {folder}, a run with other settings (seed, protocol, samples, options "
                  f"or checkpoint): shards merge only within one run folder, so launch shard {shard} with this "
                  f"shard's settings" for folder in elsewhere]
    return notes


def _all_shards_done(run_dir: Path, count: int) -> bool:
    return all(shard_files(run_dir, (i, count))[1].exists() for i in range(count))


def _merge(run_dir: Path, count: int) -> None:
    """Append every shard's records that predictions.jsonl lacks (idempotent; the caller holds the run lock)."""
    merged = PredictionLog(run_dir / "predictions.jsonl")
    for i in range(count):
        shard = PredictionLog(shard_files(run_dir, (i, count))[0])
        merged.append([r for key, r in shard.done.items() if key not in merged.done])


def run_evaluation(bench: Benchmark, model: Model, config: EvalConfig,
                   on_task: Callable[[str, int], Callable[[int], None]] = lambda task, total: lambda n: None,
                   scorers: Scorers | None = None, say: Callable[[str], None] = lambda message: None
                   ) -> EvalResult:
    """Predict (resuming), then - in the last shard to finish - score and write scores and summary.

    `say` hears about lock waits and stale locks taken over.
    """
    if config.reasoning_input == HARNESS_FLOW:
        config = replace(config, reasoning_input=getattr(model, "harness_reasoning_input", "own"))
    check_selection(bench, config)  # a typo writes no run folder
    check_capabilities(model.capabilities, config)
    check_served(bench, model, config)
    run_dir, info = open_run(bench, model, config)
    index, count = config.shard
    with run_lock(run_dir, "run" if count == 1 else f"shard-{index}-of-{count}", config.wait, say):
        log_path, done_marker = shard_files(run_dir, config.shard)
        done_marker.unlink(missing_ok=True)  # predicting again: a merge must wait for this shard
        if not (run_dir / "run.json").exists():
            write_results(run_dir, info, [])
        else:
            _relabel(run_dir, info)
        log = PredictionLog(log_path)
        predicted, skipped = predict(bench, model, config, run_dir, log, on_task)
        done_marker.touch()
        if count == 1:
            return EvalResult(run_dir, _score_run(bench, config, info, run_dir, scorers), predicted, skipped, info)
    if not _all_shards_done(run_dir, count):
        waiting = [shard for shard in unfinished_shards(run_dir, [count]) if shard.endswith(f"/{count}")]
        for note in _shards_in_other_folders(run_dir, waiting):
            say(note)
        return EvalResult(run_dir, None, predicted, skipped, info, waiting)
    # Shards never fail one another: the merge waits for whoever holds the run.
    with run_lock(run_dir, "run", wait=True, say=say):
        _merge(run_dir, count)
        return EvalResult(run_dir, _score_run(bench, config, info, run_dir, scorers), predicted, skipped, info)


CAN_DO = {"understand": "answer questions", "generate": "generate images"}
"""A capability (`task_capability`) in words."""


def why_unpredicted(result: MetricResult, capabilities: Collection[str], tasks: list[str] | None) -> MetricResult:
    """A task a run made no prediction for says why, where the run knows: the model cannot do it, or --tasks left
    it out (scoring alone only sees that there is none)."""
    if result.not_computed == NO_PREDICTIONS:
        needed = task_capability(result.task)
        if needed not in capabilities:
            result.not_computed = f"the model does not {CAN_DO[needed]}"
        elif tasks is not None and result.task not in tasks:
            result.not_computed = "not asked for (--tasks)"
    return result


def _score_run(bench: Benchmark, config: EvalConfig, info: RunInfo, run_dir: Path, scorers: Scorers | None
               ) -> list[MetricResult]:
    """Score predictions.jsonl and write run.json, scores and summary (the caller holds the run lock)."""
    predictions: dict[str, dict[str, str]] = {}
    for (task, item_id), record in PredictionLog(run_dir / "predictions.jsonl").done.items():
        predictions.setdefault(task, {})[item_id] = record["output"]
    scorers = scorers or Scorers(config.scoring)
    results = [why_unpredicted(result, info.capabilities, config.tasks)
               for result in score(bench, predictions, scorers, base=run_dir, unusable="fail")]
    info.record_scoring(results, config.scoring.judge_model, scorers.judge_usage(), earlier=_recorded_info(run_dir))
    write_results(run_dir, info, results)
    return results
