"""Peak memory of one Sync-R1 training step at Show-o's real width, measured on the CPU vs `training.memory`.

One trajectory (CFG 5, so two sequences per row) of S denoising steps over
1024 image tokens, Show-o's width (2048 hidden, 8192 MLP, 32 heads, the full
58,498-id vocabulary) on a few layers, `trainable: full` in float32: the
trainer's pieces (one step of one row, back-propagated alone, reference
log-probs from a frozen copy), then the AdamW step. Each S runs in a fresh
process; peak = VmHWM (reset through /proc/self/clear_refs after the imports)
minus the resident size after the imports, with glibc returning large frees
(MALLOC_MMAP_THRESHOLD_) so the peak is the live tensors'.

    python -m bench.training_memory [--layers 1] [--steps 2 8 50]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from baselines.showo.sampler import MAX_TEXT_LEN, MaskGitSampler, SamplerConfig, mask_length
from training.config import load_config
from training.loss import sync_grpo_loss
from training.memory import GB, SHOWO_512, predict, probe


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def worker(layers: int, steps: int) -> dict[str, float]:
    """One training step in this process; bytes at the peak above the post-import baseline."""
    Path("/proc/self/clear_refs").write_text("5")
    baseline = _status("VmRSS")
    arch, config = SHOWO_512, SamplerConfig(steps=steps, guidance_scale=5.0)
    generator = torch.Generator().manual_seed(0)
    model = arch.model(layers).requires_grad_(True)
    reference = copy.deepcopy(model).requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6, weight_decay=1e-3)
    v, n = arch.vocab, arch.image_tokens
    prompt = torch.full((1, MAX_TEXT_LEN + 1), v.pad)
    prompt[0, -20:] = torch.randint(0, 50000, (20,), generator=generator)
    uncond = torch.full((1, MAX_TEXT_LEN + 1), v.pad)
    states, masked = [], n
    for step in range(steps):  # masked share as the MaskGIT schedule leaves it
        state = torch.randint(0, v.codebook_size, (1, n), generator=generator)
        state[0, torch.randperm(n, generator=generator)[:masked]] = v.codebook_size
        states.append(state)
        masked = mask_length(step, steps, n)
    predictions = [torch.randint(0, v.codebook_size, (1, n), generator=generator) for _ in states]
    advantage = torch.tensor([0.5])
    for state, prediction in zip(states, predictions):
        with torch.no_grad():
            ref = MaskGitSampler(reference, v).step_logprobs(prompt, state, prediction, config, uncond)
        logp = MaskGitSampler(model, v).step_logprobs(prompt, state, prediction, config, uncond)
        part = sync_grpo_loss(advantage, text=None, image=(logp[:, None], logp.detach()[:, None], ref[:, None], None),
                              lambda_und=0.4, lambda_gen=0.6, beta=0.01, epsilon=0.2, und_constant=1.0,
                              gen_constant=1.0, group_size=1)
        part.loss.backward()
    optimizer.step()
    return {"peak": _status("VmHWM") - baseline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[1])
    parser.add_argument("--steps", type=int, nargs="+", default=[2, 8, 50])
    parser.add_argument("--worker", type=int, nargs=2, metavar=("LAYERS", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    settings = load_config(None, "paper", ["trainable=full", "mixed_precision=no", "group_size=2"])
    cost = probe(SHOWO_512, settings.guidance_scale, "no")
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    print("| layers | S | measured peak | predicted | measured / predicted |\n|---|---|---|---|---|")
    for layers in args.layers:
        arch = SHOWO_512.__class__(layers=layers)
        predicted = predict(settings, arch, cost, concept_rows=0, scorers=False, rollout=False).total
        for steps in args.steps:
            run = subprocess.run([sys.executable, "-m", "bench.training_memory", "--worker", str(layers), str(steps)],
                                 capture_output=True, text=True, env=env, check=True)
            measured = json.loads(run.stdout.splitlines()[-1])["peak"]
            print(f"| {layers} | {steps} | {measured / GB:.2f} GB | {predicted / GB:.2f} GB | "
                  f"{measured / predicted:.2f} |", flush=True)


if __name__ == "__main__":
    main()
