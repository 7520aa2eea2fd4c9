"""Reader for the Yo'LLaVA dataset as `WisconsinAIVision/YoLLaVA` releases it (folder `yollava-data/`).

    train/<c>/*.png               training photos of concept <c>
    test/<c>/*.png                test photos
    yollava-visual-qa.json        {c: {"./yollava-data/test/<c>/<n>.png": {"question" (with <sks>),
                                   "options": {"A", "B"}, "correct_answer"}}}
    text_qa_soft_2.json           optional, the text-only QA (not in the Yo'LLaVA repository; the authors'
                                  Yo'Chameleon repository ships it as baselines/text_qa_soft_2.json):
                                  {c: {"<n>": {"question" (with sks), "option": {"A", "B"}, "correct_answer"}}}

Items as the authors' evaluation code forms them. Rec. (`test-sks-acc.py`):
for concept <c>, every photo of every test folder, "Can you see <c> in this
photo? Answer with a single word or phrase.", "Yes" for <c>'s own folder and
"No" for the others. VQA / QA (Yo'Chameleon's `baselines/chameleon-qa.py`):
the question with the concept token, followed directly by "{A} or {B}?".
Generation split: "A photo of <c>." per concept (draw several with
`ubpp evaluate --samples N`), CLIP-I against the concept's test photos.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import SourceError
from ..schema import ChoiceItem, PureGenItem, RecItem
from ..views import concept_token
from .foreign import TEXT_ONLY_IMAGE, ForeignConcept, ForeignSource, mapping, subfolders
from .release import photos_in, release_reader, resolve_anchored, text

VISUAL_QA_FILE = "yollava-visual-qa.json"
TEXT_QA_FILE = "text_qa_soft_2.json"
PATH_ANCHOR = "yollava-data/"
REC_QUESTION = "Can you see {token} in this photo? Answer with a single word or phrase."
GENERATION_PROMPT = "A photo of {token}."
#: Yo'LLaVA names no classes; its authors' baselines call a concept "this subject".
CLASS_NOUN = "subject"


def choice_question(question: str, options: list[str]) -> str:
    """The authors' wording: the question, then the two options as "{A} or {B}?" (written without a space)."""
    return question + f"{options[0]} or {options[1]}?"


def _choices(data: dict, file: str, concepts: set[str], token_word: str, options_key: str,
             image_of: Callable[[str, str], Path]) -> list[ChoiceItem]:
    items = []
    for concept in sorted(data):
        if concept not in concepts:
            raise SourceError(file, concept, f"unknown concept {concept!r} (no train/ and test/ folder)",
                              "add the concept's folders or remove its questions")
        for key in mapping(data[concept], file, concept, "questions"):
            where = f"{concept}.{key}"
            entry = mapping(data[concept][key], file, where, "question fields")
            options = mapping(entry.get(options_key), file, f"{where}.{options_key}", "options A and B")
            if sorted(options) != ["A", "B"]:
                raise SourceError(file, f"{where}.{options_key}", f"options {sorted(options)}, expected A and B",
                                  "give exactly the options A and B")
            texts = [text(options[letter], file, f"{where}.{options_key}.{letter}", "option") for letter in "AB"]
            answer = entry.get("correct_answer")
            if answer not in options:
                raise SourceError(file, f"{where}.correct_answer", f"correct_answer {answer!r} is not an option",
                                  "give A or B")
            question = text(entry.get("question"), file, f"{where}.question", "question")
            items.append(ChoiceItem("", concept, image_of(key, where),
                                    choice_question(question.replace(token_word, concept_token(concept)), texts),
                                    texts, answer))
    return items


def read_yollava(root: Path) -> ForeignSource:
    """Read and validate a `yollava-data/` folder (or the repository folder holding it)."""
    reader = release_reader(root, "pass --source DIR of the yollava-data folder", "yollava-data", VISUAL_QA_FILE)
    names = subfolders(reader.root / "train")
    if not names:
        raise SourceError("train", "", "no concept folders in train/: not a Yo'LLaVA data folder",
                          "pass --source DIR of the yollava-data folder")
    categories = subfolders(reader.root / "test")
    concepts = []
    for name in names:
        train, test = photos_in(reader, reader.root / "train" / name), photos_in(reader, reader.root / "test" / name)
        if not train or not test:
            raise SourceError(f"{'train' if not train else 'test'}/{name}", "", f"concept {name!r} has no "
                              f"{'training' if not train else 'test'} photos", "add its photos")
        concepts.append(ForeignConcept(name, CLASS_NOUN, "unspecified", "unspecified", train, test))
    photos = {category: photos_in(reader, reader.root / "test" / category) for category in categories}
    rec = [RecItem("", c.name, photo, REC_QUESTION.format(token=concept_token(c.name)),
                   "Yes" if category == c.name else "No", "positive" if category == c.name else "negative")
           for c in concepts for category in categories for photo in photos[category]]

    visual_file = VISUAL_QA_FILE
    visual = mapping(reader.json(reader.root / visual_file), visual_file, "", "concepts")
    vqa = _choices(visual, visual_file, set(names), "<sks>", "options",
                   lambda key, where: resolve_anchored(reader, key, PATH_ANCHOR, visual_file, where))
    notes = []
    if (reader.root / TEXT_QA_FILE).is_file():
        textual = mapping(reader.json(reader.root / TEXT_QA_FILE), TEXT_QA_FILE, "", "concepts")
        qa = _choices(textual, TEXT_QA_FILE, set(names), "sks", "option", lambda key, where: TEXT_ONLY_IMAGE)
    else:
        qa = []
        notes.append(f"{TEXT_QA_FILE} absent: no QA items (Yo'Chameleon's baselines/{TEXT_QA_FILE} holds them)")
    generation = [PureGenItem("", c.name, GENERATION_PROMPT.format(token=concept_token(c.name)),
                              GENERATION_PROMPT.format(token=f"this {CLASS_NOUN}")) for c in concepts]
    items = {"rec": rec, "vqa_choice": vqa, "qa_choice": qa, "pure_gen": generation}
    return ForeignSource("yollava", reader.root, concepts, items, reader.files, notes)
