"""What each part of the Sync-GRPO loss does to the gradient, measured on the tiny preset (two side-by-side studies).

1. Text share: the reasoning tokens' share of the squared gradient norm, ||g_text||² / (||g_text||² + ||g_image||²),
   on fresh groups of the starting policy, under the shared constant the trainer used to divide both terms by
   (C = L + S·N) and under a constant per term (C_und = L, C_gen = S·N; `training.loss`). The gradients are
   taken once per term; the shared-constant ones are the same vectors rescaled by C_und/C and C_gen/C.
2. Committed image positions: the same start trained with `image_positions: all` (the paper: every position
   of every denoising step) and `masked` (only positions still masked at that step), at the paper's lr and at
   the tiny preset's, reporting per run the image KL per token and the grad norm over its steps, the drift of
   the committed positions' log-prob on a fixed group (rolled out by the starting policy), and the reward
   reached on plain groups of fixed training prompts (`bench.dgs_training.reached`).

    python -m bench.loss_terms [--steps 12] [--concepts rocket,chelsea] [--groups 6]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from bench.dgs_training import reached
from training.config import load_config
from training.data import ensure_mini
from training.trainer import Trainer


def _grad_sq(trainer: Trainer, rollout, kind: str) -> float:
    """||∇L_kind||² over the trainable weights, with the other term switched off."""
    trainer.optimizer.zero_grad(set_to_none=True)
    saved = trainer.config.lambda_und, trainer.config.lambda_gen
    trainer.config.lambda_und, trainer.config.lambda_gen = (saved[0], 0.0) if kind == "text" else (0.0, saved[1])
    try:
        trainer._backward(rollout, 1.0, None, trainer._reference_logprobs(rollout))
    finally:
        trainer.config.lambda_und, trainer.config.lambda_gen = saved
    total = sum(float(p.grad.float().pow(2).sum()) for p in trainer.params if p.grad is not None)
    trainer.optimizer.zero_grad(set_to_none=True)
    return total


def text_share(root: Path, groups: int) -> None:
    trainer = Trainer(load_config(None, "tiny", [f"benchmark={root / 'bench'}", "steps=1", "dgs.enabled=false",
                                                 "concepts=all", "run_per_concept=false"]), root / "share", quiet=True)
    c_und, c_gen = trainer.und_constant, trainer.gen_constant
    shared = c_und + c_gen
    own, old = [], []
    for k in range(groups):
        rollout = trainer.engine.rollout(trainer.schedule.prompt(k), 2_000_000 + k, None)
        text, image = _grad_sq(trainer, rollout, "text"), _grad_sq(trainer, rollout, "image")
        own.append(text / (text + image))
        text_old, image_old = text * (c_und / shared) ** 2, image * (c_gen / shared) ** 2
        old.append(text_old / (text_old + image_old))
        print(f"group {k} ({rollout.prompt.concept.id}, {rollout.prompt.pathway}): text share {old[-1]:.3g} with the "
              f"shared constant, {own[-1]:.3g} with a constant per term", flush=True)
    print(f"\n| tiny preset, {groups} groups, C_und = {c_und:g}, C_gen = {c_gen:g} | text share of ||g||² |")
    print("|---|---|")
    print(f"| one shared constant C = {shared:g} | median {statistics.median(old):.3g} "
          f"(min {min(old):.3g}, max {max(old):.3g}) |")
    print(f"| a constant per term | median {statistics.median(own):.3g} (min {min(own):.3g}, max {max(own):.3g}) |\n")


def _committed_logprob(trainer: Trainer, rollout) -> float:
    """Mean log-prob of the image positions already committed at their step, under the current weights."""
    codebook, total, count = trainer.pipe.vocab.codebook_size, 0.0, 0
    policy = trainer.accelerator.unwrap_model(trainer.policy)
    for piece in trainer._pieces(rollout):
        if piece[0] != "image":
            continue
        _, rows, step = piece
        with torch.no_grad():
            logp = trainer._logprobs(policy, piece, rollout)
        committed = rollout.run.trajectory.states[step][rows] != codebook
        total += float(logp[committed].sum())
        count += int(committed.sum())
    return total / max(1, count)


def committed_positions(root: Path, steps: int, concepts: list[str]) -> None:
    rows = []
    for lr in (1e-6, 1e-4):
        for positions in ("all", "masked"):
            runs = []
            for concept in concepts:
                config = load_config(None, "tiny", [f"benchmark={root / 'bench'}", f"steps={steps}",
                                                    f"learning_rate={lr}", f"image_positions={positions}",
                                                    f"concepts=[{concept}]", "run_per_concept=false"])
                trainer = Trainer(config, root / f"run-{lr}-{positions}-{concept}", quiet=True)
                fixed = trainer.engine.rollout(trainer.schedule.prompt(0), 3_000_000, None)
                start_logp, start = _committed_logprob(trainer, fixed), reached(trainer)
                metrics = trainer.run().metrics
                runs.append({"kl_gen": statistics.mean(m["kl_per_token_gen"] for m in metrics),
                             "kl_gen_max": max(m["kl_per_token_gen"] for m in metrics),
                             "grad_norm": statistics.mean(m["grad_norm"] for m in metrics),
                             "grad_norm_max": max(m["grad_norm"] for m in metrics),
                             "drift": _committed_logprob(trainer, fixed) - start_logp,
                             "gain": reached(trainer) - start})
            row = {key: statistics.mean(r[key] for r in runs) for key in runs[0]}
            row["gains"] = [round(r["gain"], 4) for r in runs]
            rows.append((lr, positions, row))
            print(f"lr {lr:g}, {positions}: {row}", flush=True)
    print(f"\n| tiny preset, {steps} steps, concepts {', '.join(concepts)} | image KL / token (mean, max) | grad norm "
          f"(mean, max) | committed log-prob drift | reward gain on training prompts (per concept) |")
    print("|---|---|---|---|---|")
    for lr, positions, r in rows:
        print(f"| lr {lr:g}, `{positions}` | {r['kl_gen']:.3g}, {r['kl_gen_max']:.3g} | {r['grad_norm']:.3g}, "
              f"{r['grad_norm_max']:.3g} | {r['drift']:+.3g} | {r['gain']:+.4f} "
              f"({', '.join(f'{g:+.4f}' for g in r['gains'])}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--concepts", default="rocket,chelsea")
    parser.add_argument("--groups", type=int, default=6)
    parser.add_argument("--only", choices=("share", "committed"), default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ensure_mini(root / "bench", quiet=True)
        if args.only != "committed":
            text_share(root, args.groups)
        if args.only != "share":
            committed_positions(root, args.steps, args.concepts.split(","))


if __name__ == "__main__":
    main()
