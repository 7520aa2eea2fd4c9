"""Choosing the tiny preset on training prompts only: each variant trains a run per concept from the shipped tiny
Show-o, and the policy's reward is measured on plain groups of fixed training prompts before and after.

No evaluation item is used: the probe prompts are the schedule's first ones (training extra_info entries and
training photos), with fixed seeds, and `reached` is `bench.dgs_training.reached` (mean reward over plain groups).
Each variant is a list of `--set` overrides on top of the tiny preset.

    python -m bench.preset_probe --variant "" --variant "learning_rate=3e-4" [--concepts all] [--probe 48]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import bench.dgs_training as dgs_training
from training.config import load_config
from training.data import ensure_mini
from training.trainer import Trainer
from unifybench_pp import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", default=[],
                        help="space-separated KEY=VALUE overrides (\"\" for the preset itself); repeatable")
    parser.add_argument("--concepts", default="all")
    parser.add_argument("--probe", type=int, default=48, help="training prompts in the probe")
    args = parser.parse_args()
    dgs_training.PROBE_PROMPTS = args.probe
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bench = load(ensure_mini(root / "bench", quiet=True))
        concepts = sorted(bench.concepts) if args.concepts == "all" else args.concepts.split(",")
        starts: dict[str, float] = {}
        table = []
        for number, variant in enumerate(args.variant or [""]):
            gains = {}
            for concept in concepts:
                config = load_config(None, "tiny", [f"benchmark={root / 'bench'}", f"concepts=[{concept}]",
                                                    "run_per_concept=false", *variant.split()])
                trainer = Trainer(config, root / f"run-{number}-{concept}", quiet=True)
                starts.setdefault(concept, dgs_training.reached(trainer))
                trainer.run()
                gains[concept] = dgs_training.reached(trainer) - starts[concept]
                print(f"[{variant or 'preset'}] {concept}: {starts[concept]:.4f} -> "
                      f"{starts[concept] + gains[concept]:.4f} ({gains[concept]:+.4f})", flush=True)
            table.append((variant or "preset", gains))
    print(f"\n| variant | {' | '.join(concepts)} | mean | concepts up |")
    print("|---|" + "---|" * (len(concepts) + 2))
    for variant, gains in table:
        print(f"| {variant} | {' | '.join(f'{gains[c]:+.4f}' for c in concepts)} | "
              f"{statistics.mean(gains.values()):+.4f} | {sum(g > 0 for g in gains.values())}/{len(gains)} |")


if __name__ == "__main__":
    main()
