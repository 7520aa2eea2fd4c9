"""Issue 29's GPU check, one prepared script: the paper preset at Show-o's real size, and the sampler's ratio.

What a lent GPU is for (a CPU cannot show it): two `ubpp train` steps of the
paper preset on a random Show-o at its real width and depth (24 layers, width
2048, 1,024 image tokens at 512 px, the full 58,498-id vocabulary, a random
MAGVIT-v2 at its real size), bf16 under `mixed_precision: auto`, with the
measured peak GPU memory set against `--plan`'s prediction for the same
settings, and seconds per step; then our Show-o sampler against the official
loop at that size (`bench.showo_sampler`).

No weights or hub are needed: the base is built here with random weights and a
tokenizer padded to Phi-1.5's 50,305 ids; the benchmark is the bundled mini
one. The paper's reward models (BLIP-2, DINOv2, FaceNet, the MiniLM of TIER)
are not on a bare GPU machine, so the reward is the offline `colour` + `ssim`
stand-ins: the plan's prediction leaves the absent models out the same way,
and their weights would add their float32 size (`training.memory.SCORER_PARAMETERS`).

    python -m bench.gpu_check --out DIR                 # on a GPU; DIR/gpu_check.json + a Markdown table
    python -m bench.gpu_check --out DIR --small         # the same path at toy width, on any CPU (the test runs it)
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from baselines.showo.magvit2 import Magvit2Config, Magvit2Tokenizer
from baselines.showo.vocab import build_tiny_tokenizer
from bench.showo_sampler import compare, markdown_row
from training.config import TrainConfig, load_config
from training.data import ensure_mini
from training.memory import GB, SHOWO_512, Arch
from training.plan import make_plan
from training.trainer import train

SMALL = Arch(hidden=64, mlp=256, layers=2, heads=4, image_tokens=64)
"""Toy width and depth with Show-o's vocabulary: the check's whole path in seconds on a CPU."""
SMALL_MAGVIT = Magvit2Config(channels=32, encoder_multipliers=[1, 2, 2], encoder_blocks=[1, 1, 1],
                             decoder_multipliers=[1, 2, 2], decoder_blocks=[1, 1, 1], z_channels=13)
CONCEPT = "coffee"
"""An object: no person-only reward applies."""
OFFLINE_REWARDS = ["rewards.weights={colour: 0.5, ssim: 0.5}", "rewards.person_only=[]", "rewards.fallback=ssim",
                   "dgs.surrogate=colour"]


def random_base(folder: Path, arch: Arch, magvit: Magvit2Config, seed: int = 0) -> tuple[Path, Path]:
    """A Show-o of `arch` with random weights, a tokenizer with its text ids, and a random MAGVIT-v2, in the
    released layouts: what `--set showo=... magvit=...` loads."""
    torch.manual_seed(seed)
    tokenizer = build_tiny_tokenizer()
    filler = arch.vocab.text_size - len(tokenizer)
    tokenizer.add_tokens([f"<|filler_{k}|>" for k in range(filler)])  # Phi-1.5's 50,305 text ids, in number
    showo, tokens = folder / "showo", folder / "magvit"
    arch.model().save_pretrained(showo)
    tokenizer.save_pretrained(showo)
    Magvit2Tokenizer(magvit).save_pretrained(tokens)
    return showo, tokens


def check_config(out: Path, showo: Path, magvit: Path, steps: int, overrides: list[str]) -> TrainConfig:
    """The paper preset on the random base and the mini benchmark, for `steps` steps of one concept; the one
    checkpoint (at the end) without the optimizer state, so the disk holds ~12 GB, not ~30."""
    bench = ensure_mini(out / "bench", quiet=True)
    return load_config(preset="paper", overrides=[
        f"benchmark={bench}", f"showo={showo}", f"magvit={magvit}", f"concepts=[{CONCEPT}]", f"steps={steps}",
        "save_optimizer=false", "keep_checkpoints=1", *OFFLINE_REWARDS, *overrides])


def train_and_measure(config: TrainConfig, out: Path) -> dict[str, Any]:
    """Train, with the GPU's peak memory and each step's seconds; the plan's prediction beside them."""
    plan = make_plan(config, processes=1)
    gpu = torch.cuda.is_available()
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = train(config, out, quiet=True)
    wall = time.perf_counter() - started
    return {
        "steps": result.last_step, "wall_s": wall,
        "seconds_per_step": [row["seconds"] for row in result.metrics],
        "predicted_peak_gb": plan.peak / GB if plan.peak is not None else None,
        "measured_peak_allocated_gb": torch.cuda.max_memory_allocated() / GB if gpu else None,
        "measured_peak_reserved_gb": torch.cuda.max_memory_reserved() / GB if gpu else None,
        "gpu": torch.cuda.get_device_name(0) if gpu else None,
        "plan": dict(plan.lines), "missing": plan.missing,
    }


def training_row(report: dict[str, Any]) -> str:
    t = report["training"]
    measured = ("not measured (no GPU)" if t["measured_peak_allocated_gb"] is None else
                f"{t['measured_peak_allocated_gb']:.1f} GB allocated, {t['measured_peak_reserved_gb']:.1f} GB "
                f"reserved")
    predicted = "not predicted" if t["predicted_peak_gb"] is None else f"{t['predicted_peak_gb']:.1f} GB"
    return (f"| paper preset, {report['arch']['layers']} layers, width {report['arch']['hidden']}, "
            f"{report['arch']['image_tokens']} image tokens, {t['steps']} steps on {t['gpu'] or 'CPU'} | "
            f"peak {measured} vs predicted {predicted} | seconds per step "
            f"{', '.join(f'{s:.1f}' for s in t['seconds_per_step'])} |")


def run_check(out: Path, small: bool = False, steps: int = 2, sampler_steps: int = 2, overrides: list[str] = ()
              ) -> dict[str, Any]:
    """The whole check; the report is also written to out/gpu_check.json."""
    arch, magvit = (SMALL, SMALL_MAGVIT) if small else (SHOWO_512, Magvit2Config())
    device = "cuda" if torch.cuda.is_available() else "cpu"
    showo, tokens = random_base(out / "base", arch, magvit)
    config = check_config(out, showo, tokens, steps, list(overrides))
    report: dict[str, Any] = {"arch": {k: v for k, v in asdict(arch).items() if k != "vocab"}}
    report["training"] = train_and_measure(config, out / "run")
    save_report(out, report)  # a lease that ends in the sampler part still keeps the training numbers
    print(training_row(report), flush=True)
    report["sampler"] = compare(arch, sampler_steps, batch=1, device=device, bf16=device == "cuda")
    save_report(out, report)
    return report


def save_report(out: Path, report: dict[str, Any]) -> None:
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="a new or empty folder for the base, runs and report")
    parser.add_argument("--small", action="store_true", help="toy width and depth: the same path on a CPU")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--sampler-steps", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="further training settings (e.g. generation_steps=4 for a quicker small run)")
    args = parser.parse_args()
    report = run_check(args.out, args.small, args.steps, args.sampler_steps, args.overrides)  # prints its training row
    print("\n".join(markdown_row(row) for row in report["sampler"]))


if __name__ == "__main__":
    main()
