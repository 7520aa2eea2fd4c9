"""Loading a Show-o checkpoint: weights built on the meta device and given copies of the file's tensors vs built
with random weights that the file's are then copied into (what `from_pretrained` did before, and what transformers' own
`from_pretrained` avoids the same way).

On an H200 the random initialisation took 12 of the 16 s that loading the 1.3B base took (docs/training.md).

    python -m bench.showo_load [--hidden 1024] [--layers 8]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from baselines.showo.checkpoints import read_state_dict
from baselines.showo.model import Showo, ShowoConfig
from training.memory import Arch


def eager_load(folder: Path) -> Showo:
    """The former path: random initialisation, then the weights copied in."""
    model = Showo(ShowoConfig.from_json(json.loads((folder / "config.json").read_text())))
    model.load_weights(read_state_dict(folder), str(folder))
    return model.eval()


def _timed(load: Callable[[Path], Showo], folder: Path, ids: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Load and one forward pass: the file's pages may be read lazily, so the first use is part of the load."""
    start = time.perf_counter()
    with torch.inference_mode():
        logits = load(folder)(ids).logits
    return logits, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=8)
    args = parser.parse_args()
    arch = Arch(hidden=args.hidden, mlp=4 * args.hidden, layers=args.layers, heads=max(1, args.hidden // 64))
    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        arch.model().save_pretrained(Path(folder))
        read_state_dict(Path(folder))  # the file in the page cache for both
        ids = torch.randint(0, arch.vocab.size, (1, 64), generator=torch.Generator().manual_seed(1))
        ours, our_time = _timed(Showo.from_pretrained, Path(folder), ids)
        theirs, eager_time = _timed(eager_load, Path(folder), ids)
        same = torch.equal(ours, theirs)
    print(f"| Show-o load, width {args.hidden}, {args.layers} layers, {arch.parameters / 1e6:.0f} M parameters, "
          f"safetensors in the page cache, load + first forward | meta-device build vs random init + copy | "
          f"x{eager_time / our_time:.1f} "
          f"faster ({our_time:.2f} s vs {eager_time:.2f} s) | equal logits: {same} |")


if __name__ == "__main__":
    main()
