"""Show-o MaskGIT sampling: our sampler vs a faithful re-implementation of the official loop.

Same random weights (Show-o's proportions scaled down in width and depth only:
the full 58,498-id vocabulary, a 128-token text prefix, 256 image tokens as at
256 px and 1024 as at 512 px), same seed, CFG on; the report is the ratio of
wall times and whether the sampled tokens are identical.

    python -m bench.showo_sampler [--steps 4] [--hidden 256] [--layers 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from baselines.showo.model import Showo, ShowoConfig, tiny_llm_config
from baselines.showo.sampler import MAX_TEXT_LEN, MaskGitSampler, SamplerConfig
from baselines.showo.vocab import Vocab
from bench.showo_official_loop import official_generate

# Show-o's id layout: Phi-1.5 text (50,295) + [PAD] + 9 task tokens, 8,192 codes, 1 mask.
SHOWO_VOCAB = Vocab(text_size=50305, codebook_size=8192, pad=50295, bos=50256, eos=50256,
                    soi=50296, eoi=50297, t2i=50300, mmu=50301)


def prompts(batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    v = SHOWO_VOCAB
    rows, uncond = [], []
    for k in range(batch):
        text = torch.randint(0, 50000, (20 + 7 * k,), generator=generator).tolist()
        row = [v.t2i, v.bos, *text, v.eos]
        rows.append([v.pad] * (MAX_TEXT_LEN + 1 - len(row)) + row)
        uncond.append([v.pad] * (MAX_TEXT_LEN + 1 - 3) + [v.t2i, v.bos, v.eos])
    return torch.tensor(rows), torch.tensor(uncond)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    config = ShowoConfig(vocab_size=SHOWO_VOCAB.size, codebook_size=8192,
                         llm_config=tiny_llm_config(args.hidden, args.layers, heads=max(1, args.hidden // 64)))
    model = Showo(config).eval()
    prefix, uncond = prompts(args.batch, torch.Generator().manual_seed(1))
    sampler = MaskGitSampler(model, SHOWO_VOCAB)
    # Untimed warm-up of both (allocator, thread pools, first touch of the weights): whichever ran first paid it.
    sampler.generate(prefix, 256, SamplerConfig(steps=1, guidance_scale=5.0), uncond, torch.Generator().manual_seed(0))
    official_generate(model, SHOWO_VOCAB, prefix, uncond, 256, 1, 5.0, 1.0, torch.Generator().manual_seed(0))
    for n_tokens, label in ((256, "256 px"), (1024, "512 px")):
        sampler_config = SamplerConfig(steps=args.steps, guidance_scale=5.0)
        start = time.perf_counter()
        ours, _ = sampler.generate(prefix, n_tokens, sampler_config, uncond, torch.Generator().manual_seed(7))
        our_time = time.perf_counter() - start
        start = time.perf_counter()
        theirs = official_generate(model, SHOWO_VOCAB, prefix, uncond, n_tokens, args.steps, 5.0, 1.0,
                                   torch.Generator().manual_seed(7))
        official_time = time.perf_counter() - start
        print(f"| Show-o sampler, {label} ({n_tokens} image tokens, 129-token prefix), width {args.hidden}, "
              f"{args.layers} layers, batch {args.batch}, {args.steps} steps, CFG 5 | ours vs official loop | "
              f"speed-up x{official_time / our_time:.2f} | identical tokens: {torch.equal(ours, theirs)} |")


if __name__ == "__main__":
    main()
