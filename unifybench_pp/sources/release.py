"""Reader for the UnifyBench++ data folder exactly as the authors release it (a UniCTokens data folder).

    concept/train/<c>/info.json          class, info, extra_info, num_testing_info, generation_type,
                                         conversation_type
    concept/train/<c>/*.png              training reference images
    concept/train/train_images.json      {c: [image names]} (training images in this order)
    concept/test/<c>/*.png               test reference images (sorted by name; the first is the CLIP-I reference)
    concept/test/<c>/t2i_conditions.json the five prompt lists (see CONDITION_KEYS)
    test_data/<c>.json                   [{"image", "type": rec|vqa|text_only, "conversations": [...]}]
    black_512x512.png                    the image given with the text-only reasoning tasks

The concepts are the folders of `concept/train` holding an `info.json`,
sorted, as the public harness lists them. `test_data` names images by the
authors' absolute paths: they resolve by the part after `unictokens_data/`,
else relative to the data root; an image that resolves to nothing is an
error, never a guess by file name. Training-only files (`conversations.json`,
`*_recognitions.json`, `cropped/`, `negative_example/`) are not read here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import SourceError
from ..jsonio import read_json
from ..paths import OutsideRoot, UnsafePath, check_regular, entries, inside

TEST_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
PATH_ANCHOR = "unictokens_data/"
BLACK_IMAGE = "black_512x512.png"
TEST_DATA_TYPES = ("rec", "vqa", "text_only")
CONDITION_KEYS = (
    "dense_prompt_generation",
    "personalized_driven_generation",
    "explicit_personalized_driven_generation",
    "personalized_dense_prompt_generation",
    "explicit_personalized_dense_prompt_generation",
)
GENERATION_TYPES = {"live_subject": "live_subject", "live": "live_subject", "object": "object", "objects": "object"}
CATEGORY_WORDS = {"human": "person", "person": "person", "animal": "pet", "pet": "pet", "object": "object"}


@dataclass
class TestDatum:
    """One `test_data` entry: its type, resolved image, question (raw) and answer."""

    type: str
    image: Path
    question: str
    answer: str


@dataclass
class RawConcept:
    """One concept as the release gives it, paths resolved and validated."""

    name: str
    class_noun: str
    category: str
    generation_type: str
    info: str
    extra_info: list[str]
    num_testing_info: int
    train_images: list[Path]
    test_images: list[Path]
    conditions: dict[str, list[str]]
    test_data: list[TestDatum]


@dataclass
class RawSource:
    root: Path
    concepts: list[RawConcept]
    black_image: Path
    files: list[Path]
    """Every file the reader used, for the manifest's hashes."""


