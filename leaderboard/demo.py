"""`ubpp demo`: the whole product on the embedded default, offline, on a laptop CPU.

Builds the bundled mini benchmark, trains the tiny Sync-R1 preset, evaluates
it with the tiny Show-o+TP (the same untrained base), `real-images` and
`always-yes` on all nine tasks, and writes the leaderboard page with the
paper's reported rows. Every stage resumes: a finished stage is reused, an
interrupted training continues from its last checkpoint, an interrupted
evaluation keeps its finished items.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from baselines.registry import adapters, create
from evaluators.runner import EvalConfig, EvalResult, run_evaluation
from evaluators.scoring import ScoringConfig
from training.config import load_config
from training.data import ensure_mini
from training.trainer import reward_trend, train
from unifybench_pp import load

from .page import build_site

TINY_SAMPLER = {"steps": 8, "guidance_scale": 2.0, "max_new_tokens": 24}
"""The tiny Show-o models are evaluated as they were trained (8 denoising steps, CFG 2)."""


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
             train_overrides: list[str] = ()) -> DemoResult:
    """`train_overrides` (KEY=VALUE) adjust the tiny preset, e.g. fewer steps for a quick look."""
    seconds: dict[str, float] = {}
    bench_dir, train_dir, runs_dir = out / "bench", out / "train", out / "runs"

    done = _stage(seconds, "1/4 build the mini benchmark", console)
    if (bench_dir / "manifest.json").is_file():
        console.print(f"reusing {bench_dir}")
    bench = load(ensure_mini(bench_dir, console))
    done()

    done = _stage(seconds, "2/4 train Sync-R1 (tiny preset: Sync-GRPO + DGS)", console)
    bundle = train_dir / "model"
    if bundle.is_dir():
        console.print(f"reusing {bundle}")
    else:
        config = load_config(None, "tiny", [f"benchmark={bench_dir}", f"device={device}", *train_overrides])
        resume = (train_dir / "checkpoints").is_dir()
        result = train(config, train_dir, resume=resume, console=console)
        first, last = reward_trend(result.metrics)
        console.print(f"mean reward: first third of the steps {first:.4f} -> last third {last:.4f}")
    done()

    done = _stage(seconds, "3/4 evaluate four models on all nine tasks", console)
    specs = adapters()
    start = "Show-o+TP (tiny, demo)"  # the same untrained base the Sync-R1 run starts from
    models = [("syncr1", str(bundle), TINY_SAMPLER, "Sync-R1 (tiny, demo)", "tiny", start),
              ("showo-tp", str(train_dir / "base"), TINY_SAMPLER, start, "tiny", ""),
              ("real-images", None, {}, "Real Images (mini)", specs["real-images"].model_size, ""),
              ("always-yes", None, {}, "always-yes", specs["always-yes"].model_size, "")]
    runs = {}
    for name, checkpoint, options, display, size, compared_with in models:
        config = EvalConfig(model=name, checkpoint=checkpoint, options=dict(options), device=device, runs_dir=runs_dir,
                            model_type=specs[name].model_type, model_size=size, display_name=display,
                            compared_with=compared_with, scoring=scoring or ScoringConfig(device=device))
        progress = Progress(TextColumn(f"{display}: " + "{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=console)

        def on_task(task: str, total: int, progress: Progress = progress) -> Callable[[int], None]:
            handle = progress.add_task(task, total=total)
            return lambda n: progress.advance(handle, n)

        with progress:
            runs[name] = run_evaluation(bench, create(name, checkpoint, device, **options), config, on_task)
    done()

    done = _stage(seconds, "4/4 leaderboard", console)
    site = build_site([runs_dir], out / "site", bench_dir, include_reported=True)
    for path, reason in site.skipped:
        console.print(f"warning: skipped {path}: {reason}", markup=False, highlight=False)
    done()
    return DemoResult(out / "site" / "index.html", runs, seconds)
