"""The paper's claim for Dynamic Group Scaling, measured on the tiny preset: training with DGS vs without, same
seeds, reward reached against wall time and against denoising steps spent.

Each seed trains the tiny preset (the shipped pretrained tiny Show-o, a run per concept as the preset does, on
the six mini concepts or those named) twice, with `dgs.enabled` true and false, for the same number of optimizer
steps per concept; a seed's figures are summed (time, denoising steps) or averaged (rewards) over its concepts.
The training reward of a DGS run is measured on kept (screened) candidates, which are selected for their early
surrogate, so it is biased upwards; "reward reached" is therefore measured afresh for both runs: the trained
policy's mean reward over plain groups on a fixed set of training prompts and seeds. The spread between seeds
says how much of a difference is noise.

    python -m bench.dgs_training [--seeds 3] [--steps 24] [--concepts rocket,coffee]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from training.config import load_config
from training.data import ensure_mini
from training.trainer import Trainer, reward_trend
from unifybench_pp import load

PROBE_PROMPTS = 12
"""Training prompts (the schedule's first ones) on which each trained policy's reward is measured."""


def reached(trainer: Trainer) -> float:
    """Mean reward of the trained policy over plain groups on the probe prompts (fixed seeds, no screening)."""
    rewards = []
    for k in range(PROBE_PROMPTS):
        rollout = trainer.engine.rollout(trainer.schedule.prompt(k), 1_000_000 + k, None)
        rewards += [r["total"] for r in rollout.rewards]
    return statistics.mean(rewards)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=24, help="optimizer steps per concept")
    parser.add_argument("--concepts", default="all", help="comma-separated mini concepts (default: all six)")
    args = parser.parse_args()
    rows: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bench = load(ensure_mini(root / "bench", quiet=True))
        concepts = sorted(bench.concepts) if args.concepts == "all" else args.concepts.split(",")
        for seed in range(args.seeds):
            starts: dict[str, float] = {}  # both runs of a concept start from the same policy, schedule, probe seeds
            for dgs in (True, False):
                runs = []
                for concept in concepts:
                    config = load_config(None, "tiny", [f"benchmark={root / 'bench'}", f"seed={seed}",
                                                        f"steps={args.steps}", f"dgs.enabled={str(dgs).lower()}",
                                                        f"concepts=[{concept}]"])
                    trainer = Trainer(config, root / f"run-{seed}-{dgs}-{concept}", quiet=True)
                    starts.setdefault(concept, reached(trainer))
                    metrics = trainer.run().metrics
                    runs.append({"seconds": sum(m["seconds"] for m in metrics),
                                 "denoise_steps": sum(m["denoise_steps"] for m in metrics),
                                 "train_reward_last_third": reward_trend(metrics)[1],
                                 "reached": reached(trainer), "start": starts[concept]})
                rows[dgs].append({key: (sum if key in ("seconds", "denoise_steps") else statistics.mean)(
                    [run[key] for run in runs]) for key in runs[0]})
                print(f"seed {seed} dgs={dgs}: {rows[dgs][-1]}", flush=True)
    print(f"\n| tiny preset, {args.steps} steps x {len(concepts)} concept(s), {args.seeds} seeds "
          "| with DGS | without | "
          f"DGS - without, per seed |")
    print("|---|---|---|---|")
    for key, label in (("seconds", "wall time of the training steps (s)"),
                       ("denoise_steps", "denoising steps spent"),
                       ("train_reward_last_third", "training reward, last third (DGS: kept candidates, biased up)"),
                       ("start", "reward of the starting policy (probe prompts, plain groups)"),
                       ("reached", "reward reached (probe prompts, plain groups)")):
        on = [r[key] for r in rows[True]]
        off = [r[key] for r in rows[False]]
        diffs = [a - b for a, b in zip(on, off)]
        spread = f" ± {statistics.stdev(diffs):.4g} (sd over seeds)" if len(diffs) > 1 else ""
        print(f"| {label} | {statistics.mean(on):.4g} | {statistics.mean(off):.4g} | "
              f"{statistics.mean(diffs):+.4g}{spread}: {', '.join(f'{d:+.4g}' for d in diffs)} |")
    gain = {dgs: [r["reached"] - r["start"] for r in rows[dgs]] for dgs in rows}
    for dgs in (True, False):
        per_second = [g / r["seconds"] for g, r in zip(gain[dgs], rows[dgs])]
        per_kstep = [1000 * g / r["denoise_steps"] for g, r in zip(gain[dgs], rows[dgs])]
        print(f"| reward gained {'with' if dgs else 'without'} DGS | {statistics.mean(gain[dgs]):+.4f} | "
              f"per minute {60 * statistics.mean(per_second):+.4f} | per 1000 denoising steps "
              f"{statistics.mean(per_kstep):+.4f} |")


if __name__ == "__main__":
    main()
