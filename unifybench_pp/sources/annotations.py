"""Reader for the UnifyBench++ annotation file: the additions UnifyBench lacks.

One JSON file, keyed by concept id (format documented in the README,
"Annotation file"):

    {"format": "unifybench_pp.annotations", "version": 1,
     "concepts": {"bo": {
        "category": "pet",                                   optional override
        "pure_gen": ["A photo of <bo>."],                    optional
        "extra_info": [{"text", "reasoning_prompt", "placeholder", "detail",
                        "id"?, "split"?: "train" | "heldout"}],
        "dense_gen": [{"prompt", "segments"?}],
        "dense_rea": [{"question", "answer"}],
        "dense_rea_gen": [{"prompt", "placeholder", "detail", "segments"?}]}},
     "image_credits": {"<source-relative image path>":
                       {"origin", "license", "derivation"?}}}          optional
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SourceError
from ..jsonio import read_json
from ..schema import CATEGORIES

FORMAT = "unifybench_pp.annotations"
FORMAT_VERSION = 1


@dataclass
class RawExtraInfo:
    id: str | None
    text: str
    reasoning_prompt: str
    placeholder: str
    detail: str
    split: str | None
    where: str


@dataclass
class RawDensePrompt:
    prompt: str
    segments: list[str] | None
    placeholder: str = ""
    detail: str = ""


@dataclass
class ConceptAnnotation:
    category: str | None = None
    pure_gen: list[str] = field(default_factory=list)
    extra_info: list[RawExtraInfo] = field(default_factory=list)
    dense_gen: list[RawDensePrompt] = field(default_factory=list)
    dense_rea: list[tuple[str, str]] = field(default_factory=list)
    dense_rea_gen: list[RawDensePrompt] = field(default_factory=list)


@dataclass
class ImageCredit:
    origin: str
    license: str
    derivation: str = ""


@dataclass
class Annotations:
    concepts: dict[str, ConceptAnnotation]
    image_credits: dict[str, ImageCredit]


class _Checker:
    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, where: str, problem: str, fix: str) -> SourceError:
        return SourceError(self.file, where, problem, fix)

    def text(self, obj: dict, key: str, where: str) -> str:
        value = obj.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key}", f"'{key}' is empty or missing", f"write a non-empty '{key}'")
        return value.strip()

    def entries(self, obj: dict, key: str, where: str) -> list[Any]:
        value = obj.get(key, [])
        if not isinstance(value, list):
            raise self.fail(f"{where}.{key}", "expected a list", "wrap the entries in [...]")
        for i, entry in enumerate(value):
            if not isinstance(entry, (dict, str)):
                raise self.fail(f"{where}.{key}[{i}]", "expected an object", "fix the entry")
        return value

    def placeholder(self, entry: dict, prompt: str, where: str) -> tuple[str, str]:
        placeholder = self.text(entry, "placeholder", where)
        if placeholder not in prompt:
            raise self.fail(
                f"{where}.placeholder", f"placeholder {placeholder!r} does not occur in the prompt",
                "copy the placeholder span from the prompt verbatim",
            )
        return placeholder, self.text(entry, "detail", where)

    def segments(self, entry: dict, where: str) -> list[str] | None:
        if "segments" not in entry:
            return None
        value = entry["segments"]
        if not isinstance(value, list) or not value or not all(isinstance(s, str) and s.strip() for s in value):
            raise self.fail(f"{where}.segments", "segments must be a non-empty list of non-empty strings",
                            "list the clauses or drop 'segments' to split on punctuation")
        return [s.strip() for s in value]


def _concept(check: _Checker, name: str, body: Any) -> ConceptAnnotation:
    where = f"concepts.{name}"
    if not isinstance(body, dict):
        raise check.fail(where, "expected an object", "see the README's annotation format")
    ann = ConceptAnnotation()
    if "category" in body:
        if body["category"] not in CATEGORIES:
            raise check.fail(f"{where}.category", f"unknown category {body['category']!r}", f"use one of {CATEGORIES}")
        ann.category = body["category"]
    for i, prompt in enumerate(check.entries(body, "pure_gen", where)):
        if not isinstance(prompt, str) or not prompt.strip():
            raise check.fail(f"{where}.pure_gen[{i}]", "empty prompt", "write a non-empty prompt")
        ann.pure_gen.append(prompt.strip())
    for i, entry in enumerate(check.entries(body, "extra_info", where)):
        w = f"{where}.extra_info[{i}]"
        prompt = check.text(entry, "reasoning_prompt", w)
        placeholder, detail = check.placeholder(entry, prompt, w)
        split = entry.get("split")
        if split not in (None, "train", "heldout"):
            raise check.fail(f"{w}.split", f"unknown split {split!r}", "use 'train', 'heldout' or leave it out")
        ident = entry.get("id")
        if ident is not None and (not isinstance(ident, str) or not ident.strip()):
            raise check.fail(f"{w}.id", "id must be a non-empty string", "fix or drop the id")
        ann.extra_info.append(RawExtraInfo(ident, check.text(entry, "text", w), prompt, placeholder, detail, split, w))
    for i, entry in enumerate(check.entries(body, "dense_gen", where)):
        w = f"{where}.dense_gen[{i}]"
        ann.dense_gen.append(RawDensePrompt(check.text(entry, "prompt", w), check.segments(entry, w)))
    for i, entry in enumerate(check.entries(body, "dense_rea", where)):
        w = f"{where}.dense_rea[{i}]"
        ann.dense_rea.append((check.text(entry, "question", w), check.text(entry, "answer", w)))
    for i, entry in enumerate(check.entries(body, "dense_rea_gen", where)):
        w = f"{where}.dense_rea_gen[{i}]"
        prompt = check.text(entry, "prompt", w)
        placeholder, detail = check.placeholder(entry, prompt, w)
        ann.dense_rea_gen.append(RawDensePrompt(prompt, check.segments(entry, w), placeholder, detail))
    return ann


def _credits(check: _Checker, data: Any) -> dict[str, ImageCredit]:
    if not isinstance(data, dict):
        raise check.fail("image_credits", "expected an object keyed by image path", "see the README")
    credits = {}
    for path, entry in data.items():
        where = f"image_credits.{path}"
        if not isinstance(entry, dict):
            raise check.fail(where, "expected an object with 'origin' and 'license'", "fix the entry")
        credits[path] = ImageCredit(
            check.text(entry, "origin", where), check.text(entry, "license", where), str(entry.get("derivation", ""))
        )
    return credits


def read_annotations(path: Path, known_concepts: list[str]) -> Annotations:
    """Parse and validate the annotation file against the concepts the source defines."""
    data = read_json(path, path.name)
    check = _Checker(path.name)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise check.fail("format", f"not a UnifyBench++ annotation file (format must be {FORMAT!r})",
                         "pass the annotation file, or add the 'format' field")
    if data.get("version") != FORMAT_VERSION:
        raise check.fail("version", f"unsupported version {data.get('version')!r}", f"use version {FORMAT_VERSION}")
    concepts = data.get("concepts")
    if not isinstance(concepts, dict):
        raise check.fail("concepts", "expected an object keyed by concept id", "see the README's annotation format")
    known = set(known_concepts)
    result = {}
    for name, body in concepts.items():
        if name not in known:
            raise check.fail(f"concepts.{name}", f"unknown concept {name!r} (not in concepts_list.json)",
                             "fix the concept id or add the concept to the source")
        result[name] = _concept(check, name, body)
    return Annotations(result, _credits(check, data.get("image_credits", {})))
