"""A 200-concept synthetic release builds well under a minute, reading each image file once."""

from __future__ import annotations

import time
from pathlib import Path

import unifybench_pp
from bench.release_fixture import write_synthetic
from unifybench_pp import SplitConfig


def test_200_concepts_build_fast_and_hash_each_image_once(tmp_path: Path) -> None:
    source = write_synthetic(tmp_path / "src", 200)
    start = time.perf_counter()
    result = unifybench_pp.build(source, tmp_path / "out", SplitConfig(seed=5), quiet=True)
    elapsed = time.perf_counter() - start
    assert elapsed < 30, f"build took {elapsed:.1f}s"
    # Test images serve as CLIP-I references, Rec. positives, other concepts' negatives and VQA images,
    # yet each file is read exactly once: 4 images per concept plus the black image.
    assert result.images_read == 200 * 4 + 1
    counts = result.manifest["counts"]
    assert counts["tasks"]["vqa"] == 200 and counts["tasks"]["rec"] == 200 * 3
    assert counts["tasks"]["pure_gen"] == 200 * 25
    assert counts["extra_info"] == {"train": 400, "heldout": 400}
    assert counts["concepts"] == {"person": 67, "pet": 67, "object": 66}
