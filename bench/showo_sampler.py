"""Show-o MaskGIT sampling: our sampler vs a faithful re-implementation of the official loop.

Same random weights (Show-o's proportions scaled down in width and depth only:
the full 58,498-id vocabulary, a 128-token text prefix, 256 image tokens as at
256 px and 1024 as at 512 px), same seed, CFG on; the report is the ratio of
wall times and whether the sampled tokens are identical.

    python -m bench.showo_sampler [--steps 4] [--hidden 256] [--layers 2] [--device cuda --bf16]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch

from baselines.showo.sampler import MAX_TEXT_LEN, MaskGitSampler, SamplerConfig
from bench.showo_official_loop import official_generate
from training.memory import SHOWO_VOCAB, Arch


def prompts(batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    v = SHOWO_VOCAB
    rows, uncond = [], []
    for k in range(batch):
        text = torch.randint(0, 50000, (20 + 7 * k,), generator=generator).tolist()
        row = [v.t2i, v.bos, *text, v.eos]
        rows.append([v.pad] * (MAX_TEXT_LEN + 1 - len(row)) + row)
        uncond.append([v.pad] * (MAX_TEXT_LEN + 1 - 3) + [v.t2i, v.bos, v.eos])
    return torch.tensor(rows), torch.tensor(uncond)


def _timed(run: Callable[[], torch.Tensor], device: torch.device) -> tuple[torch.Tensor, float]:
    """A run's result and wall time; on a GPU, after its queued kernels finished (they run asynchronously)."""
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    synchronize()
    start = time.perf_counter()
    result = run()
    synchronize()
    return result, time.perf_counter() - start


def compare(arch: Arch, steps: int = 4, batch: int = 2, device: str = "cpu", bf16: bool = False
            ) -> list[dict[str, Any]]:
    """Our sampler against the official loop on the same random weights of `arch` at 256 and 1024 image tokens:
    one row each with both wall times (after an untimed warm-up of both) and whether the sampled tokens are
    identical."""
    torch.manual_seed(0)
    hidden, layers = arch.hidden, arch.layers
    where = torch.device(device)
    model = arch.model().to(where)
    prefix, uncond = (t.to(where) for t in prompts(batch, torch.Generator().manual_seed(1)))
    sampler = MaskGitSampler(model, SHOWO_VOCAB)
    rows = []
    with torch.autocast(where.type, torch.bfloat16, enabled=bf16):
        # Untimed warm-up of both (allocator, kernels, first touch of the weights): whichever ran first paid it.
        sampler.generate(prefix, 256, SamplerConfig(steps=1, guidance_scale=5.0), uncond, _generator(where, 0))
        official_generate(model, SHOWO_VOCAB, prefix, uncond, 256, 1, 5.0, 1.0, _generator(where, 0))
        for n_tokens, label in ((256, "256 px"), (1024, "512 px")):
            ours, our_time = _timed(lambda n=n_tokens: sampler.generate(prefix, n, SamplerConfig(
                steps=steps, guidance_scale=5.0), uncond, _generator(where, 7))[0], where)
            theirs, official_time = _timed(lambda n=n_tokens: official_generate(
                model, SHOWO_VOCAB, prefix, uncond, n, steps, 5.0, 1.0, _generator(where, 7)), where)
            rows.append({"resolution": label, "image_tokens": n_tokens, "width": hidden, "layers": layers,
                         "batch": batch, "steps": steps, "device": str(where), "bf16": bf16,
                         "ours_s": our_time, "official_s": official_time, "speed_up": official_time / our_time,
                         "identical_tokens": bool(torch.equal(ours, theirs))})
    return rows


def _generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device).manual_seed(seed)


def markdown_row(row: dict[str, Any]) -> str:
    precision = "bf16" if row["bf16"] else "float32"
    return (f"| Show-o sampler, {row['resolution']} ({row['image_tokens']} image tokens, 129-token prefix), width "
            f"{row['width']}, {row['layers']} layers, batch {row['batch']}, {row['steps']} steps, CFG 5, "
            f"{row['device']} {precision} | ours vs official loop | speed-up x{row['speed_up']:.2f} | "
            f"identical tokens: {row['identical_tokens']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true", help="both loops under bf16 autocast")
    args = parser.parse_args()
    arch = Arch(hidden=args.hidden, mlp=4 * args.hidden, layers=args.layers, heads=max(1, args.hidden // 64))
    for row in compare(arch, args.steps, args.batch, args.device, args.bf16):
        print(markdown_row(row))


if __name__ == "__main__":
    main()