class SourceReader:
    """Reads files of one release folder: every path, symlinks resolved, must stay inside it (`paths.inside`), and
    only regular files are opened; each refusal is a SourceError naming the file."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.files: list[Path] = []

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def confined(self, candidate: Path, file: str, where: str, what: str, named: str) -> Path:
        """`candidate` (a path under the root, as named) resolved; refused when it leads outside the root."""
        try:
            return inside(self.root, candidate.relative_to(self.root).as_posix())
        except OutsideRoot as error:
            raise SourceError(file, where, f"{what} {named!r} escapes the source root ({error})",
                              "name a file inside the data folder, without '..' or a symlink out of it") from None
        except UnsafePath as error:
            raise SourceError(file, where, f"{what} {named!r} cannot be used: {error}", "repair the path") from None

    def regular(self, path: Path, file: str, where: str, what: str, named: str) -> bool:
        """Whether `path` exists; a path that exists and is not a regular file is refused."""
        try:
            check_regular(path)
        except FileNotFoundError:
            return False
        except UnsafePath as error:
            raise SourceError(file, where, f"{what} {named!r} {error}", "replace it with a regular file") from None
        return True

    def json(self, path: Path) -> Any:
        display = path.relative_to(self.root).as_posix()
        resolved = self.confined(path, display, "", "file", display)
        self.regular(resolved, display, "", "file", display)
        self.files.append(resolved)
        return read_json(resolved, display)

    def image(self, candidate: Path, file: str, where: str, named: str) -> Path:
        resolved = self.confined(candidate, file, where, "image path", named)
        if not self.regular(resolved, file, where, "image", named):
            raise SourceError(file, where, f"image {named!r} not found (looked for {self.rel(resolved)})",
                              "add the image or fix its path")
        return resolved


def text(value: Any, file: str, where: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SourceError(file, where, f"{what} is empty or missing", f"write a non-empty {what}")
    return value


def _texts(value: Any, file: str, where: str, what: str) -> list[str]:
    if not isinstance(value, list):
        raise SourceError(file, where, f"expected a list, one {what} per element", "wrap the entries in [...]")
    return [text(v, file, f"{where}[{i}]", what) for i, v in enumerate(value)]


def resolve_anchored(reader: SourceReader, raw: Any, anchor: str, file: str, where: str, keep: bool = False,
                     hint: str = "write the path relative to the data folder") -> Path:
    """An image a data file names: the part after `anchor` (a folder name the release's paths carry; from it on
    with `keep`) relative to the root, else the path itself relative to the root; never an absolute path, never
    outside the root, never a guess by file name."""
    if not isinstance(raw, str) or not raw.strip():
        raise SourceError(file, where, "image path is empty or not a string", "give the image's path")
    named = raw.replace("\\", "/")
    if anchor in named:
        rest = named.split(anchor, 1)[1]
        relative = PurePosixPath(anchor + rest if keep else rest)
    else:
        relative = PurePosixPath(named)
    if relative.is_absolute() or re.match(r"^[A-Za-z]:/", str(relative)):
        raise SourceError(file, where, f"absolute image path {raw!r} has no {anchor!r} part", hint)
    return reader.image(reader.root.joinpath(*relative.parts), file, where, raw)


def resolve_release_path(reader: SourceReader, raw: Any, file: str, where: str) -> Path:
    """An image named in `test_data`: the part after `unictokens_data/`, else a path relative to the root."""
    return resolve_anchored(reader, raw, PATH_ANCHOR, file, where,
                            hint=f"write the path relative to the data folder, or keep the '{PATH_ANCHOR}' prefix")


def _read_info(reader: SourceReader, name: str) -> dict[str, Any]:
    path = reader.root / "concept" / "train" / name / "info.json"
    info, file = reader.json(path), reader.rel(path)
    if not isinstance(info, dict):
        raise SourceError(file, "", "info.json must hold an object", 'write {"class": ..., "info": ..., ...}')
    kind = str(info.get("conversation_type", "")).strip().lower()
    if kind not in CATEGORY_WORDS:
        raise SourceError(file, "conversation_type", f"unknown conversation_type {info.get('conversation_type')!r}",
                          "use human, animal or object")
    gen = str(info.get("generation_type", "")).strip().lower().replace("-", "_").replace(" ", "_")
    if gen not in GENERATION_TYPES:
        raise SourceError(file, "generation_type", f"unknown generation_type {info.get('generation_type')!r}",
                          "use live_subject or object")
    extra = info.get("extra_info", [])
    extra = _texts([extra] if isinstance(extra, str) else extra, file, "extra_info", "extra_info entry")
    n = info.get("num_testing_info")
    if not isinstance(n, int) or isinstance(n, bool) or not 0 < n <= len(extra):
        raise SourceError(file, "num_testing_info", f"num_testing_info {n!r} is not between 1 and the "
                          f"{len(extra)} extra_info entries", "give how many trailing entries are held out")
    return {"class": text(info.get("class"), file, "class", "class noun"),
            "info": text(info.get("info"), file, "info", "info text"),
            "category": CATEGORY_WORDS[kind], "generation_type": GENERATION_TYPES[gen],
            "extra_info": extra, "num_testing_info": n}


def _read_conditions(reader: SourceReader, name: str, n_extra: int) -> dict[str, list[str]]:
    path = reader.root / "concept" / "test" / name / "t2i_conditions.json"
    data, file = reader.json(path), reader.rel(path)
    if not isinstance(data, dict):
        raise SourceError(file, "", "expected an object of prompt lists", f"write the keys {', '.join(CONDITION_KEYS)}")
    missing = [key for key in CONDITION_KEYS if key not in data]
    if missing:
        raise SourceError(file, missing[0], f"missing key {missing[0]!r}", "add the prompt list under that key")
    conditions = {key: _texts(data[key], file, key, "prompt") for key in CONDITION_KEYS}
    for implicit in ("personalized_driven_generation", "personalized_dense_prompt_generation"):
        explicit = f"explicit_{implicit}"
        if len(conditions[implicit]) != len(conditions[explicit]):
            raise SourceError(file, explicit, f"{len(conditions[explicit])} explicit prompts for "
                              f"{len(conditions[implicit])} implicit ones", "give one explicit prompt per implicit one")
    if len(conditions["personalized_driven_generation"]) != n_extra:
        raise SourceError(file, "personalized_driven_generation",
                          f"{len(conditions['personalized_driven_generation'])} prompts for {n_extra} extra_info "
                          "entries", "write one implicit prompt per extra_info entry, in the same order")
    return conditions


def _read_test_data(reader: SourceReader, name: str) -> list[TestDatum]:
    path = reader.root / "test_data" / f"{name}.json"
    data, file = reader.json(path), reader.rel(path)
    if not isinstance(data, list):
        raise SourceError(file, "", "expected a list of items", "wrap the items in [...]")
    items = []
    for i, entry in enumerate(data):
        where = f"[{i}]"
        if not isinstance(entry, dict) or entry.get("type") not in TEST_DATA_TYPES:
            raise SourceError(file, where, "item without a type rec, vqa or text_only", "give each item its type")
        turns = entry.get("conversations")
        if not isinstance(turns, list) or len(turns) < 2 or not all(isinstance(t, dict) for t in turns[:2]):
            raise SourceError(file, where, "expected 'conversations' with a human and a gpt turn",
                              'write [{"from": "human", "value": Q}, {"from": "gpt", "value": A}]')
        question = text(turns[0].get("value"), file, f"{where}.conversations[0]", "question")
        answer = text(turns[1].get("value"), file, f"{where}.conversations[1]", "answer")
        image = resolve_release_path(reader, entry.get("image"), file, f"{where}.image")
        items.append(TestDatum(entry["type"], image, question, answer))
    return items


def _train_images(reader: SourceReader, name: str, listed: dict[str, Any]) -> list[Path]:
    file = reader.rel(reader.root / "concept" / "train" / "train_images.json")
    names = listed.get(name)
    if not isinstance(names, list) or not names:
        raise SourceError(file, name, "no training images listed for the concept", "list its images")
    folder = reader.root / "concept" / "train" / name
    return [reader.image(folder / text(n, file, f"{name}[{i}]", "image name"), file, f"{name}[{i}]", n)
            for i, n in enumerate(names)]


def _test_images(reader: SourceReader, name: str) -> list[Path]:
    folder = reader.root / "concept" / "test" / name
    images = photos_in(reader, folder)
    if not images:
        raise SourceError(f"concept/test/{name}", "", "no test images", "add the concept's test photos")
    return images


def photos_in(reader: SourceReader, folder: Path, exclude_suffix: str | None = None) -> list[Path]:
    """The photos of a folder (by suffix), sorted by name, resolved: each must be a regular file inside the root
    (a symlink out of the release would be copied into the build and published as a reference image)."""
    if not folder.is_dir():
        return []
    reader.confined(folder, reader.rel(folder), "", "folder", reader.rel(folder))
    names = [p for p in listed(folder, reader.rel(folder)) if p.suffix.lower() in TEST_IMAGE_SUFFIXES
             and not (exclude_suffix and p.stem.endswith(exclude_suffix)) and not p.is_dir()]
    return [reader.image(p, reader.rel(p), "", p.name) for p in names]


def concept_names(root: Path) -> list[str]:
    """The concepts: folders of `concept/train` holding an `info.json`, sorted (the harness's list)."""
    train = root / "concept" / "train"
    if not train.is_dir():
        raise SourceError(root, "", "no concept/train folder: not a UnifyBench++ release",
                          "pass --source DIR of the authors' data folder")
    return [p.name for p in listed(train, "concept/train") if p.is_dir() and os.path.lexists(p / "info.json")]


def listed(folder: Path, shown: str) -> list[Path]:
    """A source folder's entries, sorted; one that cannot be listed is a SourceError naming it."""
    try:
        return entries(folder)
    except UnsafePath as error:
        raise SourceError(shown, "", f"folder {error}", "make the folder readable") from None


def release_reader(root: Path, hint: str, inner: str | None = None, marker: str | None = None) -> SourceReader:
    """A reader of the release folder: `root`, or its `inner` subfolder when that holds `marker` (the repository
    folder was given instead of the data folder)."""
    if inner is not None and (root / inner / marker).is_file():
        root = root / inner
    if not root.is_dir():
        raise SourceError(root, "", "a file, not the source folder" if root.is_file() else "source folder not found",
                          hint)
    return SourceReader(root)


def read_release(root: Path) -> RawSource:
    """Read and validate a release folder; every problem is a SourceError naming file and item."""
    reader = release_reader(root, "pass --source DIR of the authors' data folder")
    names = concept_names(reader.root)
    if not names:
        raise SourceError("concept/train", "", "no concept folder with an info.json", "add the concepts")
    listed = reader.json(reader.root / "concept" / "train" / "train_images.json")
    if not isinstance(listed, dict):
        raise SourceError("concept/train/train_images.json", "", "expected {concept: [image, ...]}", "fix the file")
    black = reader.image(reader.root / BLACK_IMAGE, BLACK_IMAGE, "", BLACK_IMAGE)
    concepts = []
    for name in names:
        info = _read_info(reader, name)
        concepts.append(RawConcept(
            name=name, class_noun=info["class"], category=info["category"], generation_type=info["generation_type"],
            info=info["info"], extra_info=info["extra_info"], num_testing_info=info["num_testing_info"],
            train_images=_train_images(reader, name, listed), test_images=_test_images(reader, name),
            conditions=_read_conditions(reader, name, len(info["extra_info"])),
            test_data=_read_test_data(reader, name),
        ))
    return RawSource(root=reader.root, concepts=concepts, black_image=black, files=reader.files)
