"""Reader for the UnifyBench data folder exactly as released with UniCTokens.

The layout (see README, "Source layout"):

    concepts_list.json                   ["bo", "mam", ...]
    random_images/*.png                  easy negatives (distractors)
    concept/train/train_images.json      optional {"bo": ["0.png", ...]}
    concept/train/<c>/info.json          {"class", "info", "conversation_type", "extra_info"}
    concept/train/<c>/<n>.png            training reference images
    concept/test/<c>/<n>.png             test reference images
    concept/test/<c>/vqa.json            {"0.png": [{"query", "answer"}, ...]} or a list with "image"
    concept/test/<c>/text_only.json      [{"query", "answer"}, ...] (a dict of such lists also accepted)
    concept/test/<c>/t2i_conditions.json list of prompts (first = plain) or
                                         {"personalized_driven_generation": [...], <other>: [...]}

Training-only files of the release (conversations.json, *_recognitions.json,
cropped/, negative_example/) are not benchmark inputs and are not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SourceError
from ..jsonio import read_json

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

#: `conversation_type` / category words of the release -> our category.
_CATEGORY_WORDS = {
    "human": "person",
    "person": "person",
    "animal": "pet",
    "pet": "pet",
    "object": "object",
}


@dataclass
class RawVQA:
    image: Path
    question: str
    answer: str


@dataclass
class RawConcept:
    """One concept as the source gives it, paths resolved and validated."""

    name: str
    class_noun: str
    category: str | None
    info: str
    train_images: list[Path]
    test_images: list[Path]
    vqa: list[RawVQA] = field(default_factory=list)
    qa: list[tuple[str, str]] = field(default_factory=list)
    plain_prompts: list[str] = field(default_factory=list)


@dataclass
class RawSource:
    root: Path
    concepts: list[RawConcept]
    distractors: list[Path]
    files: list[Path]
    """Every file the reader used, for the manifest's hashes."""


class _Reader:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.files: list[Path] = []

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def json(self, path: Path) -> Any:
        self.files.append(path)
        return read_json(path, self.rel(path))

    def inside(self, base: Path, name: Any, file: Path, where: str) -> Path:
        """Resolve a path named in a source file, refusing anything outside the source root."""
        if not isinstance(name, str) or not name.strip():
            raise SourceError(self.rel(file), where, "image path is empty or not a string", "give a file name")
        candidate = (base / name).resolve()
        if Path(name).is_absolute() or not candidate.is_relative_to(self.root):
            raise SourceError(
                self.rel(file), where, f"image path {name!r} escapes the source root",
                "use a path inside the dataset folder, without '..' or a leading '/'",
            )
        if not candidate.is_file():
            raise SourceError(self.rel(file), where, f"image {name!r} not found", "add the image or fix its name")
        return candidate


def _natural_key(path: Path) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name))


def list_images(folder: Path) -> list[Path]:
    """Image files directly in a folder (masks skipped), in natural order: 2.png before 10.png."""
    if not folder.is_dir():
        return []
    images = [
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and "mask" not in p.name
    ]
    return sorted(images, key=_natural_key)


