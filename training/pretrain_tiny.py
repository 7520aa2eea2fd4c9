"""`python -m training.pretrain_tiny --out DIR`: rebuild the tiny Show-o pretrained for the bundled mini benchmark.

Why: a random tiny Show-o answers nothing and its random MAGVIT decoder maps every code to grey, so training
it (`ubpp demo`) could not move anything the harness measures. This trains, on the mini benchmark's training
views only (`training.data.training_views`: profiles, training photos, training extra_info and prompts),
1. a byte-level BPE tokenizer on that text,
2. a MAGVIT-v2 (lookup-free quantizer, 2**code_bits codes) on crops and flips of the training photos,
3. a Show-o (Phi with QK-LayerNorm) on text-to-image and understanding examples (`training.supervised`),
and writes them in the released layouts, so `ShowoPipeline.from_pretrained(DIR/"showo", DIR/"magvit")` loads
them. The shipped copy is `ASSET`. Stages are seeded separately (a stage's start does not depend on the one
before), torch runs on `threads` threads, and every step's loss is recorded in `training.json`, so a rebuild
can be checked step by step against the shipped curve.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from baselines.showo.bundle import ShowoBundle
from baselines.showo.magvit2 import Magvit2Config, Magvit2Tokenizer
from baselines.showo.model import Showo, ShowoConfig, tiny_llm_config
from baselines.showo.pipeline import ShowoPipeline
from baselines.showo.vocab import Vocab, build_tiny_tokenizer
from unifybench_pp import load
from unifybench_pp.files import staged_directory

from .data import ConceptViews, ensure_mini, training_views
from .supervised import build_examples, fit, photo_views, supervised_data

ASSET = Path(__file__).parent / "assets" / "showo-tiny-mini"
"""The shipped tiny pretrained Show-o (`showo/`, `magvit/`, `training.json`, `SHA256SUMS`)."""
TINY_BASE = ShowoBundle(ASSET)
"""The asset as a bundle: the base `showo: tiny-mini` loads."""
RECORD = "training.json"
SUMS = "SHA256SUMS"


@dataclass(frozen=True)
class PretrainConfig:
    seed: int = 0
    threads: int = 2
    image_size: int = 32
    code_bits: int = 8
    """Codebook of 2**code_bits codes (Show-o: 13 bits, 8192 codes)."""
    magvit_channels: int = 32
    magvit_steps: int = 500
    magvit_batch: int = 8
    magvit_lr: float = 2e-3
    views_per_photo: int = 8
    vocab_size: int = 600
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    showo_steps: int = 900
    showo_batch: int = 8
    showo_lr: float = 1e-3


def text_corpus(views: dict[str, ConceptViews]) -> list[str]:
    """Every text the examples hold (captions, personalizations, questions, answers): the tokenizer's training text."""
    images, texts = build_examples(views)
    return [e.caption for e in images] + [t for e in texts for t in (e.system, e.question, e.answer)]


def train_magvit(config: PretrainConfig, photos: torch.Tensor, steps: int | None = None,
                 on_step: Callable[[int], None] = lambda k: None) -> tuple[Magvit2Tokenizer, list[float]]:
    """Reconstruction through the lookup-free quantizer (straight-through signs) + a commitment term."""
    torch.manual_seed(config.seed)
    magvit = Magvit2Tokenizer(Magvit2Config(channels=config.magvit_channels, encoder_multipliers=[1, 2, 2],
                                            encoder_blocks=[1, 1, 1], decoder_multipliers=[1, 2, 2],
                                            decoder_blocks=[1, 1, 1], z_channels=config.code_bits))
    optimizer = torch.optim.Adam(magvit.parameters(), lr=config.magvit_lr)
    total = config.magvit_steps
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: 0.5 * (1 + math.cos(math.pi * k / total)))
    generator = torch.Generator().manual_seed(config.seed + 1)
    curve = []
    magvit.train()
    for step in range(total if steps is None else steps):
        batch = photos[torch.randint(0, len(photos), (config.magvit_batch,), generator=generator)]
        latent = magvit.encoder(batch)
        signs = torch.where(latent > 0, 1.0, -1.0)
        quantized = latent + (signs - latent).detach()
        loss = F.mse_loss(magvit.decoder(quantized), batch) + 0.25 * F.mse_loss(latent, signs)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        schedule.step()
        curve.append(round(float(loss.detach()), 6))
        on_step(step)
    return magvit.eval(), curve


