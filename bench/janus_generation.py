"""Janus image generation: the harness's loop (one prompt at a time, its own token loop over the model's modules,
as `janus_base.py` `_run_generation_batch` runs it) against `janus-tp` one request at a time (the default: the
harness's seeds) and with `prompt_batch=N`, side by side in one run on one random Janus.

Reports seconds per image for each and the ratios, and whether the default's images equal the harness loop's
(they must: same prompt, seed, guidance and sampling).

    python -m bench.janus_generation [--prompts 8] [--width 256] [--layers 4] [--image 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from baselines.base import GenerateRequest
from baselines.harness_seeds import stable_seed
from baselines.janus import Janus
from bench.janus_reference import harness_image, random_janus
from unifybench_pp.schema import Concept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--image", type=int, default=64, help="pixels (a multiple of 16)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = random_janus(Path(folder) / "janus", args.width, args.layers, args.image)
        default = Janus(str(checkpoint), mode="tp")
        batched = Janus(str(checkpoint), mode="tp", prompt_batch=args.prompts)
        concept = Concept(id="bo", token="<bo>", class_noun="dog", category="pet", generation_type="live_subject",
                          info="<bo> is a corgi.", extra_info=[], train_images=[], test_images=[])
        requests = [GenerateRequest(f"dense_gen/bo/{k:03d}", "dense_gen", concept,
                                    f"a photo of <bo> on a beach, with a red ball number {k}", seed=1000 + k)
                    for k in range(args.prompts)]
        started = time.perf_counter()
        reference = [harness_image(default, default.generation_prompt(r), stable_seed(r.seed, "janus_image_batch", 0))
                     for r in requests]
        times = {"harness loop": time.perf_counter() - started}
        started = time.perf_counter()
        ours = default.generate(requests)
        times["janus-tp (one request at a time)"] = time.perf_counter() - started
        started = time.perf_counter()
        batched.generate(requests)
        times[f"janus-tp prompt_batch={args.prompts}"] = time.perf_counter() - started
    same = all(np.array_equal(np.asarray(a), b) for a, b in zip(ours, reference))
    print(f"{args.prompts} prompts, width {args.width}, {args.layers} layers, {args.image} px "
          f"({(args.image // 16) ** 2} image tokens), torch threads {torch.get_num_threads()}")
    base = times["harness loop"]
    for name, seconds in times.items():
        print(f"{name:40s} {seconds / args.prompts:7.3f} s/image   x{base / seconds:5.2f} vs the harness loop")
    print(f"default images equal the harness loop's: {same}")


if __name__ == "__main__":
    main()
