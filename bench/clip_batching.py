"""CLIP-T scoring of N image-text pairs: our batched scorer vs torchmetrics one pair at a time.

Both score the same randomly initialized ViT-B/32-sized CLIP (transformers layout,
saved to a temp dir and loaded back), on the same inputs, in one run; the
report is the ratio of wall times, and both score lists must agree.

    python -m bench.clip_batching [--pairs 512]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def build_model(path: Path) -> None:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    from bench.clip_tokenizer import write_clip_tokenizer_files

    torch.manual_seed(0)
    write_clip_tokenizer_files(path)
    tokenizer = CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"))
    CLIPModel(CLIPConfig()).eval().save_pretrained(path)  # default config: ViT-B/32 sizes
    CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer).save_pretrained(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    from torchmetrics.functional.multimodal.clip_score import _clip_score_update
    from transformers import CLIPModel, CLIPProcessor

    from evaluators.scorers.clip import ClipScorer

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)) for _ in range(args.pairs)]
    texts = [f"a photo of the thing number {k}" for k in range(args.pairs)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        build_model(path)

        device = "cuda" if torch.cuda.is_available() else "cpu"  # both sides on the same device
        ours = ClipScorer(str(path), device=device, batch_size=args.batch_size)
        start = time.perf_counter()
        our_scores = ours.clip_t(images, texts)
        our_time = time.perf_counter() - start

        class TensorCLIP(CLIPModel):
            def get_image_features(self, *a, **k):
                return super().get_image_features(*a, **k).pooler_output

            def get_text_features(self, *a, **k):
                return super().get_text_features(*a, **k).pooler_output

        model, processor = TensorCLIP.from_pretrained(path).eval(), CLIPProcessor.from_pretrained(path)
        tensors = [torch.from_numpy(np.array(i)).permute(2, 0, 1).to(device) for i in images]
        start = time.perf_counter()
        with torch.inference_mode():
            reference = [float(_clip_score_update(img, text, model, processor)[0][0]) / 100
                         for img, text in zip(tensors, texts)]
        reference_time = time.perf_counter() - start

    max_diff = float(np.max(np.abs(np.asarray(our_scores) - np.asarray(reference))))
    where = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU, {torch.get_num_threads()} threads"
    print(f"| CLIP-T, {args.pairs} pairs, ViT-B/32 size, {where} | "
          f"ours batched ({args.batch_size}) vs torchmetrics one by one | "
          f"speed-up x{reference_time / our_time:.2f} | max |score diff| {max_diff:.1e} |")


if __name__ == "__main__":
    main()
