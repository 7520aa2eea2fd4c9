"""Choosing the tiny preset on training data only: each variant trains a run per concept from the shipped tiny
Show-o, and the policy's reward is measured before and after on plain groups of fixed prompts.

No evaluation item is used. Two probes:
- `train` (the default): the schedule's first prompts, which the run itself trains on (how well a variant fits its
  training prompts);
- `validation`: each concept's last training fact and last training photo are held back from the run (a copy of
  the build marks the fact held out and drops the photo), and the reward is measured on prompts made from them,
  the fact listed beside the others as the evaluation lists held-out entries. This asks what the evaluation asks
  (does training carry over to what the run never saw) inside the training data.

Fixed seeds throughout; `reached` is `bench.dgs_training.reached`'s measure (mean reward over plain groups). Each
variant is a list of `--set` overrides on top of the tiny preset.

    python -m bench.preset_probe --variant "" --variant "learning_rate=3e-4" [--probe train|validation]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path

import bench.dgs_training as dgs_training
from training.config import load_config
from training.data import ensure_mini
from training.rollout import PromptSchedule, TrainPrompt
from training.trainer import Trainer
from unifybench_pp import Benchmark, load

VALIDATION_SEED = 2_000_000
"""Rollout seeds of the validation probe start here (the training steps' seeds are their step numbers)."""


def hold_back(build: Path, out: Path) -> dict[str, tuple[str, str]]:
    """Copy `build` to `out` with each concept's last training fact marked held out and its last training photo
    dropped; returns {concept: (fact id, photo)} of what was held back."""
    shutil.copytree(build, out)
    facts = [json.loads(line) for line in (out / "extra_info.jsonl").read_text().splitlines()]
    concepts = [json.loads(line) for line in (out / "concepts.jsonl").read_text().splitlines()]
    held = {}
    for concept in concepts:
        train = [f for f in facts if f["concept"] == concept["id"] and f["split"] == "train"]
        if len(train) < 2 or len(concept["train_images"]) < 2:
            raise SystemExit(f"{concept['id']}: the validation probe needs two training facts and photos")
        train[-1]["split"] = "heldout"
        held[concept["id"]] = (train[-1]["id"], concept["train_images"].pop())
    (out / "extra_info.jsonl").write_text("".join(json.dumps(f) + "\n" for f in facts))
    (out / "concepts.jsonl").write_text("".join(json.dumps(c) + "\n" for c in concepts))
    return held


def validation_prompts(bench: Benchmark, concept: str, fact_id: str, photo: str, count: int) -> list[TrainPrompt]:
    """The first `count` prompts of the full training schedule that ask about the held-back fact or photo."""
    fact = next(x for x in bench.extra_info if x.id == fact_id)
    schedule, prompts, step = PromptSchedule(bench, [concept], 0, 0.5), [], 0
    while len(prompts) < count:
        prompt = schedule.prompt(step)
        step += 1
        if prompt.base_prompt == fact.implicit_prompt or prompt.image == bench.image_path(photo):
            prompts.append(prompt)
        if step > 1000 * count:
            raise SystemExit(f"{concept}: the schedule never asks about {fact_id} or {photo}")
    return prompts


def reward_on(trainer: Trainer, prompts: list[TrainPrompt]) -> float:
    rewards = []
    for k, prompt in enumerate(prompts):
        rewards += [r["total"] for r in trainer.engine.rollout(prompt, VALIDATION_SEED + k, None).rewards]
    return statistics.mean(rewards)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", default=[],
                        help="space-separated KEY=VALUE overrides (\"\" for the preset itself); repeatable")
    parser.add_argument("--concepts", default="all")
    parser.add_argument("--probe", choices=("train", "validation"), default="train",
                        help="the prompts the reward is measured on (see the module's docstring)")
    parser.add_argument("--prompts", type=int, default=48, help="prompts in the probe")
    args = parser.parse_args()
    dgs_training.PROBE_PROMPTS = args.prompts
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        full = load(ensure_mini(root / "bench", quiet=True))
        training_build, held = root / "bench", {}
        if args.probe == "validation":
            held = hold_back(root / "bench", root / "held-back")
            training_build = root / "held-back"
        concepts = sorted(full.concepts) if args.concepts == "all" else args.concepts.split(",")
        asked = {c: validation_prompts(full, c, *held[c], args.prompts) for c in held if c in concepts}

        def measure(trainer: Trainer, concept: str) -> float:
            return dgs_training.reached(trainer) if args.probe == "train" else reward_on(trainer, asked[concept])

        starts: dict[str, float] = {}
        table = []
        for number, variant in enumerate(args.variant or [""]):
            gains = {}
            for concept in concepts:
                config = load_config(None, "tiny", [f"benchmark={training_build}", f"concepts=[{concept}]",
                                                    "run_per_concept=false", *variant.split()])
                trainer = Trainer(config, root / f"run-{number}-{concept}", quiet=True)
                starts.setdefault(concept, measure(trainer, concept))
                trainer.run()
                gains[concept] = measure(trainer, concept) - starts[concept]
                print(f"[{variant or 'preset'}] {concept}: {starts[concept]:.4f} -> "
                      f"{starts[concept] + gains[concept]:.4f} ({gains[concept]:+.4f})", flush=True)
            table.append((variant or "preset", gains))
    print(f"\n{args.probe} probe\n| variant | {' | '.join(concepts)} | mean | concepts up |")
    print("|---|" + "---|" * (len(concepts) + 2))
    for variant, gains in table:
        print(f"| {variant} | {' | '.join(f'{gains[c]:+.4f}' for c in concepts)} | "
              f"{statistics.mean(gains.values()):+.4f} | {sum(g > 0 for g in gains.values())}/{len(gains)} |")


if __name__ == "__main__":
    main()
