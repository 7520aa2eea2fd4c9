"""Writes small folders in the authors' release layout (UniCTokens data + UnifyBench++ keys) for tests.

`write_release` writes three concepts by hand — `ada` (a person,
live_subject), `rex` (a pet, live_subject), `mug` (an object) — with
`test_data` image paths written as absolute paths of the authors' machine, the
way the release names them. `write_synthetic` writes any number of concepts of
the same shape, for scale tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

AUTHORS_ROOT = "/mnt/nas/users/author/unictokens_data"

CONCEPTS = {
    "ada": {"class": "woman", "conversation_type": "human", "generation_type": "live_subject",
            "info": "<ada> is a pilot with red hair.",
            "extra_info": ["<ada>'s favourite drink is green tea.", "<ada> owns a yellow bicycle.",
                           "<ada>'s lucky charm is a silver coin."],
            "num_testing_info": 1,
            "implicit": ["A photo of <ada> drinking her favourite drink.", "A photo of <ada> riding her bicycle.",
                         "A photo of <ada> holding her lucky charm."],
            "explicit": ["A photo of <ada> drinking green tea.", "A photo of <ada> riding a yellow bicycle.",
                         "A photo of <ada> holding a silver coin."]},
    "rex": {"class": "dog", "conversation_type": "animal", "generation_type": "live_subject",
            "info": "<rex> is a brown terrier.",
            "extra_info": ["<rex>'s bed is a blue cushion.", "<rex> loves a red ball.", "<rex> wears a green collar."],
            "num_testing_info": 2,
            "implicit": ["A photo of <rex> on his bed.", "A photo of <rex> with his toy.",
                         "A photo of <rex> wearing his collar."],
            "explicit": ["A photo of <rex> on a blue cushion.", "A photo of <rex> with a red ball.",
                         "A photo of <rex> wearing a green collar."]},
    "mug": {"class": "cup", "conversation_type": "object", "generation_type": "object",
            "info": "<mug> is a white ceramic mug.",
            "extra_info": ["<mug> usually holds black coffee.", "<mug> sits on an oak desk."],
            "num_testing_info": 1,
            "implicit": ["A photo of <mug> filled with its usual drink.", "A photo of <mug> on its desk."],
            "explicit": ["A photo of <mug> filled with black coffee.", "A photo of <mug> on an oak desk."]},
}
TRAIN_IMAGES = ["0.png", "1.png"]
TEST_IMAGES = ["2.png", "10.png"]
"""Sorted by name the release's way, "10.png" comes first: it is the CLIP-I reference."""


def image(path: Path, seed: int, size: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def turn(question: str, answer: str) -> list[dict[str, str]]:
    return [{"from": "human", "value": f"<image>\n {question}"}, {"from": "gpt", "value": answer}]


def write_concept(root: Path, name: str, spec: dict, seed: int, others: list[str]) -> None:
    train, test = root / "concept/train" / name, root / "concept/test" / name
    for k, file in enumerate(TRAIN_IMAGES + TEST_IMAGES):
        image((train if file in TRAIN_IMAGES else test) / file, seed * 10 + k)
    info = {key: spec[key] for key in ("class", "info", "extra_info", "num_testing_info", "generation_type",
                                       "conversation_type")}
    (train / "info.json").write_text(json.dumps(info, indent=1))
    (test / "t2i_conditions.json").write_text(json.dumps({
        "dense_prompt_generation": [f"A photo of <{name}> in a park, under a tree, at noon",
                                    f"<{name}> on a boat, with a hat, at sea"],
        "personalized_driven_generation": spec["implicit"],
        "explicit_personalized_driven_generation": spec["explicit"],
        "personalized_dense_prompt_generation": [f"A photo of <{name}> in a kitchen, next to a window, at dusk"],
        "explicit_personalized_dense_prompt_generation": [f"A photo of <{name}> in a kitchen, next to a window, "
                                                          f"with a lamp, at dusk"],
    }, indent=1))
    question = f"Is <{name}> in this image?"
    data = [
        {"image": f"{AUTHORS_ROOT}/concept/test/{name}/2.png", "type": "rec", "conversations": turn(question, "Yes.")},
        {"image": f"{AUTHORS_ROOT}/concept/test/{others[0]}/2.png", "type": "rec",
         "conversations": turn(question, "No, it is not.")},
        {"image": f"{AUTHORS_ROOT}/concept/test/{name}/10.png", "type": "vqa",
         "conversations": turn(f"What colour is <{name}>?", "Brown.")},
        {"image": f"{AUTHORS_ROOT}/black_512x512.png", "type": "text_only",
         "conversations": turn(f"What is <{name}>?", spec["info"])},
        {"image": f"{AUTHORS_ROOT}/concept/test/{name}/10.png", "type": "rec", "conversations": turn(question, "yes")},
    ]
    (root / "test_data").mkdir(parents=True, exist_ok=True)
    (root / "test_data" / f"{name}.json").write_text(json.dumps(data, indent=1))


def write_release(root: Path, concepts: dict[str, dict] = CONCEPTS) -> Path:
    root.mkdir(parents=True)
    names = sorted(concepts)
    for k, name in enumerate(names):
        write_concept(root, name, concepts[name], k + 1, [n for n in names if n != name])
    (root / "concept/train/train_images.json").write_text(json.dumps({n: TRAIN_IMAGES for n in names}))
    Image.new("RGB", (512, 512)).save(root / "black_512x512.png")
    (root / "concepts_list.json").write_text(json.dumps(names))
    return root


def write_synthetic(root: Path, n_concepts: int) -> Path:
    """`n_concepts` concepts shaped like the hand-written ones, with distinct images."""
    kinds = [("human", "live_subject"), ("animal", "live_subject"), ("object", "object")]
    concepts = {}
    for i in range(n_concepts):
        name = f"c{i:03d}"
        kind, generation = kinds[i % 3]
        concepts[name] = {"class": "thing", "conversation_type": kind, "generation_type": generation,
                          "info": f"<{name}> is thing {i}.", "num_testing_info": 2,
                          "extra_info": [f"<{name}>'s item {k} is object {i}-{k}." for k in range(4)],
                          "implicit": [f"A photo of <{name}> with item {k}." for k in range(4)],
                          "explicit": [f"A photo of <{name}> with object {i}-{k}." for k in range(4)]}
    return write_release(root, concepts)
