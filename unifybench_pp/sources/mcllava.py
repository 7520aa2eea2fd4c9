"""Reader for the MC-LLaVA dataset (`arctanxarc/MC-LLaVA`), its single-concept subset as Sync-R1's Table 5 uses it.

Layout, as the authors' evaluation code (`llava/dataset.py`, `eval/eval.py`) reads it:

    concept_type.json                     {concept: case folder, e.g. "two_concept"}
    <case>/concept/train/<c>/*.png        training photos (`*_mask.png` are masks, not photos)
    <case>/concept/test/<c>/*.png         test photos
    <case>/concept/test/<c>/vqa.json      {image path: {"Human": question, "AI": answer}}   (VQA, BLEU)
    <case>/concept/test/<c>/qa.json       [{"question", "answer": letter}]                 (text-only QA, accuracy)
    <case>/multi/<A_B[_C]>/               a scenario's multi-concept test set (not read: single-concept subset)

Single-concept subset (the code's `si_sq` / `s` items): Rec. asks "Can you
see <c> in this photo? Answer the question using a single word Yes or No."
of <c>'s test photos ("Yes") and of the other concepts of its scenario ("No";
the scenario is the `multi/` folder whose name, split on "_", holds <c>);
VQA asks vqa.json's question as is; QA asks qa.json's question followed by
"\\nIMPORTANT: Answer the question using a single letter."
"""

from __future__ import annotations

from pathlib import Path

from ..errors import SourceError
from ..schema import ChoiceItem, RecItem, VQAItem
from ..views import concept_token
from .foreign import TEXT_ONLY_IMAGE, ForeignConcept, ForeignSource, mapping, subfolders
from .release import photos_in, release_reader, resolve_anchored, text

CASES_FILE = "concept_type.json"
REC_QUESTION = "Can you see {token} in this photo? Answer the question using a single word Yes or No."
QA_SUFFIX = "\nIMPORTANT: Answer the question using a single letter."


def _scenario(root: Path, case: str, name: str) -> list[str]:
    """The concepts of <name>'s scenario: the first `multi/` folder (sorted) whose name holds it."""
    for folder in subfolders(root / case / "multi"):
        members = folder.split("_")
        if name in members:
            return members
    return [name]


def read_mcllava(root: Path) -> ForeignSource:
    """Read and validate an MC-LLaVA dataset folder (the one holding concept_type.json)."""
    reader = release_reader(root, "pass --source DIR of the MC-LLaVA dataset folder")
    cases = mapping(reader.json(reader.root / CASES_FILE), CASES_FILE, "", "concept -> case folder")
    if not cases:
        raise SourceError(CASES_FILE, "", "no concepts listed", "list {concept: case folder}")
    concepts, rec, vqa, qa = [], [], [], []
    for name in sorted(cases):
        case = text(cases[name], CASES_FILE, name, "case folder")
        if "/" in case or "\\" in case or case in (".", "..") or "/" in name:
            raise SourceError(CASES_FILE, name, f"case folder {case!r} is not a folder name", "give e.g. two_concept")
        test_dir = reader.root / case / "concept" / "test" / name
        train = photos_in(reader, reader.root / case / "concept" / "train" / name, exclude_suffix="_mask")
        test = photos_in(reader, test_dir)
        if not train or not test:
            raise SourceError(f"{case}/concept/{'train' if not train else 'test'}/{name}", "",
                              f"concept {name!r} has no {'training' if not train else 'test'} photos",
                              "add its photos or fix concept_type.json")
        concepts.append(ForeignConcept(name, "character", "unspecified", "unspecified", train, test))
        token = concept_token(name)
        rec += [RecItem("", name, photo, REC_QUESTION.format(token=token), "Yes", "positive") for photo in test]
        for other in _scenario(reader.root, case, name):
            if other == name:
                continue
            if other not in cases:
                raise SourceError(f"{case}/multi", other, f"scenario member {other!r} is not in {CASES_FILE}",
                                  "list every scenario member in concept_type.json")
            others = photos_in(reader, reader.root / cases[other] / "concept" / "test" / other)
            rec += [RecItem("", name, photo, REC_QUESTION.format(token=token), "No", "negative") for photo in others]

        vqa_file = f"{case}/concept/test/{name}/vqa.json"
        for key, entry in mapping(reader.json(test_dir / "vqa.json"), vqa_file, "", "image -> question").items():
            entry = mapping(entry, vqa_file, key, "Human / AI fields")
            image = resolve_anchored(reader, key, f"{case}/", vqa_file, key, keep=True)
            if image.parent != test_dir.resolve():
                raise SourceError(vqa_file, key, f"image {key!r} is not one of {name}'s test photos",
                                  f"name a photo in {case}/concept/test/{name}")
            vqa.append(VQAItem("", name, image, text(entry.get("Human"), vqa_file, f"{key}.Human", "question"),
                               text(entry.get("AI"), vqa_file, f"{key}.AI", "answer")))

        qa_file = f"{case}/concept/test/{name}/qa.json"
        questions = reader.json(test_dir / "qa.json")
        if not isinstance(questions, list):
            raise SourceError(qa_file, "", "expected a list of questions", 'write [{"question": ..., "answer": ...}]')
        for i, entry in enumerate(questions):
            entry = mapping(entry, qa_file, f"[{i}]", "question / answer fields")
            question = text(entry.get("question"), qa_file, f"[{i}].question", "question")
            qa.append(ChoiceItem("", name, TEXT_ONLY_IMAGE, question + QA_SUFFIX, [],
                                 text(entry.get("answer"), qa_file, f"[{i}].answer", "answer").strip()))
    items = {"rec": rec, "vqa": vqa, "qa_choice": qa}
    return ForeignSource("mcllava", reader.root, concepts, items, reader.files)
