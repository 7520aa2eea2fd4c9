"""A 200-concept synthetic source builds well under a minute, reading each image file once."""

from __future__ import annotations

import time
from pathlib import Path

import unifybench_pp
from unifybench_pp import SplitConfig

from .synthetic_source import write_source


def test_200_concepts_build_fast_and_hash_each_image_once(tmp_path: Path) -> None:
    source, annotations, n_images = write_source(tmp_path / "src", 200)
    start = time.perf_counter()
    result = unifybench_pp.build(source, annotations, tmp_path / "out", SplitConfig(seed=5), quiet=True)
    elapsed = time.perf_counter() - start
    assert elapsed < 30, f"build took {elapsed:.1f}s"
    # Test images are referenced as references, Rec. positives, other concepts' negatives and VQA
    # images, yet each file is read exactly once.
    assert result.images_read == n_images == 200 * 5 + 20
    counts = result.manifest["counts"]
    assert counts["tasks"]["vqa"] == 400
    assert counts["tasks"]["rec"] == 200 * 2 * 3
    assert counts["extra_info"] == {"train": 400, "heldout": 400}
    assert counts["concepts"] == {"person": 67, "pet": 67, "object": 66}
