"""Dynamic Group Scaling on the tiny Show-o and the mini benchmark, side by side in one run.

1. Cost and variance: per prompt, a DGS group (screen up to M candidates at
   the early step, finish the K kept) vs a plain group of K fully sampled
   candidates, and vs finishing all M screened candidates: denoising steps per
   kept trajectory, and the within-group variance of the kept rewards, also
   against a plain group given the same denoising steps as DGS spent (as many
   fully sampled candidates as that budget pays for). The model is the tiny
   preset's: the shipped tiny Show-o pretrained on the mini benchmark.
2. Screening wall time: our batched in-memory screening vs the authors' loop
   (one candidate at a time, the early image saved as PNG and read back to be
   scored), the same M candidates screened and the same K finished.

    python -m bench.dgs_screening [--prompts 12]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from baselines.showo.sampler import MaskGitSampler
from training.config import load_config
from training.data import ensure_mini
from training.dgs import TrendController, make_controller
from training.rollout import RolloutEngine, TrainPrompt
from training.trainer import Trainer


def authors_screening(engine: RolloutEngine, prompt: TrainPrompt, step: int, folder: Path) -> None:
    """Screen every candidate alone (batch 1) with a disk round trip, then finish the best K one by one."""
    config = engine.config
    ids, image_end = engine.encode_question(prompt)
    sampler = engine.sampler_config
    scored = []
    for index in range(config.candidate_budget):
        candidate = engine.draw_candidates(prompt, ids, image_end, step, [index])
        MaskGitSampler(engine.pipe.model, engine.pipe.vocab).advance(candidate.run, sampler,
                                                                     until=config.screening_step)
        path = folder / f"candidate_{index}.png"
        engine.pipe.decode_images(candidate.run.best_guess)[0].save(path)
        with Image.open(path) as image:
            score = engine.rewards.compute(config.dgs.surrogate, engine.samples(prompt, candidate.reasoning,
                                                                               [image.convert("RGB")]))[0]
        scored.append((score, candidate))
    for _, candidate in sorted(scored, key=lambda pair: -pair[0])[: config.group_size]:
        MaskGitSampler(engine.pipe.model, engine.pipe.vocab).advance(candidate.run, sampler)
        engine.pipe.decode_images(candidate.run.sampled)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ensure_mini(root / "bench", quiet=True)
        trainer = Trainer(load_config(None, "tiny", [f"benchmark={root / 'bench'}", "steps=1"]), root / "run",
                          quiet=True)
        engine, config = trainer.engine, trainer.config
        group, steps, budget = config.group_size, config.generation_steps, config.candidate_budget
        controller = make_controller(config.dgs)
        every = RolloutEngine(engine.pipe, dataclasses.replace(config, group_size=budget), engine.rewards,
                              engine.bench_root)
        dgs_steps, plain_var, dgs_var, all_steps, pairs, same_budget_var = [], [], [], [], [], []
        for k in range(args.prompts):
            prompt = trainer.schedule.prompt(k)
            plain = engine.rollout(prompt, k, None)
            screened = engine.rollout(prompt, k, controller)
            controller.update(screened.screening.pass_rate)
            finished = [r["total"] for r in every.rollout(prompt, k, None).rewards]  # the same M candidates, finished
            early = screened.screening.scores
            pairs += [(s - statistics.mean(early), f - statistics.mean(finished[: len(early)]))
                      for s, f in zip(early, finished)]
            plain_var.append(statistics.variance(r["total"] for r in plain.rewards))
            affordable = max(2, min(budget, round(screened.denoise_steps / steps)))
            same_budget_var.append(statistics.variance(finished[:affordable]))
            dgs_var.append(statistics.variance(r["total"] for r in screened.rewards))
            dgs_steps.append(screened.denoise_steps / group)
            all_steps.append(screened.denoise_steps_without_dgs / group)
        per_kept = statistics.mean(dgs_steps)
        print(f"| DGS, tiny Show-o, {args.prompts} prompts, K={group}, M<={budget}, S={steps}, "
              f"t_s={config.screening_step} "
              f"| denoising steps per kept trajectory: DGS vs a plain group of K | x{per_kept / steps:.2f} "
              f"({per_kept:.1f} vs {steps}) | - |")
        print("| same | same: DGS vs finishing every screened candidate | "
              f"x{per_kept / statistics.mean(all_steps):.2f} "
              f"| - |")
        rho = statistics.correlation(*zip(*pairs))
        print(f"| same | within-group variance of kept rewards: DGS vs a plain group of K "
              f"| x{statistics.mean(dgs_var) / statistics.mean(plain_var):.2f} | surrogate `{config.dgs.surrogate}` at "
              f"t_s vs the final reward: within-prompt correlation {rho:.2f} (the reduction scales with rho^2) |")
        print(f"| same | within-group variance of kept rewards: DGS vs a plain group given the same denoising steps "
              f"| x{statistics.mean(dgs_var) / statistics.mean(same_budget_var):.2f} | - |")

        prompt = trainer.schedule.prompt(0)
        never = TrendController(tau=float("inf"), target=0.5)  # screen the whole budget on both sides
        timings = {"ours": [], "authors": []}
        for repeat in range(3):
            start = time.perf_counter()
            engine.rollout(prompt, 100 + repeat, never)
            timings["ours"].append(time.perf_counter() - start)
            start = time.perf_counter()
            authors_screening(engine, prompt, 100 + repeat, root)
            timings["authors"].append(time.perf_counter() - start)
        ours, theirs = statistics.median(timings["ours"]), statistics.median(timings["authors"])
        print(f"| screening {budget} candidates + finishing {group}, tiny Show-o | batched in-memory vs one at a "
              f"time through PNG files (authors' loop) | x{theirs / ours:.2f} faster | median of 3 |")


if __name__ == "__main__":
    main()
