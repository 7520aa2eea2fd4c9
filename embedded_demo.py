"""`ubpp demo`: the whole product on the embedded default, offline, on a laptop CPU.

It sits beside `cli.py`, above the packages: it only calls their four entry
points (`unifybench_pp` build, `training` train, `evaluators.evaluator`
evaluate, `leaderboard` publish), so none of them imports another's work.

Builds the bundled mini benchmark and runs the three stages the paper compares
on the shipped tiny Show-o pretrained for it (`training.pretrain_tiny.ASSET`):
Show-o+TP (the base, the concept in words), UniCTokens-style concept tokens
learned by supervised fine-tuning on the training views, and Sync-R1
(Sync-GRPO + DGS, the tiny preset: a run and a model per concept, as the
authors train) starting from those tokens. It evaluates
them with `real-images` and `always-yes` on all nine tasks and writes the
leaderboard page with the paper's reported rows, each trained row tested
against its starting point. Every stage resumes: a finished stage is reused,
an interrupted training continues from its last checkpoint, an interrupted
evaluation keeps its finished items.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from baselines.base import size_label
from baselines.showo.bundle import ShowoBundle
from baselines.showo.checkpoints import parameter_count
from evaluators.compare import chance_note, compare_runs
from evaluators.evaluator import evaluate_model
from evaluators.rundir import read_run
from evaluators.runner import EvalResult
from evaluators.scoring_config import ScoringConfig
from leaderboard.page import build_site, check_out
from training.config import load_config
from training.data import ensure_mini
from training.pretrain_tiny import ASSET, TINY_BASE
from training.sft import ConceptSFTConfig, finetune_concepts
from training.trainer import reward_trend, train
from unifybench_pp import load

TINY_SAMPLER = load_config(preset="tiny").evaluate_options
"""The tiny Show-o models are evaluated as Sync-R1 trains them (denoising steps, CFG, answer length)."""


@dataclass
class DemoResult:
    site: Path
    runs: dict[str, EvalResult]
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per stage."""


def _stage(seconds: dict[str, float], name: str, console: Console) -> Callable[[], None]:
    console.rule(f"[bold]{name}")
    start = time.perf_counter()

    def done() -> None:
        seconds[name] = time.perf_counter() - start

    return done


def run_demo(out: Path, console: Console, device: str = "cpu", scoring: ScoringConfig | None = None,
             train_overrides: list[str] = (), sft: ConceptSFTConfig = ConceptSFTConfig(),
             limit: int | None = None) -> DemoResult:
    """`train_overrides` (KEY=VALUE) adjust the tiny preset and `sft` the concept-token stage, e.g. fewer steps
    for a quick look; `limit` evaluates only the first items of each task (a check that every stage runs, not
    a measurement)."""
    seconds: dict[str, float] = {}
    bench_dir, sft_dir, train_dir, runs_dir = out / "bench", out / "sft", out / "train", out / "runs"
    check_out(out / "site")  # a site the last stage may not replace is said now, not after minutes of training

    done = _stage(seconds, "1/5 build the mini benchmark", console)
    if (bench_dir / "manifest.json").is_file():
        console.print(f"reusing {bench_dir}")
    bench = load(ensure_mini(bench_dir, console))
    done()

    done = _stage(seconds, "2/5 learn concept tokens (UniCTokens-style supervised fine-tuning)", console)
    tokens = ShowoBundle.of_run(sft_dir)
    if tokens.exists():
        console.print(f"reusing {tokens.root}")
    else:
        with Progress(TextColumn("concept tokens"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console) as progress:
            handle = progress.add_task("sft", total=sft.steps)
            _, curve = finetune_concepts(str(TINY_BASE.showo), str(TINY_BASE.magvit), bench, tokens.root,
                                         sft, on_step=lambda k: progress.update(handle, completed=k + 1))
        console.print(f"concept-token loss (image, text): first {curve[0]} -> last {curve[-1]}")
    done()

    done = _stage(seconds, "3/5 train Sync-R1 from those tokens (tiny preset: Sync-GRPO + DGS, a run per concept)",
                  console)
    config = load_config(None, "tiny", [f"benchmark={bench_dir}", f"device={device}",
                                        f"concept_init={tokens.concepts}", *train_overrides])
    result = train(config, train_dir, resume=train_dir.is_dir(), console=console)
    if not result.ran:
        console.print(f"reusing {result.bundle}")
    first, last = reward_trend(result.metrics)
    console.print(f"mean reward (per concept): first third of the steps {first:.4f} -> last third {last:.4f}")
    done()

    done = _stage(seconds, "4/5 evaluate five models on all nine tasks", console)
    base, start = "Show-o+TP (tiny, demo)", "UniCTokens (tiny, demo)"
    tiny = size_label(parameter_count(ShowoBundle(ASSET).showo))  # the three rows share the tiny Show-o's shape
    models = [("syncr1", str(result.bundle), TINY_SAMPLER, "Sync-R1 (tiny, demo)", tiny, start),
              ("unictokens", str(tokens.root), TINY_SAMPLER, start, tiny, base),
              ("showo-tp", str(ASSET), TINY_SAMPLER, base, tiny, ""),
              ("real-images", None, {}, "Real Images (mini)", None, ""),
              ("always-yes", None, {}, "always-yes", None, "")]
    runs = {}
    for name, checkpoint, options, display, size, compared_with in models:
        progress = Progress(TextColumn(f"{display}: " + "{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=console)

        def on_task(task: str, total: int, progress: Progress = progress) -> Callable[[int], None]:
            handle = progress.add_task(task, total=total)
            return lambda n: progress.advance(handle, n)

        with progress:
            runs[name] = evaluate_model(bench, name, checkpoint=checkpoint, options=dict(options), scoring=scoring,
                                        device=device, on_task=on_task, runs_dir=runs_dir, display_name=display,
                                        compared_with=compared_with, limit=limit,
                                        **({} if size is None else {"model_size": size}))
    for trained, origin in (("syncr1", "unictokens"), ("unictokens", "showo-tp")):
        # what the page's arrows mean beside what chance gives, and the command that prints the whole table
        a, b = runs[trained].run_dir, runs[origin].run_dir
        differences = compare_runs(read_run(a), read_run(b))
        console.print(f"{runs[trained].info.model} vs {runs[origin].info.model}: {chance_note(differences, 0.05)} "
                      f"(per column: ubpp compare {shlex.quote(str(a))} {shlex.quote(str(b))})", soft_wrap=True,
                      markup=False, highlight=False)
    done()

    done = _stage(seconds, "5/5 leaderboard", console)
    site = build_site([runs_dir], out / "site", bench_dir, include_reported=True)
    for path, reason in site.skipped:
        console.print(f"warning: skipped {path}: {reason}", markup=False, highlight=False)
    done()
    return DemoResult(out / "site" / "index.html", runs, seconds)
