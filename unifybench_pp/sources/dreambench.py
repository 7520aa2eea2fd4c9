"""Reader for DreamBench exactly as `google/dreambooth` releases it (folder `dataset/`).

    dataset/<subject>/*.jpg           the subject's photos (all of them: DreamBooth trains on them and
                                      computes CLIP-I / DINO against them)
    dataset/prompts_and_classes.txt   "Classes": `subject_name,class` lines; "Prompts": the 25 object and
                                      the 25 live-subject prompts as Python `'a {0} {1} in the jungle'.format(
                                      unique_token, class_token)` lines

Each subject gets the 25 prompts of its kind with `{0}` its token and `{1}`
its class ("a <dog> dog in the jungle"); the CLIP-T text is the prompt
without the token ("a dog in the jungle"). The file does not say which
subjects are live: DreamBooth's paper names its live subjects the dogs and
cats, so a subject of class dog or cat gets the live-subject prompts.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import SourceError
from ..paths import NotText, read_regular_text
from ..schema import PureGenItem
from ..views import concept_token
from .foreign import ForeignConcept, ForeignSource, subfolders
from .release import photos_in, release_reader

PROMPTS_FILE = "prompts_and_classes.txt"
LIVE_CLASSES = ("dog", "cat")
PROMPTS_PER_KIND = 25
_PROMPT = re.compile(r"""^\s*(['"])(.*)\1\.format\(\s*unique_token\s*,\s*class_token\s*\)\s*,?\s*$""")


def _sections(lines: list[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(subject -> class, kind -> prompt templates) from the file's "Classes" and prompt-list sections."""
    classes: dict[str, str] = {}
    prompts: dict[str, list[str]] = {"object": [], "live_subject": []}
    section = None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        heading = stripped.lower()
        if heading == "classes":
            section = "classes"
        elif heading == "object prompts":
            section = "object"
        elif heading == "live subject prompts":
            section = "live_subject"
        elif not stripped or heading in ("prompts", "subject_name,class", "prompt_list = [", "]"):
            continue
        elif section == "classes":
            subject, sep, noun = stripped.partition(",")
            if not sep or not subject.strip() or not noun.strip():
                raise SourceError(PROMPTS_FILE, f"line {number}", f"expected 'subject_name,class', got {stripped!r}",
                                  "write one subject and its class per line")
            if subject.strip() in classes:
                raise SourceError(PROMPTS_FILE, f"line {number}", f"duplicate subject {subject.strip()!r}",
                                  "list each subject once")
            classes[subject.strip()] = noun.strip()
        elif section in prompts:
            match = _PROMPT.match(stripped)
            if not match or "{0}" not in match.group(2) or "{1}" not in match.group(2):
                raise SourceError(PROMPTS_FILE, f"line {number}", f"not a prompt line: {stripped!r}",
                                  "write 'a {0} {1} ...'.format(unique_token, class_token),")
            prompts[section].append(match.group(2))
    return classes, prompts


def read_dreambench(root: Path) -> ForeignSource:
    """Read and validate a DreamBench `dataset/` folder (or the repository folder holding it)."""
    reader = release_reader(root, "pass --source DIR of DreamBench's dataset/ folder", "dataset", PROMPTS_FILE)
    path = reader.confined(reader.root / PROMPTS_FILE, PROMPTS_FILE, "", "file", PROMPTS_FILE)
    if not reader.regular(path, PROMPTS_FILE, "", "file", PROMPTS_FILE):
        raise SourceError(PROMPTS_FILE, "", "file not found: not a DreamBench dataset folder",
                          "pass --source DIR of google/dreambooth's dataset/ folder")
    reader.files.append(path)
    try:
        lines = read_regular_text(path).splitlines()
    except NotText as error:
        raise SourceError(PROMPTS_FILE, f"byte {error.offset}", error.reason, "save the file as UTF-8") from None
    classes, prompts = _sections(lines)
    if not classes:
        raise SourceError(PROMPTS_FILE, "Classes", "no subject classes", "list 'subject_name,class' lines")
    for kind, templates in prompts.items():
        if len(templates) != PROMPTS_PER_KIND:
            raise SourceError(PROMPTS_FILE, kind, f"{len(templates)} {kind} prompts, expected {PROMPTS_PER_KIND}",
                              "give the 25 prompts of each kind")
    folders = subfolders(reader.root)
    unlisted = [f for f in folders if f not in classes]
    if unlisted:
        raise SourceError(unlisted[0], "", f"subject folder {unlisted[0]!r} has no class in {PROMPTS_FILE}",
                          "add 'subject_name,class' for it")
    concepts, items = [], []
    for subject in sorted(classes):
        photos = photos_in(reader, reader.root / subject)
        if not photos:
            raise SourceError(subject, "", f"subject {subject!r} has no photos",
                              "add its photos or drop its class line")
        noun = classes[subject]
        kind = "live_subject" if noun.lower() in LIVE_CLASSES else "object"
        concepts.append(ForeignConcept(subject, noun, "pet" if kind == "live_subject" else "object", kind,
                                       photos, photos))
        token = concept_token(subject)
        items += [PureGenItem("", subject, template.format(token, noun),
                              " ".join(template.format("", noun).split()))
                  for template in prompts[kind]]
    return ForeignSource("dreambench", reader.root, concepts, {"pure_gen": items}, reader.files,
                         tests_on_training_photos=True)
