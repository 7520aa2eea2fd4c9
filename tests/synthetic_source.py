"""Writes a synthetic UnifyBench source of any size, in the release layout, for scale tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

KINDS = ("human", "animal", "object")


def _image(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def write_source(root: Path, n_concepts: int, n_distractors: int = 20) -> tuple[Path, Path, int]:
    """Returns (source folder, annotation file, number of distinct image files written)."""
    names = [f"c{i:03d}" for i in range(n_concepts)]
    (root).mkdir(parents=True)
    (root / "concepts_list.json").write_text(json.dumps(names))
    seed = 0
    annotations: dict = {"format": "unifybench_pp.annotations", "version": 1, "concepts": {}}
    for i, name in enumerate(names):
        train, test = root / "concept/train" / name, root / "concept/test" / name
        for j in range(3):
            seed += 1
            _image(train / f"{j}.png", seed)
        for j in range(2):
            seed += 1
            _image(test / f"{j}.png", seed)
        (train / "info.json").write_text(json.dumps(
            {"class": "thing", "info": f"<{name}> is thing {i}.", "conversation_type": KINDS[i % 3]}))
        (test / "vqa.json").write_text(json.dumps(
            {"0.png": [{"query": f"What is <{name}>?", "answer": f"Thing {i}."}],
             "1.png": [{"query": f"Where is <{name}>?", "answer": "Here."}]}))
        (test / "text_only.json").write_text(json.dumps([{"query": f"Who is <{name}>?", "answer": f"Number {i}."}]))
        (test / "t2i_conditions.json").write_text(json.dumps([f"A photo of <{name}>."]))
        annotations["concepts"][name] = {
            "extra_info": [
                {"text": f"<{name}>'s item {k} is object {i}-{k}.", "reasoning_prompt": f"A photo of <{name}> with item {k}.",
                 "placeholder": f"item {k}", "detail": f"object {i}-{k}"}
                for k in range(4)
            ],
            "dense_gen": [{"prompt": f"A photo of <{name}> on a table, by a window, at noon."}],
            "dense_rea": [{"question": f"What are items 0 and 1 of <{name}>?", "answer": f"Objects {i}-0 and {i}-1."}],
            "dense_rea_gen": [{"prompt": f"A photo of <{name}> holding item 2, in a garden, at dusk.",
                               "placeholder": "item 2", "detail": f"object {i}-2"}],
        }
    for j in range(n_distractors):
        seed += 1
        _image(root / "random_images" / f"{j}.png", seed)
    annotation_file = root.parent / "annotations.json"
    annotation_file.write_text(json.dumps(annotations))
    return root, annotation_file, seed
