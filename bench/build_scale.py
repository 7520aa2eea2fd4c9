"""Build time against the number of concepts: 100 vs 800 synthetic concepts, ours vs the earlier quadratic build.

The reference is the build as it was before the leakage check indexed the
model inputs and before SPLITS.md stopped scanning every extra_info entry for
every concept: the same builder with those two parts put back (below), run in
the same process on the same sources. Linear means the 800/100 time ratio is
near 8; both builds must write the same bytes.

    python -m bench.build_scale [--small 100 --large 800]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

from jinja2 import Template

from unifybench_pp import SplitConfig, build, builder, card
from unifybench_pp.errors import SourceError
from unifybench_pp.schema import Concept, ExtraInfo
from unifybench_pp.splits import ALLOWED_CARRIERS, ModelInput, _normalized

REFERENCE_SPLITS_ROW = (
    '| `{{ c.token }}` | {{ c.category }} | {{ c.generation_type }} | {{ c.train_images | length }} | '
    '{{ c.test_images | length }} | {{ extra_info | selectattr("concept", "equalto", c.id) | '
    'selectattr("split", "equalto", "train") | map(attribute="id") | join(", ") or "-" }} | '
    '{{ extra_info | selectattr("concept", "equalto", c.id) | selectattr("split", "equalto", "heldout") | '
    'map(attribute="id") | join(", ") or "-" }} |')


def reference_check_leakage(concepts: Sequence[Concept], extra_info: Sequence[ExtraInfo],
                            inputs: Iterable[ModelInput], evaluated_images: dict[str, str],
                            image_origins: dict[str, list[str]]) -> None:
    """The earlier check: every held-out text against every model input (concepts x concepts)."""
    train_text = {}
    for entry in extra_info:
        if entry.split == "train":
            for text in (entry.text, entry.implicit_prompt, entry.explicit_prompt):
                train_text.setdefault(_normalized(text), entry)
    inputs = [(i, _normalized(i.text)) for i in inputs]
    for entry in (e for e in extra_info if e.split == "heldout"):
        for what, text in {"text": entry.text, "implicit prompt": entry.implicit_prompt,
                           "explicit prompt": entry.explicit_prompt}.items():
            needle = _normalized(text)
            if needle in train_text:
                raise SourceError("", entry.id, "leak", "")
            for model_input, haystack in inputs:
                if model_input.task not in ALLOWED_CARRIERS[what] and needle in haystack:
                    raise SourceError("", model_input.item, "leak", "")
    train_images = {image for c in concepts for image in c.train_images}
    if any(image in train_images for image in evaluated_images):
        raise SourceError("", "", "leak", "")


class _ReferenceSplits:
    """The earlier SPLITS.md template, given the entries as the flat list it scanned once per concept."""

    def __init__(self, template: Template) -> None:
        self.template = template

    def render(self, **context: object) -> str:
        listed = [SimpleNamespace(concept=concept, split=split, id=id_)
                  for concept, splits in context["entries"].items() for split, ids in splits.items() for id_ in ids]
        return self.template.render(**context, extra_info=listed)


@contextmanager
def reference_build() -> Iterator[None]:
    """The builder with the earlier leakage check and the earlier SPLITS.md row (concepts x entries)."""
    env = card._ENV
    source, _, _ = env.loader.get_source(env, "splits.md.j2")
    row = next(line for line in source.splitlines() if line.startswith("| `{{ c.token }}`"))
    splits = _ReferenceSplits(env.from_string(source.replace(row, REFERENCE_SPLITS_ROW)))
    original = env.get_template

    def get_template(name: str, *args: object, **kwargs: object) -> object:
        return splits if name == "splits.md.j2" else original(name, *args, **kwargs)

    with mock.patch.object(builder, "check_leakage", reference_check_leakage), \
            mock.patch.object(env, "get_template", get_template):
        yield


def timed_build(source: Path, out: Path) -> float:
    start = time.perf_counter()
    build(source, out, SplitConfig(), quiet=True)
    return time.perf_counter() - start


def digest(folder: Path) -> str:
    total = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        total.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return total.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=800)
    args = parser.parse_args()

    from bench.release_fixture import write_synthetic

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sources = {n: write_synthetic(root / f"src{n}", n) for n in (args.small, args.large)}
        ours = {n: timed_build(s, root / f"ours{n}") for n, s in sources.items()}
        with reference_build():
            reference = {n: timed_build(s, root / f"ref{n}") for n, s in sources.items()}
        same = all(digest(root / f"ours{n}") == digest(root / f"ref{n}") for n in sources)
    small, large = args.small, args.large
    print(f"| build, synthetic {small} vs {large} concepts (4 extra_info each), CPU | "
          f"ours {ours[small]:.2f} s -> {ours[large]:.2f} s; earlier build {reference[small]:.2f} s -> "
          f"{reference[large]:.2f} s | time x{ours[large] / ours[small]:.1f} (earlier x"
          f"{reference[large] / reference[small]:.1f}) for x{large / small:.0f} concepts; "
          f"at {large}: x{reference[large] / ours[large]:.1f} faster | same bytes: {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
