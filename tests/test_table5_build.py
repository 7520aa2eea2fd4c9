"""Table 5's benchmarks built from fixtures in their public release layouts: counts and prompts as each
benchmark's own evaluation code forms them, determinism, and every bad-input kind of the UnifyBench++ builder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import unifybench_pp
from unifybench_pp import SourceError
from unifybench_pp.prompts import PURE_GEN_TEMPLATES

from .table5_fixtures import (
    DREAMBENCH_SUBJECTS,
    MCLLAVA_CONCEPTS,
    YOLLAVA_CONCEPTS,
    YOLLAVA_TEST_ONLY,
    write_dreambench,
    write_mcllava,
    write_yollava,
)

WRITERS = {"dreambench": write_dreambench, "yollava": write_yollava, "mcllava": write_mcllava}


def build(fmt: str, source: Path, out: Path) -> unifybench_pp.Benchmark:
    return unifybench_pp.load(unifybench_pp.build(source, out, quiet=True, format=fmt).out)


def counts(bench: unifybench_pp.Benchmark) -> dict[str, int]:
    return {task: len(items) for task, items in bench.tasks.items() if items}


# --- DreamBench -----------------------------------------------------------------------------------------

def test_dreambench_builds_25_prompts_per_subject_by_kind(tmp_path: Path) -> None:
    bench = build("dreambench", write_dreambench(tmp_path), tmp_path / "out")
    assert counts(bench) == {"pure_gen": 25 * len(DREAMBENCH_SUBJECTS)}
    assert bench.manifest["format"] == "dreambench" and bench.version.startswith("dreambench-")
    cat, can = bench.concepts["cat"], bench.concepts["can"]
    assert (cat.generation_type, cat.category, can.generation_type) == ("live_subject", "pet", "object")
    # DreamBooth's file and the Sync-R1 harness's templates (transcribed independently) are the same 25 prompts.
    for concept, kind in (("cat", "live_subject"), ("can", "object"), ("rocket_toy", "object")):
        noun = bench.concepts[concept].class_noun
        items = bench.items("pure_gen", [concept])
        assert [i.clip_text for i in items] == [t.format(noun) for t in PURE_GEN_TEMPLATES[kind]]
        assert [i.prompt for i in items] == [t.format(f"<{concept}> {noun}") for t in PURE_GEN_TEMPLATES[kind]]
    assert bench.item("pure_gen", "pure_gen/cat/010").prompt == "a <cat> cat wearing a red hat"
    # Every photo is both what DreamBooth trains on and what CLIP-I / DINO compare with.
    assert cat.train_images == cat.test_images and len(cat.test_images) == 2


def test_dreambench_accepts_the_repository_folder(tmp_path: Path) -> None:
    write_dreambench(tmp_path / "repo")  # the cloned repository, its dataset/ inside; --out beside it
    assert len(build("dreambench", tmp_path / "repo", tmp_path / "out").tasks["pure_gen"]) == 75


# --- Yo'LLaVA -------------------------------------------------------------------------------------------

def test_yollava_items_as_its_evaluation_code_forms_them(tmp_path: Path) -> None:
    bench = build("yollava", write_yollava(tmp_path), tmp_path / "out")
    photos = 2 * (len(YOLLAVA_CONCEPTS) + len(YOLLAVA_TEST_ONLY))
    # test-sks-acc.py asks every concept about every photo of every test folder.
    assert counts(bench) == {"rec": len(YOLLAVA_CONCEPTS) * photos, "vqa_choice": 3, "qa_choice": 3, "pure_gen": 2}
    assert set(bench.concepts) == set(YOLLAVA_CONCEPTS)  # test-only folders are negatives, not concepts
    bo = bench.items("rec", ["bo"])
    assert [i.answer for i in bo] == ["Yes", "Yes", "No", "No", "No", "No"]  # folders bo, mam, thao (sorted)
    assert {i.question for i in bo} == {"Can you see <bo> in this photo? Answer with a single word or phrase."}
    vqa = bench.item("vqa_choice", "vqa_choice/bo/000")
    assert (vqa.question, vqa.options, vqa.answer) == \
        ("What is the primary color of <bo>'s fur?Brown or Grey?", ["Brown", "Grey"], "A")
    assert vqa.image == bench.concepts["bo"].test_images[0]  # ./yollava-data/test/bo/0.png
    qa = bench.item("qa_choice", "qa_choice/bo/000")
    assert (qa.question, qa.answer) == ("Is <bo> a dog or a cat?Dog or Cat?", "B")
    assert bench.item("pure_gen", "pure_gen/mam/000").prompt == "A photo of <mam>."


def test_yollava_without_the_text_qa_file_says_so(tmp_path: Path) -> None:
    bench = build("yollava", write_yollava(tmp_path, text_qa=False), tmp_path / "out")
    assert bench.tasks["qa_choice"] == []
    assert "text_qa_soft_2.json absent" in bench.manifest["notes"][0]


# --- MC-LLaVA -------------------------------------------------------------------------------------------

def test_mcllava_single_concept_subset(tmp_path: Path) -> None:
    bench = build("mcllava", write_mcllava(tmp_path), tmp_path / "out")
    # Rec.: own test photos "Yes", the other scenario members' "No" (eval.py's si_sq items); C has no scenario.
    assert counts(bench) == {"rec": 4 + 4 + 2, "vqa": 6, "qa_choice": 6}
    assert [i.answer for i in bench.items("rec", ["A"])] == ["Yes", "Yes", "No", "No"]
    assert [i.answer for i in bench.items("rec", ["C"])] == ["Yes", "Yes"]
    assert bench.items("rec", ["A"])[2].image == bench.concepts["B"].test_images[0]
    assert bench.item("rec", "rec/A/000").question == \
        "Can you see <A> in this photo? Answer the question using a single word Yes or No."
    vqa = bench.item("vqa", "vqa/B/001")
    assert (vqa.question, vqa.answer, vqa.image) == ("What is <B> doing in the photo 1?", "<B> is standing still 1.",
                                                      bench.concepts["B"].test_images[1])
    qa = bench.item("qa_choice", "qa_choice/A/000")
    assert qa.question.endswith("C. blue\nIMPORTANT: Answer the question using a single letter.")
    assert (qa.options, qa.answer) == ([], "B")
    assert all(len(c.train_images) == 2 for c in bench.concepts.values())  # the *_mask.png files are not photos
    assert set(bench.concepts) == set(MCLLAVA_CONCEPTS)


# --- every format ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", list(WRITERS))
def test_builds_are_deterministic_and_loadable_as_hf(fmt: str, tmp_path: Path) -> None:
    source = WRITERS[fmt](tmp_path / "src")
    first, second = tmp_path / "a", tmp_path / "b"
    unifybench_pp.build(source, first, quiet=True, format=fmt)
    unifybench_pp.build(source, second, quiet=True, format=fmt)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    bench = unifybench_pp.load(first)
    assert unifybench_pp.Benchmark.from_hf(bench.to_hf(), bench.root, bench.manifest) == bench
    assert (first / "README.md").is_file()


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_cli_builds_with_format(fmt: str, tmp_path: Path) -> None:
    source = WRITERS[fmt](tmp_path / "src")
    done = subprocess.run([sys.executable, "-m", "cli", "build-dataset", "--format", fmt, "--source", str(source),
                           "--out", str(tmp_path / "out"), "-q"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["format"] == fmt


# --- bad input: each kind the UnifyBench++ builder catches, caught here too ---------------------------------

def edit_json(path: Path, change: Callable[[dict], object]) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps(change(data) or data, indent=2))


def corrupt(path: Path) -> None:
    path.write_bytes(b"not an image at all")


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:60])


YQA = "yollava-visual-qa.json"
BO0 = "./yollava-data/test/bo/0.png"
MCA = "two_concept/concept/test/A"

BAD = {
    # missing image, named by a QA file
    "yollava-missing-image": ("yollava", lambda s: edit_json(s / YQA, lambda d: d["bo"].update(
        {"./yollava-data/test/bo/7.png": d["bo"].pop(BO0)})), (YQA, "not found", "test/bo/7.png")),
    "mcllava-missing-image": ("mcllava", lambda s: edit_json(s / MCA / "vqa.json", lambda d: {
        k.replace("0.png", "9.png"): v for k, v in d.items()}), ("vqa.json", "not found")),
    # a path escaping the source folder
    "yollava-escape": ("yollava", lambda s: edit_json(s / YQA, lambda d: d["bo"].update(
        {"../../etc/passwd.png": d["bo"].pop(BO0)})), (YQA, "escapes the source root")),
    "mcllava-absolute": ("mcllava", lambda s: edit_json(s / MCA / "vqa.json", lambda d: {
        "/data/elsewhere/0.png": v for v in d.values()}),  # noqa: B035 (one entry, an absolute path)
        ("vqa.json", "absolute image path")),
    # corrupt and truncated images
    "dreambench-corrupt": ("dreambench", lambda s: corrupt(s / "cat" / "00.jpg"), ("cat/00.jpg", "corrupt")),
    "yollava-truncated": ("yollava", lambda s: truncate(s / "train" / "bo" / "1.png"), ("train/bo/1.png", "corrupt")),
    "mcllava-corrupt": ("mcllava", lambda s: corrupt(s / MCA / "1.png"), (f"{MCA}/1.png", "corrupt")),
    # malformed JSON and duplicate keys
    "yollava-malformed": ("yollava", lambda s: (s / YQA).write_text('{"bo": {'), (YQA, "line")),
    "mcllava-malformed": ("mcllava", lambda s: (s / MCA / "qa.json").write_text("[{"), ("qa.json", "line")),
    "mcllava-duplicate-key": ("mcllava", lambda s: (s / "concept_type.json").write_text(
        '{"A": "two_concept", "A": "two_concept", "B": "two_concept", "C": "two_concept"}'),
        ("concept_type.json", "duplicate key 'A'")),
    # a missing prompt list / a wrong number of prompts
    "dreambench-24-prompts": ("dreambench", lambda s: (s / "prompts_and_classes.txt").write_text(
        (s / "prompts_and_classes.txt").read_text().replace(
            "'a {0} {1} in the snow'.format(unique_token, class_token),\n", "", 1)),
        ("prompts_and_classes.txt:object", "24 object prompts")),
    "dreambench-no-prompts-file": ("dreambench", lambda s: (s / "prompts_and_classes.txt").unlink(),
                                   ("prompts_and_classes.txt", "not a DreamBench")),
    "dreambench-unlisted-subject": ("dreambench", lambda s: shutil.copytree(s / "cat", s / "ghost"),
                                    ("ghost", "has no class")),
    # unknown concepts
    "yollava-unknown-concept": ("yollava", lambda s: edit_json(s / YQA, lambda d: d.update({"zed": d.pop("bo")})),
                                (YQA, "unknown concept 'zed'")),
    "mcllava-unknown-member": ("mcllava", lambda s: (s / "two_concept/multi/A_B").rename(
        s / "two_concept/multi/A_Z"), ("two_concept/multi", "'Z' is not in concept_type.json")),
    # malformed items
    "yollava-bad-answer": ("yollava", lambda s: edit_json(s / YQA, lambda d: d["bo"][BO0].update(
        correct_answer="C")), (YQA, "correct_answer 'C' is not an option")),
    "mcllava-empty-question": ("mcllava", lambda s: edit_json(s / MCA / "qa.json", lambda d: d[0].update(
        question=" ")), ("qa.json:[0].question", "empty")),
    "yollava-no-test-photos": ("yollava", lambda s: shutil.rmtree(s / "test" / "mam"), ("test/mam", "no test")),
    # a leak: a test photo that is also a training photo
    "yollava-leak": ("yollava", lambda s: shutil.copyfile(s / "test" / "bo" / "0.png", s / "train" / "bo" / "1.png"),
                     ("held-out leak", "training image")),
    "yollava-test-folder-is-the-training-one": ("yollava", lambda s: [
        shutil.copyfile(s / "train" / "bo" / f"{n}.png", s / "test" / "bo" / f"{n}.png") for n in range(2)],
        ("held-out leak",)),
    "mcllava-leak": ("mcllava", lambda s: shutil.copyfile(s / MCA / "0.png", s / "two_concept/concept/train/A/0.png"),
                     ("held-out leak",)),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_writes_nothing(case: str, tmp_path: Path) -> None:
    fmt, mutate, fragments = BAD[case]
    source = WRITERS[fmt](tmp_path / "src")
    mutate(source)
    out = tmp_path / "out"
    with pytest.raises(SourceError) as info:
        unifybench_pp.build(source, out, quiet=True, format=fmt)
    message = str(info.value)
    assert "\n" not in message and "(fix: " in message
    for fragment in fragments:
        assert fragment in message, message
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_failed_rebuild_keeps_the_previous_build(tmp_path: Path) -> None:
    source = write_yollava(tmp_path / "src")
    out = tmp_path / "out"
    version = unifybench_pp.build(source, out, quiet=True, format="yollava").manifest["version"]
    corrupt(source / "test" / "bo" / "1.png")
    with pytest.raises(SourceError):
        unifybench_pp.build(source, out, quiet=True, format="yollava")
    assert unifybench_pp.load(out).version == version


def test_output_that_is_not_a_build_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(SourceError, match="not a UnifyBench"):
        unifybench_pp.build(write_mcllava(tmp_path / "src"), out, quiet=True, format="mcllava")
    assert (out / "keep.txt").read_text() == "mine"


def test_library_call_with_unknown_format_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="unknown format 'coco'.*dreambench"):
        unifybench_pp.build(write_yollava(tmp_path / "y"), tmp_path / "out", quiet=True, format="coco")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "fragment"), [
    (["--format", "mcllava"], "--format mcllava needs the benchmark's folder"),
    (["--format", "coco"], "unknown format 'coco'"),
    (["--format", "yollava", "--seed", "3"], "yollava has none"),
    (["--format", "dreambench"], "prompts_and_classes.txt"),
])
def test_cli_bad_input_exits_2_with_one_line(args: list[str], fragment: str, tmp_path: Path) -> None:
    source = write_yollava(tmp_path / "y")
    (tmp_path / "empty").mkdir()
    extra = [] if "--seed" not in args and args[1] != "dreambench" else \
        ["--source", str(source if "--seed" in args else tmp_path / "empty")]
    done = subprocess.run([sys.executable, "-m", "cli", "build-dataset", *args, *extra,
                           "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], done.stderr
    assert not (tmp_path / "out").exists()