def new_showo(config: PretrainConfig, tokenizer: Any, codebook_size: int) -> Showo:
    torch.manual_seed(config.seed + 2)
    vocab = Vocab.from_tokenizer(tokenizer, codebook_size)
    side = config.image_size // 4  # three MAGVIT levels: 4x down-sampling
    return Showo(ShowoConfig(vocab_size=vocab.size, llm_vocab_size=vocab.text_size - 10, codebook_size=codebook_size,
                             num_vq_tokens=side * side, llm_model_path="(tiny, inline llm_config)",
                             llm_config=tiny_llm_config(config.hidden, config.layers, config.heads)))


def train_showo(config: PretrainConfig, views: dict[str, ConceptViews], tokenizer: Any, magvit: Magvit2Tokenizer,
                steps: int | None = None, on_step: Callable[[int], None] = lambda k: None
                ) -> tuple[ShowoPipeline, list[list[float]]]:
    pipe = ShowoPipeline(new_showo(config, tokenizer, magvit.codebook_size), tokenizer, magvit)
    data = supervised_data(pipe, views, config.views_per_photo, config.seed + 3)
    params = list(pipe.model.parameters())
    curve = fit(pipe, data, params, config.showo_steps, config.showo_lr, config.showo_batch, config.seed + 4,
                on_step=on_step, stop_after=steps)
    return pipe, curve


def sha256sums(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under `folder` except the sums file itself."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != SUMS}


def pretrain(out: Path, config: PretrainConfig = PretrainConfig(), bench_dir: Path | None = None,
             progress: Callable[[str, int, int], None] = lambda stage, k, n: None) -> dict[str, Any]:
    """Build the asset into `out` (replaced atomically); returns what `training.json` records."""
    torch.set_num_threads(config.threads)
    started = time.perf_counter()
    with staged_directory(out, "tiny pretrained Show-o base") as staging, tempfile.TemporaryDirectory() as scratch:
        bench = load(ensure_mini(bench_dir or Path(scratch) / "mini", quiet=True))
        views = training_views(bench)
        tokenizer = build_tiny_tokenizer(None, text_corpus(views), config.vocab_size)
        photos = torch.cat([photo_views(v.images, config.image_size, config.views_per_photo, config.seed)
                            for v in views.values()])
        magvit, magvit_curve = train_magvit(config, photos,
                                            on_step=lambda k: progress("magvit", k + 1, config.magvit_steps))
        pipe, showo_curve = train_showo(config, views, tokenizer, magvit,
                                        on_step=lambda k: progress("showo", k + 1, config.showo_steps))
        bundle = ShowoBundle(staging)
        pipe.model.save_pretrained(bundle.showo)
        pipe.tokenizer.save_pretrained(bundle.showo)
        magvit.save_pretrained(bundle.magvit)
        record = {"config": dataclasses.asdict(config), "seconds": round(time.perf_counter() - started, 1),
                  "torch": torch.__version__, "trained_on": "training views of the bundled mini benchmark "
                  "(profiles, training photos, training extra_info entries and their prompts)",
                  "loss": {"magvit": magvit_curve, "showo": showo_curve}}
        (staging / RECORD).write_text(json.dumps(record, indent=1) + "\n")
        (staging / SUMS).write_text("".join(f"{digest}  {name}\n" for name, digest in sha256sums(staging).items()))
    return record


def main() -> None:
    import argparse

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Writes showo/, magvit/, training.json (settings, loss per step, "
                                            "seconds) and SHA256SUMS. The shipped asset: " + str(ASSET))
    parser.add_argument("--out", type=Path, required=True, help="folder to write the asset to (replaced)")
    parser.add_argument("--threads", type=int, default=PretrainConfig.threads,
                        help="torch CPU threads (the loss curve repeats exactly for a given thread count on one "
                             "kind of CPU; other CPUs drift in the last bits)")
    args = parser.parse_args()
    config = dataclasses.replace(PretrainConfig(), threads=args.threads)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        record = pretrain(args.out, config, progress=progress)
    print(f"wrote {args.out} in {record['seconds']} s; last losses: magvit {record['loss']['magvit'][-1]}, "
          f"showo {record['loss']['showo'][-1]}")


if __name__ == "__main__":
    main()
