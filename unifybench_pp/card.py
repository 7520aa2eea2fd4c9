"""The generated dataset card (README.md) and split summary (SPLITS.md) of a build."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from .images import ImageStore
from .markdown import code_span, markdown_text
from .schema import TASK_TITLES, TASKS, Concept, ExtraInfo, TaskItem, field_docs

_ENV = Environment(
    loader=PackageLoader("unifybench_pp", "templates"),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
# Every value from the release (names, versions, categories, paths) goes through one of these in the templates.
_ENV.filters.update(md=markdown_text, code=code_span)


def write_card(
    out: Path,
    manifest: dict,
    concepts: list[Concept],
    extra_info: list[ExtraInfo],
    tasks: dict[str, list[TaskItem]],
    store: ImageStore,
) -> None:
    origins = manifest["image_origins"]
    images = [
        {
            "name": image.name,
            "size": f"{image.width}x{image.height}",
            "origins": origins[image.name],
        }
        for image in store.stored()
    ]
    entries: dict[str, dict[str, list[str]]] = {c.id: {"train": [], "heldout": []} for c in concepts}
    for entry in extra_info:  # grouped once: the template must not scan every entry for every concept
        entries[entry.concept][entry.split].append(entry.id)
    context = {
        "manifest": manifest,
        "entries": entries,
        "concepts": concepts,
        "tasks": [(task, TASK_TITLES[task], len(items)) for task, items in tasks.items()],
        "categories": sorted(manifest["counts"]["concepts"]),
        "images": images,
        "records": [("concepts.jsonl", Concept), ("extra_info.jsonl", ExtraInfo)]
        + [(f"{task}.jsonl", cls) for task, cls in TASKS.items()],
        "field_docs": field_docs,
    }
    for template, target in (("card.md.j2", "README.md"), ("splits.md.j2", "SPLITS.md")):
        (out / target).write_text(_ENV.get_template(template).render(**context), encoding="utf-8")
