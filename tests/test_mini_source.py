"""The bundled mini source matches what its generator derives from scikit-image's photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from unifybench_pp import MINI_SOURCE
from unifybench_pp.mini.generate import CONCEPT_PHOTOS, DISTRACTOR_PHOTOS, HERE, VIEWS, generate


def test_committed_photos_match_the_generator(tmp_path: Path) -> None:
    credits = generate(tmp_path)
    committed = sorted(p.relative_to(MINI_SOURCE).as_posix() for p in MINI_SOURCE.rglob("*.jpg"))
    assert sorted(credits) == committed
    assert len(committed) == len(CONCEPT_PHOTOS) * len(VIEWS) + len(DISTRACTOR_PHOTOS)
    for rel in committed:
        ours = np.asarray(Image.open(tmp_path / rel), dtype=np.float32)
        shipped = np.asarray(Image.open(MINI_SOURCE / rel), dtype=np.float32)
        assert ours.shape == shipped.shape == (256, 256, 3)
        assert np.abs(ours - shipped).mean() < 2.0, rel  # JPEG encoders may differ by a level or two
    assert json.loads((HERE / "image_credits.json").read_text()) == credits


def test_views_of_one_photo_differ() -> None:
    for concept in CONCEPT_PHOTOS:
        arrays = [np.asarray(Image.open(MINI_SOURCE / "concept" / split / concept / name), dtype=np.float32)
                  for split, name, _ in VIEWS]
        for i in range(len(arrays)):
            for j in range(i + 1, len(arrays)):
                assert np.abs(arrays[i] - arrays[j]).mean() > 3.0, (concept, i, j)
