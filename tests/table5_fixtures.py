"""Writes tiny folders in the public release layouts of Table 5's benchmarks, from scikit-image's real photos.

- `write_dreambench`: google/dreambooth's `dataset/` (subject folders of .jpg, `prompts_and_classes.txt`
  in the file's own format, both 25-prompt lists transcribed from it).
- `write_yollava`: WisconsinAIVision/YoLLaVA's `yollava-data/` (train/, test/, yollava-visual-qa.json with
  "./yollava-data/test/<c>/<n>.png" keys) plus Yo'Chameleon's text_qa_soft_2.json.
- `write_mcllava`: arctanxarc/MC-LLaVA's dataset folder as its `llava/dataset.py` reads it
  (concept_type.json, <case>/concept/{train,test}/<c>/, vqa.json, qa.json, <case>/multi/<A_B>/).
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from skimage import data

OBJECT_PROMPTS = [
    "in the jungle", "in the snow", "on the beach", "on a cobblestone street", "on top of pink fabric",
    "on top of a wooden floor", "with a city in the background", "with a mountain in the background",
    "with a blue house in the background", "on top of a purple rug in a forest",
    "with a wheat field in the background", "with a tree and autumn leaves in the background",
    "with the Eiffel Tower in the background", "floating on top of water", "floating in an ocean of milk",
    "on top of green grass with sunflowers around it", "on top of a mirror",
    "on top of the sidewalk in a crowded street", "on top of a dirt road", "on top of a white rug",
]
LIVE_PROMPTS = OBJECT_PROMPTS[:10] + [
    "wearing a red hat", "wearing a santa hat", "wearing a rainbow scarf", "wearing a black top hat and a monocle",
    "in a chef outfit", "in a firefighter outfit", "in a police outfit", "wearing pink glasses",
    "wearing a yellow shirt", "in a purple wizard outfit",
]
STYLE_PROMPTS = ["a red {0} {1}", "a purple {0} {1}", "a shiny {0} {1}", "a wet {0} {1}", "a cube shaped {0} {1}"]
DREAMBENCH_SUBJECTS = {"cat": ("cat", "chelsea"), "can": ("can", "coffee"), "rocket_toy": ("toy", "rocket")}


def photo(path: Path, name: str, variant: int, size: int = 32) -> None:
    """A crop of scikit-image photo `name` (each variant a different crop, so different bytes)."""
    pixels = getattr(data, name)()
    if pixels.ndim == 2:
        pixels = pixels[..., None].repeat(3, axis=2)
    h, w = pixels.shape[:2]
    side = min(h, w) * (10 - variant) // 10
    top, left = (h - side) * variant // 9, (w - side) * (9 - variant) // 9
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels[top:top + side, left:left + side, :3]).resize((size, size)).save(path)


def prompt_lines(phrases: list[str]) -> list[str]:
    templates = [f"a {{0}} {{1}} {p}" for p in phrases] + STYLE_PROMPTS
    lines = [f"'{t}'.format(unique_token, class_token)," for t in templates]
    lines[-1] = lines[-1].rstrip(",")
    return ["prompt_list = ["] + lines + ["]"]


def write_dreambench(root: Path, photos: int = 2) -> Path:
    dataset = root / "dataset"
    for subject, (_, picture) in DREAMBENCH_SUBJECTS.items():
        for k in range(photos):
            photo(dataset / subject / f"{k:02d}.jpg", picture, k)
    lines = ["Classes", "", "subject_name,class"] + [f"{s},{c}" for s, (c, _) in DREAMBENCH_SUBJECTS.items()]
    lines += ["", "Prompts", "", "Object Prompts", ""] + prompt_lines(OBJECT_PROMPTS)
    lines += ["", "Live Subject Prompts", ""] + prompt_lines(LIVE_PROMPTS)
    (dataset / "prompts_and_classes.txt").write_text("\n".join(lines) + "\n")
    return dataset


YOLLAVA_CONCEPTS = {"bo": "chelsea", "mam": "coffee"}
YOLLAVA_TEST_ONLY = {"thao": "astronaut"}


def write_yollava(root: Path, text_qa: bool = True) -> Path:
    folder = root / "yollava-data"
    for name, picture in YOLLAVA_CONCEPTS.items():
        for n in range(2):
            photo(folder / "train" / name / f"{n}.png", picture, n)
            photo(folder / "test" / name / f"{n}.png", picture, n + 5)
    for name, picture in YOLLAVA_TEST_ONLY.items():
        for n in range(2):
            photo(folder / "test" / name / f"{n}.png", picture, n + 5)
    visual = {
        "bo": {"./yollava-data/test/bo/0.png": {"question": "What is the primary color of <sks>'s fur?",
                                                "options": {"A": "Brown", "B": "Grey"}, "correct_answer": "A"},
               "./yollava-data/test/bo/1.png": {"question": "What animal does <sks> resemble?",
                                                "options": {"A": "Mouse", "B": "Cat"}, "correct_answer": "B"}},
        "mam": {"./yollava-data/test/mam/1.png": {"question": "What is <sks> filled with?",
                                                  "options": {"A": "Coffee", "B": "Milk"}, "correct_answer": "A"}},
    }
    (folder / "yollava-visual-qa.json").write_text(json.dumps(visual, indent=4))
    if text_qa:
        textual = {"bo": {"0": {"question": "Is sks a dog or a cat?", "option": {"A": "Dog", "B": "Cat"},
                                "correct_answer": "B"},
                          "1": {"question": "What is the eye color of sks?", "option": {"A": "Yellow", "B": "Black"},
                                "correct_answer": "A"}},
                   "mam": {"0": {"question": "Does sks have a handle?", "option": {"A": "Yes", "B": "No"},
                                 "correct_answer": "A"}}}
        (folder / "text_qa_soft_2.json").write_text(json.dumps(textual, indent=4))
    return folder


MCLLAVA_CONCEPTS = {"A": "astronaut", "B": "camera", "C": "rocket"}


def write_mcllava(root: Path) -> Path:
    folder = root / "mcdataset"
    folder.mkdir(parents=True)
    (folder / "concept_type.json").write_text(json.dumps({c: "two_concept" for c in MCLLAVA_CONCEPTS}))
    case = folder / "two_concept"
    for name, picture in MCLLAVA_CONCEPTS.items():
        for n in range(2):
            photo(case / "concept" / "train" / name / f"{n}.png", picture, n)
            photo(case / "concept" / "train" / name / f"{n}_mask.png", "moon", n)
            photo(case / "concept" / "test" / name / f"{n}.png", picture, n + 5)
        test = case / "concept" / "test" / name
        vqa = {f"../mcdataset/two_concept/concept/test/{name}/{n}.png":
               {"Human": f"What is <{name}> doing in the photo {n}?", "AI": f"<{name}> is standing still {n}."}
               for n in range(2)}
        (test / "vqa.json").write_text(json.dumps(vqa, indent=2))
        qa = [{"question": f"What colour is <{name}>?\nA. red\nB. white\nC. blue", "answer": "B"},
              {"question": f"Where does <{name}> live?\nA. a city\nB. a farm", "answer": "A"}]
        (test / "qa.json").write_text(json.dumps(qa, indent=2))
    photo(case / "multi" / "A_B" / "0.png", "astronaut", 9)
    return folder