def _text(value: Any, file: str, where: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SourceError(file, where, f"{what} is empty or missing", f"write a non-empty {what}")
    return value.strip()


def _qa_pair(entry: Any, file: str, where: str) -> tuple[str, str]:
    if not isinstance(entry, dict):
        raise SourceError(file, where, "expected an object with 'query' and 'answer'", "fix the entry")
    question = entry.get("query", entry.get("question"))
    return _text(question, file, where, "question"), _text(entry.get("answer"), file, where, "answer")


def _read_info(reader: _Reader, name: str) -> tuple[str, str | None, str]:
    path = reader.root / "concept" / "train" / name / "info.json"
    info = reader.json(path)
    file = reader.rel(path)
    if not isinstance(info, dict):
        raise SourceError(file, "", "info.json must hold an object", "write {\"class\": ..., \"info\": ...}")
    class_noun = _text(info.get("class"), file, "class", "class noun")
    profile = _text(info.get("info"), file, "info", "info sentence")
    kind = info.get("conversation_type")
    category = _CATEGORY_WORDS.get(str(kind).lower()) if kind is not None else None
    return class_noun, category, profile


def _read_train_images(reader: _Reader, name: str, listed: dict[str, Any] | None) -> list[Path]:
    folder = reader.root / "concept" / "train" / name
    if listed is not None and name in listed:
        file = reader.root / "concept" / "train" / "train_images.json"
        names = listed[name]
        if not isinstance(names, list):
            raise SourceError(reader.rel(file), name, "expected a list of image names", "fix the entry")
        return [reader.inside(folder, n, file, f"{name}[{i}]") for i, n in enumerate(names)]
    return list_images(folder)


def _read_vqa(reader: _Reader, name: str) -> list[RawVQA]:
    folder = reader.root / "concept" / "test" / name
    path = folder / "vqa.json"
    if not path.exists():
        return []
    data, file = reader.json(path), reader.rel(path)
    items: list[RawVQA] = []
    if isinstance(data, dict):
        for image_name, entries in data.items():
            if not isinstance(entries, list):
                raise SourceError(file, repr(image_name), "expected a list of questions", "wrap the entries in [...]")
            image = reader.inside(folder, image_name, path, repr(image_name))
            for i, entry in enumerate(entries):
                question, answer = _qa_pair(entry, file, f"{image_name!r}[{i}]")
                items.append(RawVQA(image, question, answer))
    elif isinstance(data, list):
        for i, entry in enumerate(data):
            question, answer = _qa_pair(entry, file, f"[{i}]")
            image = reader.inside(folder, entry.get("image"), path, f"[{i}].image")
            items.append(RawVQA(image, question, answer))
    else:
        raise SourceError(file, "", "expected an object keyed by image or a list", "see the README's source layout")
    return items


def _read_qa(reader: _Reader, name: str) -> list[tuple[str, str]]:
    path = reader.root / "concept" / "test" / name / "text_only.json"
    if not path.exists():
        return []
    data, file = reader.json(path), reader.rel(path)
    if isinstance(data, dict):
        groups = [(f"{key!r}", entries) for key, entries in data.items()]
    else:
        groups = [("", data)]
    pairs = []
    for prefix, entries in groups:
        if not isinstance(entries, list):
            raise SourceError(file, prefix, "expected a list of questions", "wrap the entries in [...]")
        pairs += [_qa_pair(entry, file, f"{prefix}[{i}]") for i, entry in enumerate(entries)]
    return pairs


def _read_plain_prompts(reader: _Reader, name: str) -> list[str]:
    """Plain generation prompts; knowledge-driven ones are superseded by the annotation file."""
    path = reader.root / "concept" / "test" / name / "t2i_conditions.json"
    if not path.exists():
        return []
    data, file = reader.json(path), reader.rel(path)
    if isinstance(data, list):
        return [_text(data[0], file, "[0]", "prompt")] if data else []
    if isinstance(data, dict):
        prompts = []
        for key, entries in data.items():
            if key == "personalized_driven_generation":
                continue
            if not isinstance(entries, list):
                raise SourceError(file, repr(key), "expected a list of prompts", "wrap the prompts in [...]")
            prompts += [_text(p, file, f"{key!r}[{i}]", "prompt") for i, p in enumerate(entries)]
        return prompts
    raise SourceError(file, "", "expected a list or an object of prompt lists", "see the README's source layout")


def read_unictokens(root: Path) -> RawSource:
    """Read and validate a UnifyBench folder; every problem is a SourceError naming file and item."""
    if not root.is_dir():
        raise SourceError(root, "", "source folder not found", "pass --source DIR of the UnifyBench release")
    reader = _Reader(root)
    names = reader.json(reader.root / "concepts_list.json")
    list_file = "concepts_list.json"
    if not isinstance(names, list) or not names:
        raise SourceError(list_file, "", "expected a non-empty list of concept names", "write [\"bo\", ...]")
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
            raise SourceError(list_file, f"[{i}]", f"bad concept name {name!r}", "use letters, digits, '_' or '-'")
        if name in seen:
            raise SourceError(list_file, f"[{i}]", f"duplicate concept id {name!r}", "list each concept once")
        seen.add(name)

    listed_path = reader.root / "concept" / "train" / "train_images.json"
    listed = reader.json(listed_path) if listed_path.exists() else None
    if listed is not None and not isinstance(listed, dict):
        raise SourceError(reader.rel(listed_path), "", "expected {concept: [image, ...]}", "fix the file")

    concepts = []
    for name in names:
        class_noun, category, profile = _read_info(reader, name)
        concepts.append(
            RawConcept(
                name=name,
                class_noun=class_noun,
                category=category,
                info=profile,
                train_images=_read_train_images(reader, name, listed),
                test_images=list_images(reader.root / "concept" / "test" / name),
                vqa=_read_vqa(reader, name),
                qa=_read_qa(reader, name),
                plain_prompts=_read_plain_prompts(reader, name),
            )
        )
    distractors = list_images(reader.root / "random_images")
    return RawSource(root=reader.root, concepts=concepts, distractors=distractors, files=reader.files)
