"""The `ubpp` command line: parses arguments and calls one library function per command."""

from __future__ import annotations

import json
import re
import shlex
import sys
import typing
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from unifybench_pp import MINI_DEFAULT_OUT, MINI_NAME, MINI_SOURCE, SourceError, SplitConfig, build, check_format, load
from unifybench_pp.errors import UbppError
from unifybench_pp.schema import TABLE1_TASKS, TASK_TITLES

console = Console()
errors = Console(stderr=True)


class _OneLineUsageErrors(typer.core.TyperGroup):
    """Option values the parser refuses (`--batch-size 0`, `--protocol strct`) are one line, `error: ...` and exit
    2, as every other user error is, instead of click's usage box; the help names where to look."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except typer.exceptions.TyperException as error:  # click's ClickException, as typer ships it
            code = getattr(error, "exit_code", 2)
            if type(error).__name__ != "NoArgsIsHelpError":  # that one's help is printed already (typer: by name)
                context = getattr(error, "ctx", None)
                command = " ".join(["ubpp", *context.command_path.split()[1:]]) if context is not None else "ubpp"
                hint = f" (see {command} --help)"  # named as installed, whatever name this process was run by
                message = error.format_message().replace("Value error, ", "")  # pydantic's, inside click's
                errors.print(f"error: {' '.join(message.split())}{hint}", markup=False, highlight=False,
                             soft_wrap=True)
            sys.exit(code)
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    cls=_OneLineUsageErrors,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(shown: bool) -> None:
    if shown:
        from importlib.metadata import version

        console.print(f"ubpp {version('unifybench-pp')}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the installed version and exit.")] = False,
             ) -> None:
    """UnifyBench++: benchmark, evaluation harness and leaderboard for personalized unified multimodal models."""

DEFAULT_OUT = MINI_DEFAULT_OUT
DEVICE_DEFAULT = "default: cuda when a GPU is visible, else cpu"


def keeps(kept: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Every command's one error handler. A user error (`UbppError`: bad input, a missing model, a setting out
    of range) is one line, `error: <message>`, with its exit code (2). A write the system refuses (disk full,
    read-only, a file where a folder should be) is one line naming the path, the reason and what is kept
    (`kept`), exit 1. Ctrl-C is one line saying what is kept, exit 130 (the shell's code for SIGINT). Anything
    else is a bug and keeps its traceback."""
    import functools

    def wrap(command: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(command)
        def run(*args: object, **values: object) -> None:
            try:
                command(*args, **values)
            except UbppError as error:
                errors.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
                raise typer.Exit(error.exit_code) from None
            except OSError as error:
                path = f" ({error.filename})" if error.filename else ""
                errors.print(f"error: {error.strerror or error}{path}; {kept}", markup=False, highlight=False,
                             soft_wrap=True)
                raise typer.Exit(1) from None
            except KeyboardInterrupt:
                errors.print(f"interrupted; {kept}", markup=False, highlight=False, soft_wrap=True)
                raise typer.Exit(130) from None

        return run

    return wrap


def _named(value: Optional[str]) -> Optional[str]:
    """A name given as an option: an empty one (`--name ''`) is refused rather than read as "use the default"."""
    if value is not None and not value.strip():
        raise typer.BadParameter("a name cannot be empty")
    return value


def _model_size(value: Optional[str]) -> Optional[str]:
    """A parameter count as the tables print one (1.3B, 350M; upper-cased), or - for unknown."""
    if value is None or value == "-":
        return value
    if not re.fullmatch(r"\d+(\.\d+)?[KMBT]?", value.strip(), flags=re.IGNORECASE):
        raise typer.BadParameter(f"a model size is a parameter count such as 1.3B, 350M or 7B (or - when unknown), "
                                 f"not {value!r}")
    return value.strip().upper()


@app.command("build-dataset")
@keeps("--out is unchanged: a build replaces it only once complete")
def build_dataset(
    source: Annotated[Optional[Path], typer.Option(
        help="The authors' UnifyBench++ release folder, read as is (concept/train, concept/test, test_data/, "
             "black_512x512.png). Default: the bundled mini benchmark, laid out the same way.")] = None,
    out: Annotated[Optional[Path], typer.Option(
        help=f"Output folder; an earlier build ubpp wrote there is replaced, any other non-empty folder is refused. "
             f"Default (bundled mini benchmark only): {DEFAULT_OUT}; with --source it must be given.")] = None,
    seed: Annotated[Optional[int], typer.Option(
        min=0, help="Draw an alternative held-out set of extra_info entries (same size per concept) with this seed, "
             "for sensitivity studies. Default: the release's split (the last num_testing_info entries).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Benchmark name recorded in the manifest and version.",
                                                callback=_named)] = None,
    format: Annotated[str, typer.Option(
        help="Layout of --source: unifybench (the authors' UnifyBench++ release), or one of the paper's Table 5 "
             "benchmarks as released: dreambench (google/dreambooth dataset/), yollava (yollava-data/), "
             "mcllava (the MC-LLaVA dataset folder; its single-concept subset).")] = "unifybench",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summary.")] = False,
) -> None:
    """Build a versioned, deterministic benchmark folder (same inputs and seed give the same bytes).

    UnifyBench++'s nine tasks are built exactly as the public Sync-R1 evaluation harness builds them; a
    held-out entry that leaks into training data or another task's input fails the build (exit code 2).
    With --format dreambench|yollava|mcllava the items are those each benchmark's own evaluation code asks.
    """
    bundled = source is None
    check_format(format)
    if bundled and format != "unifybench":
        raise SourceError("--source", "", f"--format {format} needs the benchmark's folder",
                          "pass --source DIR of its public release")
    if out is None and not bundled:  # the default folder is the one evaluate and train read as the mini benchmark
        raise SourceError("--out", "", f"no output folder: the default, {DEFAULT_OUT}, is the bundled mini "
                          f"benchmark's", f"pass --out DIR for this build, e.g. --out ubpp_data/{format}")
    out = out or DEFAULT_OUT
    result = build(MINI_SOURCE if bundled else source, out, SplitConfig(seed=seed),
                   name=name or (MINI_NAME if bundled else None), quiet=quiet, console=console, format=format)
    if not quiet:
        _print_summary(result.manifest, result.out)


def _print_summary(manifest: dict, out: Path) -> None:
    counts = manifest["counts"]
    categories = sorted(counts["concepts"])
    table = Table(title=f"{manifest['version']} ({manifest['split']})")
    table.add_column("task")
    table.add_column("items", justify="right")
    for category in categories:
        table.add_column(category, justify="right")
    expected = TABLE1_TASKS if manifest.get("format", "unifybench") == "unifybench" else ()
    for task, n in counts["tasks"].items():
        if n == 0 and task not in expected:
            continue  # a kind of task this benchmark never asks (Table 5's have a few; MC-LLaVA alone has choices)
        per = counts["tasks_by_category"][task]
        table.add_row(TASK_TITLES[task], str(n), *(str(per.get(c, 0)) for c in categories))
    console.print(table)
    per_category = ", ".join(f"{counts['concepts'][c]} {c}" for c in categories)
    console.print(
        f"concepts: {per_category}; "
        f"extra_info train/held-out: {counts['extra_info'].get('train', 0)}/{counts['extra_info'].get('heldout', 0)}; "
        f"images train/test: {counts['images']['train']}/{counts['images']['test']}"
    )
    console.print(f"written to {out} (card: {out / 'README.md'})")


@app.command("export")
@keeps("--out is unchanged: an export replaces it only once complete")
def export(
    benchmark: Annotated[Path, typer.Argument(help="A folder written by `ubpp build-dataset`.")],
    out: Annotated[Path, typer.Option(help="Folder for one Parquet file per task and table.")],
) -> None:
    """Export a built benchmark to Parquet (the same tables as `unifybench_pp.load(path).to_hf()`)."""
    import datasets

    datasets.disable_progress_bars()  # a bar per file, each done in a millisecond: noise around the one line
    written = load(benchmark).to_parquet(out)
    console.print(f"wrote {len(written)} Parquet files to {out}")


SCORING_HELP: dict[str, str] = {
    "protocol": "syncr1: the public Sync-R1 harness rule for rule (comparable with the paper's Table 1); strict: its "
                "defects fixed (unparseable judge replies fail instead of scoring 0, one failing a whole dense item; "
                "Rec. replies parsed: yes-and-no is wrong, 'Nope' is no; concepts without negatives not halved, "
                "without Rec. items left out instead of 0; Rea. Gen. CLIP-T with the class noun, CLIP-I on all test "
                "images; Show-o family: no test-image flips, latent tokens out of answers, Pure Gen. names replaced "
                "only as tokens). docs/protocols.md lists every rule.",
    "clip": "CLIP for CLIP-T/CLIP-I: open_clip:ARCH/TAG (default: OpenAI's ViT-B/32 with QuickGELU, the authors'), "
            "open_clip:ARCH/FILE, open_clip:local-dir:FOLDER, or a transformers hub id or folder; a spec whose "
            "activation does not match its weights is refused.",
    "clip_trusted_file": "Let --clip-model name a TorchScript archive (OpenAI's ViT-B-32.pt, what the authors' harness "
                         "loads): torch.jit.load runs code from the file and cannot be limited to tensors, so pass "
                         "this only for a file you trust.",
    "judge_model": "Judge model for the GPT columns.",
    "judge_base_url": "OpenAI-compatible server for the judge (key from OPENAI_API_KEY).",
    "judge_concurrency": "Judge calls in flight at once.",
    "judge_timeout": "Seconds one judge call may take before it counts as failed (then retried); once a few items "
                     "could not connect or timed out after their retries, the rest fail at once.",
    "judge_retries": "Retries of a transient judge failure (429, 5xx, timeout, lost connection), with exponential "
                     "backoff; 0 asks once.",
    "judge_cache": "SQLite cache of judge answers.",
    "text_embedder": "Sentence encoder for text similarity: 'minilm' (bundled, offline) or any sentence-transformers "
                     "model.",
    "dinov2": "DINOv2 hub id or folder.",
    "blip2": "BLIP-2 retrieval hub id or folder.",
    "facenet": "FaceNet weights: 'vggface2' (downloaded by facenet-pytorch) or a state-dict file.",
    "judge_repeats": "Ask the judge this many times per output (same prompt, separate cache entries): the summary "
                     "then separates the judge's variance from the concepts' and the sampling's.",
}
"""The scoring options (`evaluators.scoring_config.ScoringConfig` fields; their defaults are that class's)."""
OPTION_NAMES = {"clip": "--clip-model"}
"""Flags whose name differs from the field they set."""
OPTION_RANGES = {"judge_repeats": {"min": 1}, "judge_concurrency": {"min": 1}, "judge_timeout": {"min": 0.1},
                 "judge_retries": {"min": 0}}
"""Bounds typer checks before a command runs (exit 2 with the allowed range)."""


def scoring_options(*fields: str, **defaults: object) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command these ScoringConfig fields as options, and call it with `scoring=ScoringConfig(...)`.

    Declared once here for every command that scores; a command's `device` option also sets the scorers'.
    `defaults` replaces a field's default for this command (e.g. a cheaper second judge).
    """
    import dataclasses
    import functools
    import inspect

    from evaluators.scoring_config import ScoringConfig

    declared = {f.name: f for f in dataclasses.fields(ScoringConfig)}
    types = typing.get_type_hints(ScoringConfig)

    def wrap(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        added = []
        for name in fields:
            flag = OPTION_NAMES.get(name, "--" + name.replace("_", "-"))
            default = defaults.get(name, declared[name].default)
            option = typer.Option(flag, help=SCORING_HELP[name], **OPTION_RANGES.get(name, {}))
            added.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                           annotation=Annotated[types[name], option]))

        @functools.wraps(command)
        def run(**values: object) -> None:
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
            chosen = {name: values.pop(name) for name in fields}  # --protocol's choices come from its Literal type
            device = values.get("device")
            command(**values, scoring=ScoringConfig(**chosen, device=None if device is None else str(device)))

        kept = [p for p in signature.parameters.values() if p.name != "scoring"]
        run.__signature__ = signature.replace(parameters=kept + added)  # type: ignore[attr-defined]
        return run

    return wrap


ALL_SCORING = tuple(SCORING_HELP)
WaitOpt = Annotated[bool, typer.Option(
    "--wait", help="When another process is writing the same output directory, wait for it instead of exiting.")]


RequireCompleteOpt = Annotated[bool, typer.Option(
    "--require-complete", help="Exit with code 1 when any column has items left unscored (a judge call that never "
                               "succeeded, an unusable output; under strict, an unparseable reply) or not predicted "
                               "(evaluate's --limit or --concepts, a predictions file covering part of the "
                               "benchmark): such a "
                               "column is printed with its coverage, e.g. 0.3750 (21/24).")]


def _say(message: str) -> None:
    errors.print(f"note: {message}", markup=False, highlight=False, soft_wrap=True)


def _print_results(title: str, results: list, judge_usage: Optional[dict], scoring) -> None:
    table = Table(title=title)
    for column in ("metric", "value", "95% CI (concepts)", "items (concepts)", "model"):
        table.add_column(column)
    reasons: dict[str, int] = {}
    for result in results:
        if result.value is None:
            mark = reasons.setdefault(result.not_computed, len(reasons) + 1)
            table.add_row(result.name, f"n/c [{mark}]", "", "", "")
        else:
            low, high = result.ci95
            table.add_row(result.name, result.shown(), f"[{low:.4f}, {high:.4f}]",  # the value's digits
                          f"{result.n} ({result.n_concepts})" + (f", {result.failed} failed" if result.failed else "")
                          + (f", {result.unparseable} unparseable" if result.unparseable else ""),
                          result.model or "")
    console.print(table)
    _print_variance(results)
    if reasons:
        from evaluators.availability import metric_availability

        hints = metric_availability(scoring)
        for reason, mark in reasons.items():
            enable = sorted({hints[r.name].enable for r in results if r.not_computed == reason
                             and r.details.get("scorer_missing") and hints[r.name].enable})
            console.print(f"[{mark}] not computed: {reason}" + "".join(f"\n    to enable: {e}" for e in enable),
                          markup=False, highlight=False)
    if judge_usage:
        cost = "unknown price" if judge_usage["cost_usd"] is None else f"${judge_usage['cost_usd']:.4f}"
        console.print(f"judge {scoring.judge_model}: {judge_usage['requests']} requests "
                      f"({judge_usage['retries']} retries, "
                      f"{judge_usage['failed']} failed), {judge_usage['cached']} from cache, "
                      f"{judge_usage['prompt_tokens']}+{judge_usage['completion_tokens']} tokens, {cost}")


def _require_complete(results: list) -> None:
    """`--require-complete`: a column with items left unscored is a failure (exit 1), named with its coverage."""
    from evaluators.metrics import incomplete

    partial = incomplete(results)
    if partial:
        errors.print("error: incomplete columns (items left unscored or not predicted): "
                     + ", ".join(f"{r.name} {r.coverage}" for r in partial),
                     markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def _print_variance(results: list) -> None:
    """Where each column's variance comes from, once samples or judge repeats make it separable."""
    from evaluators.variance import DETECT

    shown = [r for r in results
             if r.variance and (r.variance["sampling"] is not None or r.variance["judge"] is not None)]
    if not shown:
        return
    table = Table(title="variance shares (method of moments over the nested design)")
    for column in ("metric", "concept", "item", "sampling", "judge", f"concepts to detect {DETECT}"):
        table.add_column(column)
    for r in shown:
        shares = r.variance["shares"]
        table.add_row(r.name, *(f"{shares[k]:.0%}" if k in shares else "-" for k in ("concept", "item", "sampling",
                                                                                   "judge")),
                      str(r.variance["concepts_needed"] or "-"))
    console.print(table)


@app.command("score")
@keeps("every file written before is whole; re-run to write the rest")
@scoring_options(*ALL_SCORING)
def score_predictions(
    benchmark: Annotated[Path, typer.Argument(help="A folder written by `ubpp build-dataset`.")],
    predictions: Annotated[Path, typer.Argument(
        help='JSONL, one {"task", "id", "output"} per line; output is text or an image path '
             "(relative paths are read relative to this file).")],
    out: Annotated[Optional[Path], typer.Option(help="Write every metric, per-item scores included, as JSON.")] = None,
    run_dir: Annotated[Optional[Path], typer.Option(
        help="Also write a run directory (run.json, predictions, scores, summary) for `ubpp leaderboard`.")] = None,
    model: Annotated[str, typer.Option(help="Model name for the run directory's leaderboard row.",
                                       callback=_named)] = "my-model",
    model_type: Annotated[str, typer.Option(
        help="Leaderboard group: 'Upper Bound', 'Und. Only', 'Gen. Only' or 'Unified Model'.")] = "Unified Model",
    model_size: Annotated[str, typer.Option(help="Model size shown in the table: a parameter count such as 1.3B, "
                                                 "350M or 7B, or - when unknown.", callback=_model_size)] = "-",
    device: Annotated[Optional[str], typer.Option(help=f"torch device for the scorer models ({DEVICE_DEFAULT}).")]
        = None,
    wait: WaitOpt = False,
    require_complete: RequireCompleteOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display (the results are still printed).")]
        = False,
    scoring=None,
) -> None:
    """Score a predictions file on a built benchmark: every Table 1 column, or why it was not computed.

    Image outputs must be files inside the predictions file's folder; an unusable one stops with exit code 2.
    """
    from baselines.base import checked_device
    from evaluators.evaluator import score_file

    if device is not None:
        checked_device(device)
    bench = load(benchmark)
    with nullcontext() if quiet else console.status("scoring..."):
        scored = score_file(bench, predictions, scoring=scoring, out=out, run_dir=run_dir, model=model,
                            model_type=model_type, model_size=model_size, wait=wait, say=_say)
    _print_results(f"{bench.version} ({scoring.protocol})", scored.results,
                   scored.judge_usage, scoring)
    if out:
        console.print(f"scores written to {out}")
    if run_dir:
        console.print(f"run directory written to {run_dir}")
    if require_complete:
        _require_complete(scored.results)


def _adapter_options(config_file: Optional[Path], pairs: list[str]) -> dict:
    """Options from a YAML/TOML file, then `--option key=value`: read as the trainer reads --config and --set."""
    from unifybench_pp.settings import layered

    try:
        return layered({}, config_file, pairs)
    except ValueError as error:
        raise typer.BadParameter(f"--option / --config: {error}") from None


def _shard(value: Optional[str]) -> tuple[int, int]:
    import os

    if value is None:  # under `accelerate launch`, one shard per process
        rank, world = os.environ.get("RANK", "0"), os.environ.get("WORLD_SIZE", "1")
        if not rank.isdigit() or not world.isdigit() or not 0 <= int(rank) < int(world):
            raise typer.BadParameter(f"the launcher's RANK={rank!r} and WORLD_SIZE={world!r} must be whole numbers "
                                     f"with 0 <= RANK < WORLD_SIZE; unset them, or pass --shard i/n")
        return int(rank), int(world)
    index, sep, count = value.partition("/")
    if not sep or not index.isdigit() or not count.isdigit() or not 0 <= int(index) < int(count):
        raise typer.BadParameter(f"--shard expects i/n with 0 <= i < n, got {value!r}")
    return int(index), int(count)


@app.command("evaluate")
@keeps("any predictions written so far are kept in its run folder; re-run the same command to resume")
@scoring_options(*ALL_SCORING)
def evaluate(
    model: Annotated[str, typer.Option(help="Adapter name (`ubpp models` lists them).")],
    checkpoint: Annotated[Optional[str], typer.Option(help="Weights: local path or hub id.")] = None,
    benchmark: Annotated[Path, typer.Option(help="A folder written by `ubpp build-dataset`.")] = DEFAULT_OUT,
    config: Annotated[Optional[Path], typer.Option(help="Adapter options from a YAML or TOML file.")] = None,
    option: Annotated[list[str], typer.Option(help="Adapter option key=value (repeatable; overrides --config).")]
        = [],  # noqa: B006 (typer needs a literal default)
    tasks: Annotated[Optional[str], typer.Option(help="Comma-separated tasks (default: all the model can do).")]
        = None,
    concepts: Annotated[Optional[str], typer.Option(help="Comma-separated concept ids (default: all).")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="At most this many items per task (the columns are "
                                                      "then incomplete: shown with their coverage, never ranked).")]
        = None,
    seed: Annotated[int, typer.Option(help="Run seed (default: the harness's); each request's seed derives from it "
                                           "and the item (the Show-o family's as the harness derives them), and "
                                           "is recorded with its prediction.")] = 3407,
    batch_size: Annotated[int, typer.Option(min=1, help="Items per model call.")] = 8,
    device: Annotated[Optional[str], typer.Option(help=f"torch device for the model and scorers ({DEVICE_DEFAULT}).")]
        = None,
    runs_dir: Annotated[Path, typer.Option(help="Where run directories go.")] = Path("runs"),
    shard: Annotated[Optional[str], typer.Option(help="i/n: this process's share of the concepts "
                                                  "(default: from accelerate).")] = None,
    compared_with: Annotated[str, typer.Option(
        help="Leaderboard row (model name) to test this model against, e.g. its untrained starting point.")] = "",
    reasoning_input: Annotated[str, typer.Option(
        help="What Rea. Gen. / Dense Rea. Gen. draw from: harness (what the authors' harness gives this model: "
             "its own Rea. / Dense Rea. output; BAGEL: the implicit prompt), own (the model's own output: the "
             "paper's two-stage rule), implicit (the implicit prompt) or explicit (oracle rewriting: isolates "
             "generation quality). Recorded in the run; runs with different inputs never share a table.")] = "harness",
    samples: Annotated[int, typer.Option(
        min=1, help="Outputs per prompt, each with its own seed (the paper uses 1): the summary then separates the "
             "sampling's variance from the concepts' and the judge's.")] = 1,
    name: Annotated[Optional[str], typer.Option(
        help="The row's name on the leaderboard (default: what the run recorded, so a resume keeps it, else the "
             "adapter's, e.g. Sync-R1); the run folder keeps the adapter's name.", callback=_named)] = None,
    model_size: Annotated[Optional[str], typer.Option(
        help="The size the row shows, a parameter count such as 1.3B or 350M (default: what the run recorded, else "
             "the adapter's: the released model's, or what it counts in the checkpoint). Set it for a checkpoint of "
             "another size, such as the tiny demo models.", callback=_model_size)] = None,
    wait: WaitOpt = False,
    require_complete: RequireCompleteOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars (the results are still printed).")]
        = False,
    scoring=None,
) -> None:
    """Run a model on a built benchmark and score it; re-running resumes, a changed config starts a new run.

    One process writes a run at a time: a second one on the same run exits with code 2 naming the first
    (or, with --wait, waits and then resumes).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from baselines.base import checked_device, default_device
    from evaluators.evaluator import evaluate_model

    device = checked_device(device or default_device())
    if quiet:  # hub downloads' bars too (transformers' own are off for every scoring command)
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    bench = load(benchmark)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=console, disable=quiet)

    def on_task(task: str, total: int):
        handle = progress.add_task(TASK_TITLES[task], total=total)
        return lambda n: progress.advance(handle, n)

    shard_of = _shard(shard)
    with progress:
        result = evaluate_model(
            bench, model, checkpoint=checkpoint, options=_adapter_options(config, option), scoring=scoring,
            device=device, on_task=on_task, say=_say, tasks=_comma_separated(tasks),
            concepts=_comma_separated(concepts), limit=limit, seed=seed, batch_size=batch_size,
            runs_dir=runs_dir, shard=shard_of, reasoning_input=reasoning_input, compared_with=compared_with,
            samples=samples, wait=wait, **({"display_name": name} if name else {}),
            **({"model_size": model_size} if model_size else {}))
    console.print(f"{result.predicted} items predicted, {result.skipped} already done; run: {result.run_dir}",
                  soft_wrap=True, highlight=False)
    if result.predicted == result.skipped == 0:
        _say(f"no item to predict: the tasks and concepts asked for hold none in {bench.version}"
             + (" for this shard (more shards than concepts?)" if shard_of[1] > 1 else ""))
    if result.results is None:
        console.print(f"this shard is done; waiting for shard{'s' * (len(result.waiting) > 1)} "
                      f"{', '.join(result.waiting)}: the last shard to finish scores the merged predictions",
                      soft_wrap=True)
        return
    _print_results(f"{result.info.model} on {bench.version} ({scoring.protocol})", result.results,
                   result.info.judge.get("usage"), scoring)
    if result.info.recipe:
        console.print(f"sampling: {result.info.recipe_text()}", soft_wrap=True, markup=False, highlight=False)
    if require_complete:
        _require_complete(result.results)


def _comma_separated(value: Optional[str]) -> Optional[list[str]]:
    """`rec, qa` as `rec,qa`: the names of a comma-separated option, spaces around them dropped."""
    return None if value is None else [part.strip() for part in value.split(",")]


def _significance_level(value: float) -> float:
    if not 0 < value < 1:  # also refuses nan
        raise typer.BadParameter(f"a significance level is between 0 and 1 (e.g. 0.05), not {value}")
    return value


@app.command("compare")
@keeps("--out is written only at the end")
def compare(
    run_a: Annotated[Path, typer.Argument(help="A run directory (holds run.json, scores.jsonl, summary.json), or a "
                                               "folder above exactly one, such as runs/MODEL.")],
    run_b: Annotated[Path, typer.Argument(help="The run to compare with (same benchmark build and protocol).")],
    out: Annotated[Optional[Path], typer.Option(
        help="Also write the table, in the format its extension names: .md (Markdown), .csv or .tex (LaTeX); "
             "any other extension, an existing file other than an earlier table of this command, or a path inside a "
             "benchmark build is refused.")] = None,
    alpha: Annotated[float, typer.Option(help="Significance level for the 'significant' column, between 0 and 1.",
                                         callback=_significance_level)] = 0.05,
) -> None:
    """Paired comparison of two runs per column: A - B over shared concepts, concept-bootstrap CI, p-value."""
    from evaluators.compare import FRAME_KEYS, chance_note, compare_runs, p_text, to_frame, value_text
    from evaluators.rundir import check_scored, locate_run, read_run
    from leaderboard.exports import check_frame_out, for_people, write_frame

    if out:
        check_frame_out(out, FRAME_KEYS)  # before any work: a user's file, a build, an unknown extension refused
    a, b = read_run(locate_run(run_a)), read_run(locate_run(run_b))
    for run in (a, b):
        check_scored(run)
    differences = compare_runs(a, b)
    table = Table(title=f"{a.info.model} (A) vs {b.info.model} (B) on {a.info.benchmark_version} ({a.info.protocol})")
    for column in ("metric", "A", "B", "A - B", "95% CI", "p", "q", "concepts (items)"):
        table.add_column(column)
    for d in differences:
        if d.difference is None:
            table.add_row(d.metric, "", "", "", "", "", "", d.reason)
            continue
        ci = f"[{value_text(d.ci95[0], True)}, {value_text(d.ci95[1], True)}]" if d.ci95 else d.reason
        p = p_text(d.p_value) + (" *" if d.significant(alpha) else "")
        table.add_row(d.metric, d.shown("a"), d.shown("b"), value_text(d.difference, True), ci, p,
                      p_text(d.q_value), f"{d.concepts} ({d.items})")
    console.print(table)
    console.print(f"* p < {alpha} (sign-flip permutation test over concepts; intervals resample concepts)")
    console.print(chance_note(differences, alpha), soft_wrap=True)
    if out:
        names = ((a.info.model, b.info.model) if a.info.model != b.info.model
                 else (f"{a.info.model} (A)", f"{b.info.model} (B)"))  # one model's two runs: two columns
        write_frame(to_frame(differences, *names, alpha, shown=for_people(out)), out, FRAME_KEYS, table.title)
        console.print(f"written to {out}")


@app.command("judge-agreement")
@keeps("the run folder holds what it held before")
@scoring_options("judge_model", "judge_base_url", "judge_concurrency", "judge_cache", "judge_timeout", "judge_retries",
                 judge_model="gpt-4o-mini")
def judge_agreement(
    run: Annotated[Path, typer.Argument(help="A run directory whose judged columns were scored (or a folder above "
                                             "exactly one, such as runs/MODEL).")],
    benchmark: Annotated[Path, typer.Option(help="The benchmark build the run used.")] = DEFAULT_OUT,
    human: Annotated[Optional[Path], typer.Option(
        help="Compare with people instead: a CSV with columns metric,id,score[,clause].")] = None,
    name: Annotated[str, typer.Option(help="Label of the people's ratings in the report.")] = "human",
    scoring=None,
) -> None:
    """How far the run's judge agrees with a second judge (or with people) on the same outputs.

    Per judged column: Cohen's kappa, Krippendorff's alpha, exact agreement and the score shift, over
    single judgements (item scores; clause verdicts for the image columns). The result is stored in the
    run directory, and the leaderboard shows it beside the judged columns.
    """
    from evaluators.agreement import read_human_ratings, record_agreement, run_agreement, second_judge_judgements
    from evaluators.rundir import RunError, locate_run, read_run

    run = locate_run(run)
    loaded = read_run(run)
    if human is not None:
        other, other_name = read_human_ratings(human), name
    else:
        other, other_name = second_judge_judgements(loaded, load(benchmark), scoring), scoring.judge_model
    found = run_agreement(loaded, other, other_name)
    table = Table(title=f"{loaded.info.model}: judge agreement with {other_name}")
    for column in ("metric", "judgements", "Cohen's kappa", "Krippendorff's alpha", "exact", "shift (B - A)"):
        table.add_column(column)

    def show(value: Optional[float], signed: bool = False) -> str:
        return "-" if value is None else (f"{value:+.3f}" if signed else f"{value:.3f}")

    for a in found:
        table.add_row(a.metric, str(a.units), show(a.kappa), show(a.alpha), show(a.exact), show(a.shift, True))
    if not found and human is not None:
        raise RunError(f"{human}: no rating matches a judgement in {run} (fix: rate the items of its scores.jsonl by "
                       f"their id, and an image column's clauses by their number from 0)")
    console.print(table)
    if not found:
        errors.print("warning: no judged column shares judgements with the other rater", markup=False)
        return
    console.print(f"written to {record_agreement(loaded, found)}")


@app.command("models")
@keeps("nothing is written")
def models() -> None:
    """List the model adapters (built-in and from installed packages) with their capabilities and needs."""
    from rich.markup import escape

    from baselines.registry import adapters

    table = Table(title="model adapters")
    for column in ("name", "understand", "generate", "group", "source", "description", "needs"):
        table.add_column(column)
    for spec in adapters().values():
        needs = "; ".join(filter(None, (spec.needs, spec.install)))
        table.add_row(*map(escape, (spec.name, "yes" if "understand" in spec.capabilities else "-",
                                    "yes" if "generate" in spec.capabilities else "-", spec.model_type, spec.source,
                                    spec.description, needs)))
    console.print(table)
    console.print("`ubpp doctor` says which of their libraries are installed here.")


def _existing_paths(paths: list[Path]) -> list[Path]:
    """Refuse a path that is not there at all (a typo); a broken link or a loop is there, and the leaderboard
    skips it with a warning naming the problem."""
    missing = [str(path) for path in paths if not path.exists() and not path.is_symlink()]
    if missing:
        raise typer.BadParameter(f"no such folder: {', '.join(missing)}")
    return paths


@app.command("leaderboard")
@keeps("--out is unchanged: the site replaces it only once complete")
def leaderboard(
    runs: Annotated[list[Path],
                    typer.Argument(help="Run directories, or folders holding them (searched recursively); each "
                                        "must exist (a mistyped one is refused, not skipped).",
                                   callback=_existing_paths)],
    out: Annotated[Path, typer.Option(
        help="Folder for index.html, per-run pages and the exports; a site ubpp wrote there before is replaced, "
             "any other non-empty folder is refused.")] = Path("site"),
    benchmark: Annotated[Optional[Path], typer.Option(
        help="The benchmark build the runs used: adds prompts and reference images to the per-sample pages. One "
             "that cannot be loaded is refused; runs scored on another build get a warning and pages without them.")
        ] = None,
    reported: Annotated[bool, typer.Option(
        "--reported/--no-reported", help="Include the paper-reported rows (a toggle on the page hides them too).")]
        = True,
    baseline: Annotated[Optional[str], typer.Option(
        help="Model name of the measured row every other measured row is tested against (paired, per column; "
             "significant differences get an arrow); a name no run has is refused. Default: each run's recorded "
             "starting point.")] = None,
) -> None:
    """Build the static leaderboard: one self-contained HTML page, per-run sample browsers, Markdown/CSV/LaTeX."""
    from leaderboard.page import build_site

    site = build_site(runs, out, benchmark, include_reported=reported, baseline=baseline)
    for path, reason in site.skipped:
        errors.print(f"warning: skipped {path}: {reason}", markup=False, highlight=False, soft_wrap=True)
    for warning in site.warnings:
        errors.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"{len(site.runs)} runs, {len(site.tables)} tables; open {(out / 'index.html').resolve().as_uri()}")


@app.command("demo")
@keeps("finished stages are kept; re-run `ubpp demo` to resume")
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the benchmark, the training run, the runs and the site.")]
        = Path("ubpp_demo"),
    device: Annotated[str, typer.Option(help="torch device.")] = "cpu",
    limit: Annotated[int | None, typer.Option(min=1, help="Evaluate only the first N items of each task: a quick "
                                              "check that every stage runs, not a measurement.")] = None,
) -> None:
    """The whole product on the embedded default, offline: build, concept tokens, Sync-R1, evaluate five models,
    leaderboard.

    Minutes on a laptop CPU; re-running reuses what is finished and resumes what is not.
    """
    from baselines.base import checked_device
    from embedded_demo import run_demo
    from evaluators.scoring_config import ScoringConfig

    result = run_demo(out, console, checked_device(device), ScoringConfig(device=device), limit=limit)
    table = Table(title="demo stages")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for stage, seconds in result.seconds.items():
        table.add_row(stage, f"{seconds:.0f}")
    console.print(table)
    for name, run in result.runs.items():
        computed = [r for r in run.results or [] if r.value is not None]
        console.print(f"{name}: {len(computed)} metrics computed, run {run.run_dir}", soft_wrap=True, markup=False)
    console.print("metrics reported n/c need models or a judge that are not here: `ubpp doctor` says what to add.")
    console.print(f"leaderboard: open {result.site.resolve().as_uri()}", soft_wrap=True, markup=False)


@app.command("doctor")
@keeps("nothing is written")
@scoring_options("clip", "clip_trusted_file", "judge_model", "judge_base_url", "text_embedder", "dinov2", "blip2",
                 "facenet")
def doctor(scoring=None) -> None:
    """Which metrics and training rewards can run here, what each needs, and how to enable the rest.

    Nothing is loaded: folders, the local Hugging Face / torch caches, the Hub and the judge endpoint are checked.
    """
    from evaluators.metrics import METRICS
    from training.requirements import requirements

    report = requirements(scoring)
    table = Table(title="what the metrics and training rewards need, and whether it is here")
    for column in ("needs", "here", "metrics", "rewards (preset)", "detail / to enable"):
        table.add_column(column, overflow="fold")
    for row in report.requirements:
        status = row.status
        table.add_row(status.model, "yes" if status.available else "[red]no[/red]", ", ".join(row.metrics),
                      ", ".join(row.rewards),
                      status.detail if status.available else f"{status.detail}. To enable: {status.enable}")
    console.print(table)
    missing = report.missing_metrics
    console.print(f"metrics computable here: {len(METRICS) - len(missing)} of {len(METRICS)}"
                  + (f"; not computed: {', '.join(missing)}" if missing else ""), soft_wrap=True)
    for preset, lacking in report.missing_rewards.items():
        state = f"missing {', '.join(lacking)}" if lacking else "ready"
        console.print(f"`ubpp train syncr1 --preset {preset}` rewards: {state}", soft_wrap=True, markup=False)
        for name, enable in lacking.items():
            console.print(f"  {name}: {enable}", soft_wrap=True, markup=False)
    _adapter_libraries()


def _adapter_libraries() -> None:
    """The model adapters whose libraries go beyond the core: installed or what to install (weights are theirs
    to bring, as `ubpp models` says)."""
    from rich.markup import escape

    from baselines.registry import adapters

    table = Table(title="model adapters with libraries beyond the core")
    for column in ("adapter", "libraries here", "to enable", "also needs"):
        table.add_column(column, overflow="fold")
    for spec in adapters().values():
        if spec.extra:
            lacking = spec.missing()
            table.add_row(spec.name, "yes" if not lacking else f"[red]no[/red]: {escape(', '.join(lacking))}",
                          "-" if not lacking else escape(spec.install),
                          escape(spec.needs))
    console.print(table)


train_app = typer.Typer(help="Train a model on a built benchmark's train split.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("syncr1")
@keeps("any checkpoints saved so far are kept; re-run with --resume to continue")
def train_syncr1(
    config: Annotated[Optional[Path], typer.Option(help="YAML settings, every one optional (--settings lists them).")]
        = None,
    preset: Annotated[Optional[str], typer.Option(
        help="Start from a preset: `tiny` (offline, CPU, minutes, on the bundled mini benchmark), `paper` "
             "(Table 4; needs Show-o, BLIP-2, DINOv2, FaceNet weights) or `authors` (the paper's settings with the "
             "authors' released rewards: BLEU text, FaceNet / CLIP-I identity, a VLM judge).")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="Override a setting, KEY=VALUE (dotted for nested: "
                                                        "dgs.enabled=false, rewards.weights={tier: 1}); repeatable; "
                                                        "--settings lists them.")]
        = [],  # noqa: B006 (typer needs a literal default)
    concept: Annotated[list[str], typer.Option("--concept", help="Concept to train (the authors train one per "
                                                                 "run); repeatable: one model with a DGS threshold "
                                                                 "per concept, or with --set run_per_concept=true a "
                                                                 "run and a model per concept in OUT/<concept>/.")]
        = [],  # noqa: B006 (typer needs a literal default)
    out: Annotated[Path, typer.Option(help="Run folder: config, metrics.jsonl, samples.jsonl, checkpoints/, model/ "
                                           "(with run_per_concept, one such folder per concept inside).")]
        = Path("runs/train/syncr1"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")] = False,
    stop_after: Annotated[Optional[int], typer.Option(min=1,
        help="Stop after this many steps in this invocation (checkpointed; --resume goes on).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    wait: WaitOpt = False,
    plan: Annotated[bool, typer.Option("--plan", help="Do not train: print the effective batch, the predicted peak "
                                                      "memory per GPU, disk per checkpoint and run, the GPUs seen, "
                                                      "and every missing input with its fix (exit 2 if any).")]
        = False,
    processes: Annotated[Optional[int], typer.Option(min=1, help="With --plan: the processes the run will launch "
                                                                 "with (default: WORLD_SIZE, else 1).")] = None,
    list_settings: Annotated[bool, typer.Option("--settings", help="Print every setting --set and --config take, "
                                                                   "with its default and what it does, and exit "
                                                                   "(also docs/config.md).")] = False,
) -> None:
    """Sync-GRPO + Dynamic Group Scaling: two-phase rollouts, reward ensemble, Dr.GRPO, adaptive screening.

    The result, OUT/model, is what `ubpp evaluate --model syncr1 --checkpoint OUT/model` loads; with
    run_per_concept (the tiny preset), `--checkpoint OUT` evaluates each concept with its own OUT/<concept>/model.
    Several GPUs: `accelerate launch --multi_gpu --num_processes N -m cli train syncr1 --config FILE`; the
    `distribute` setting says whether N processes split each group (same step as one GPU, faster; default) or
    roll out a group each (N groups per step). Check a setting first with --plan.
    """
    if list_settings:
        _print_settings()
    from training.config import load_config

    # Settings first: a wrong one, and --plan, answer before the trainer's imports (torch, the model: seconds).
    if concept and any(pair.partition("=")[0].strip() == "concepts" for pair in set_):
        raise typer.BadParameter("--concept and --set concepts=... both name the concepts to train: give one")
    settings = load_config(config, preset, [*set_, *([f"concepts={json.dumps(concept)}"] if concept else [])])
    if plan:
        _print_plan(settings, processes, out)
    from training.outdir import METRICS
    from training.trainer import main_process, reward_trend, train

    if quiet:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    result = train(settings, out, resume=resume, stop_after=stop_after, quiet=quiet, console=console, wait=wait,
                   say=_say)
    if not main_process():  # under a launcher, the first process speaks for the run
        return
    if result.metrics:
        first, last = reward_trend(result.metrics)
        one = isinstance(settings.concepts, list) and len(settings.concepts) == 1
        log = (f"{out / settings.concepts[0] / METRICS}" if settings.run_per_concept and one else
               f"{out / '<concept>' / METRICS}, one per concept" if settings.run_per_concept else f"{out / METRICS}")
        console.print(f"mean reward: first third {first:.4f} -> last third {last:.4f} "
                      f"({len(result.metrics)} step{'s' * (len(result.metrics) != 1)} logged in {log})", soft_wrap=True,
                      markup=False, highlight=False)
    if result.bundle is None:
        console.print(f"stopped at {result.stopped_at}; continue with --resume", markup=False, soft_wrap=True)
    else:
        console.print(f"model: {result.bundle}  (evaluate: {_evaluate_command(settings, result.bundle)})",
                      soft_wrap=True, markup=False, highlight=False)


def _evaluate_command(settings: Any, bundle: Path) -> str:
    """The `ubpp evaluate` line for a trained bundle: its benchmark, a tiny model's sampler as it trained and its
    size (the adapter would show the released Show-o's 1.3B), and only its concepts when it has a subset (the others
    have no model in it)."""
    command = f"ubpp evaluate --model syncr1 --checkpoint {shlex.quote(str(bundle))}"
    if settings.tiny_base:  # `tiny` builds its base in the shipped one's shape
        from baselines.base import size_label
        from baselines.showo.checkpoints import parameter_count
        from training.pretrain_tiny import TINY_BASE

        command += f" --model-size {size_label(parameter_count(TINY_BASE.showo))}"
    if settings.benchmark is not None and Path(settings.benchmark) != DEFAULT_OUT:
        command += f" --benchmark {shlex.quote(str(settings.benchmark))}"
    for name, value in settings.evaluate_options.items():  # a tiny model samples as it trained
        command += f" --option {name}={value}"
    if isinstance(settings.concepts, list):
        command += f" --concepts {shlex.quote(','.join(settings.concepts))}"
    return command


def _print_settings() -> None:
    from training.config import setting_docs, type_legend, yaml_value

    table = Table(title="ubpp train syncr1 settings (--set KEY=VALUE, or keys of a --config YAML file)",
                  caption=f"Types: {type_legend()}")
    for column in ("setting", "type", "default", "what it does"):
        table.add_column(column, overflow="fold")
    for doc in setting_docs():
        table.add_row(doc.name, doc.kind, yaml_value(doc.default), doc.help)
    console.print(table, markup=False, highlight=False)
    raise typer.Exit(0)


def _print_plan(settings: Any, processes: int | None, out: Path) -> None:
    from training.plan import make_plan

    found = make_plan(settings, processes, out)
    table = Table(title="ubpp train syncr1 --plan", show_header=False)
    for label, value in found.lines:
        table.add_row(label, value)
    console.print(table, markup=False, highlight=False)  # settings such as [chelsea] are values, not markup
    for problem in found.missing:
        errors.print(f"missing: {problem}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2 if found.missing else 0)


def main() -> None:
    app(prog_name="ubpp")


if __name__ == "__main__":
    sys.exit(main())
