"""The `ubpp` command line: parses arguments and calls one library function per command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from unifybench_pp import MINI_ANNOTATIONS, MINI_SOURCE, SourceError, SplitConfig, build, load
from unifybench_pp.schema import TASK_TITLES

app = typer.Typer(
    help="UnifyBench++: benchmark, evaluation harness and leaderboard for personalized unified multimodal models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

DEFAULT_OUT = Path("ubpp_data/unifybench_pp-mini")


def _fail(error: SourceError) -> None:
    errors.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@app.command("build-dataset")
def build_dataset(
    source: Annotated[Optional[Path], typer.Option(
        help="UnifyBench folder as released with UniCTokens (concepts_list.json, concept/, random_images/). "
             "Default: the bundled mini source.")] = None,
    annotations: Annotated[Optional[Path], typer.Option(
        help="UnifyBench++ annotation file (extra_info pairs, dense prompts and questions). "
             "Default: the bundled mini annotations when --source is not given.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder; an earlier build there is replaced.")] = DEFAULT_OUT,
    seed: Annotated[int, typer.Option(help="Split seed: which extra_info pairs are held out, which negatives are drawn.")] = 0,
    heldout_fraction: Annotated[float, typer.Option(help="Share of each concept's extra_info pairs held out.")] = 0.5,
    other_negatives: Annotated[int, typer.Option(help="Rec. negatives per positive from other concepts.")] = 1,
    distractor_negatives: Annotated[int, typer.Option(help="Rec. negatives per positive from random_images/.")] = 1,
    name: Annotated[Optional[str], typer.Option(help="Benchmark name recorded in the manifest and version.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summary.")] = False,
) -> None:
    """Build a versioned, deterministic UnifyBench++ folder (same inputs and seed give the same bytes)."""
    bundled = source is None
    if bundled:
        source, annotations = MINI_SOURCE, annotations or MINI_ANNOTATIONS
    elif annotations is None and not quiet:
        errors.print("warning: no --annotations given: Rea., Dense and Rea. Gen. tasks will be empty.")
    try:
        config = SplitConfig(seed=seed, heldout_fraction=heldout_fraction,
                             other_concept_negatives=other_negatives, distractor_negatives=distractor_negatives)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        result = build(source, annotations, out, config,
                       name=name or ("unifybench_pp-mini" if bundled else "unifybench_pp"),
                       quiet=quiet, console=console)
    except SourceError as error:
        _fail(error)
    if not quiet:
        _print_summary(result.manifest, result.out)


def _print_summary(manifest: dict, out: Path) -> None:
    counts = manifest["counts"]
    categories = sorted(counts["concepts"])
    table = Table(title=f"{manifest['version']} (seed {manifest['seed']})")
    table.add_column("task")
    table.add_column("items", justify="right")
    for category in categories:
        table.add_column(category, justify="right")
    for task, n in counts["tasks"].items():
        per = counts["tasks_by_category"][task]
        table.add_row(TASK_TITLES[task], str(n), *(str(per.get(c, 0)) for c in categories))
    console.print(table)
    per_category = ", ".join(f"{counts['concepts'][c]} {c}" for c in categories)
    console.print(
        f"concepts: {per_category}; "
        f"extra_info train/held-out: {counts['extra_info'].get('train', 0)}/{counts['extra_info'].get('heldout', 0)}; "
        f"images train/test/distractor: {counts['images']['train']}/{counts['images']['test']}/"
        f"{counts['images']['distractor']}"
    )
    console.print(f"written to {out} (card: {out / 'README.md'})")


@app.command("export")
def export(
    benchmark: Annotated[Path, typer.Argument(help="A folder written by `ubpp build-dataset`.")],
    out: Annotated[Path, typer.Option(help="Folder for one Parquet file per task and table.")],
) -> None:
    """Export a built benchmark to Parquet (the same tables as `unifybench_pp.load(path).to_hf()`)."""
    try:
        written = load(benchmark).to_parquet(out)
    except SourceError as error:
        _fail(error)
    console.print(f"wrote {len(written)} Parquet files to {out}")


@app.command("score")
def score_predictions(
    benchmark: Annotated[Path, typer.Argument(help="A folder written by `ubpp build-dataset`.")],
    predictions: Annotated[Path, typer.Argument(
        help='JSONL, one {"task", "id", "output"} per line; output is text or an image path '
             "(relative paths are read relative to this file).")],
    out: Annotated[Optional[Path], typer.Option(help="Write every metric, per-item scores included, as JSON.")] = None,
    run_dir: Annotated[Optional[Path], typer.Option(
        help="Also write a run directory (run.json, predictions, scores, summary) for `ubpp leaderboard`.")] = None,
    model: Annotated[str, typer.Option(help="Model name for the run directory's leaderboard row.")] = "my-model",
    model_type: Annotated[str, typer.Option(
        help="Leaderboard group: 'Upper Bound', 'Und. Only', 'Gen. Only' or 'Unified Model'.")] = "Unified Model",
    model_size: Annotated[str, typer.Option(help="Model size shown in the table, e.g. 1.3B.")] = "-",
    protocol: Annotated[str, typer.Option(
        help="unictokens: the authors' definitions, comparable with the paper; strict: yes/no parser and "
             "sacrebleu BLEU.")] = "unictokens",
    clip_model: Annotated[str, typer.Option(
        help="CLIP for CLIP-T/CLIP-I: open_clip:ARCH/TAG-or-file, or a transformers hub id or folder.")]
        = "open_clip:ViT-B-32/openai",
    judge_model: Annotated[str, typer.Option(help="Judge model for the GPT columns.")] = "gpt-4o-2024-08-06",
    judge_base_url: Annotated[Optional[str], typer.Option(
        help="OpenAI-compatible server for the judge (key from OPENAI_API_KEY).")] = None,
    judge_concurrency: Annotated[int, typer.Option(help="Judge calls in flight at once.")] = 8,
    judge_cache: Annotated[Path, typer.Option(help="SQLite cache of judge answers.")]
        = Path.home() / ".cache" / "ubpp" / "judge.sqlite",
    text_embedder: Annotated[str, typer.Option(
        help="Sentence encoder for text similarity: 'minilm' (bundled, offline) or any sentence-transformers "
             "model.")] = "minilm",
    dinov2: Annotated[str, typer.Option(help="DINOv2 hub id or folder.")] = "facebook/dinov2-base",
    blip2: Annotated[str, typer.Option(help="BLIP-2 retrieval hub id or folder.")] = "Salesforce/blip2-itm-vit-g",
    facenet: Annotated[Optional[str], typer.Option(
        help="FaceNet weights: 'vggface2' (downloaded by facenet-pytorch) or a state-dict file.")] = None,
    device: Annotated[Optional[str], typer.Option(help="torch device for scorer models (default: cuda if any).")] = None,
) -> None:
    """Score a predictions file on a built benchmark: every Table 1 column, or why it was not computed."""
    from transformers.utils import logging as transformers_logging

    from evaluators.scoring import Scorers, ScoringConfig, read_predictions, score
    from evaluators.text_metrics import PROTOCOLS

    transformers_logging.disable_progress_bar()
    if protocol not in PROTOCOLS:
        raise typer.BadParameter(f"protocol must be one of {', '.join(PROTOCOLS)}")
    try:
        bench = load(benchmark)
        preds = read_predictions(predictions, bench)
    except SourceError as error:
        _fail(error)
    config = ScoringConfig(protocol=protocol, clip=clip_model, judge_model=judge_model,
                           judge_base_url=judge_base_url, judge_cache=judge_cache,
                           judge_concurrency=judge_concurrency, text_embedder=text_embedder, dinov2=dinov2,
                           blip2=blip2, facenet=facenet, device=device)
    table = Table(title=f"{bench.version} ({protocol})")
    for column in ("metric", "value", "95% CI", "n", "model"):
        table.add_column(column)
    results, reasons = [], {}
    scorers = Scorers(config)
    with console.status("scoring..."):
        for result in score(bench, preds, scorers, base=predictions.parent.resolve()):
            results.append(result)
            if result.value is None:
                mark = reasons.setdefault(result.not_computed, len(reasons) + 1)
                table.add_row(result.name, f"n/c [{mark}]", "", "", "")
            else:
                low, high = result.ci95
                table.add_row(result.name, f"{result.value:.4f}", f"[{low:.3f}, {high:.3f}]",
                              f"{result.n}" + (f" ({result.failed} failed)" if result.failed else ""),
                              result.model or "")
    console.print(table)
    for reason, mark in reasons.items():
        console.print(f"[{mark}] not computed: {reason}", markup=False, highlight=False)
    usage = scorers.judge_usage()
    if usage:
        cost = "unknown price" if usage["cost_usd"] is None else f"${usage['cost_usd']:.4f}"
        console.print(f"judge {judge_model}: {usage['requests']} requests ({usage['retries']} retries, "
                      f"{usage['failed']} failed), {usage['cached']} from cache, "
                      f"{usage['prompt_tokens']}+{usage['completion_tokens']} tokens, {cost}")
    if out:
        out.write_text(json.dumps([r.to_dict() for r in results], indent=2) + "\n", encoding="utf-8")
        console.print(f"scores written to {out}")
    if run_dir:
        from evaluators.rundir import RunError, scored_run_info, write_run

        try:
            info = scored_run_info(model, model_type, model_size, bench, preds, results, config,
                                   scorers.judge_usage())
        except RunError as error:
            raise typer.BadParameter(str(error)) from None
        write_run(run_dir, info, preds, results)
        console.print(f"run directory written to {run_dir}")


@app.command("leaderboard")
def leaderboard(
    runs: Annotated[list[Path], typer.Argument(help="Run directories, or folders holding them (searched recursively).")],
    out: Annotated[Path, typer.Option(help="Folder for index.html, per-run pages and the exports.")] = Path("site"),
    benchmark: Annotated[Optional[Path], typer.Option(
        help="The benchmark build the runs used: adds prompts and reference images to the per-sample pages.")] = None,
    reported: Annotated[bool, typer.Option(
        "--reported/--no-reported", help="Include the paper-reported rows (a toggle on the page hides them too).")]
        = True,
) -> None:
    """Build the static leaderboard: one self-contained HTML page, per-run sample browsers, Markdown/CSV/LaTeX."""
    from leaderboard.page import build_site

    site = build_site(runs, out, benchmark, include_reported=reported)
    for path, reason in site.skipped:
        errors.print(f"warning: skipped {path}: {reason}", markup=False, highlight=False)
    console.print(f"{len(site.runs)} runs, {len(site.tables)} tables; open {(out / 'index.html').resolve().as_uri()}")


def main() -> None:
    app(prog_name="ubpp")


if __name__ == "__main__":
    sys.exit(main())
