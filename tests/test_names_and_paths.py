"""Names that cannot collide or escape (one function makes every path component), and one confinement rule for
everything read: symlinks out, FIFOs, symlink loops are one line, never a hang, a crash or a file copied in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import unifybench_pp
from baselines.registry import create
from cli import app
from evaluators.rundir import image_name
from evaluators.runner import EvalConfig, run_evaluation
from evaluators.scoring_config import ScoringConfig
from unifybench_pp import SourceError, SplitConfig
from unifybench_pp.paths import UnsafePath, check_distinct, path_component, read_regular

from .cli_runner import ubpp as in_process
from .tiny_models import make_tiny_clip

ROOT = Path(__file__).parents[1]


def one_line(result, *needles: str, code: int = 2) -> str:
    stderr = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
    lines = stderr.strip().splitlines()
    assert result.exit_code if hasattr(result, "exit_code") else result.returncode == code, stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert all(needle in lines[0] for needle in needles), lines[0]
    return lines[0]


# --- the one function --------------------------------------------------------------------------------------

def test_plain_names_stay_and_every_other_name_maps_to_its_own_component() -> None:
    assert path_component("pig_cup") == "pig_cup" and path_component("v1.2-mini") == "v1.2-mini"
    names = ["猫", "犬", "my dog", "my_dog", "my%20dog", "Bo", "bo", ".hidden", "%2Ehidden", "a~b", "x" * 300,
             "x" * 299 + "y", "é", "e\u0301"]
    components = [path_component(n) for n in names]
    assert len(set(components)) == len(names), components
    for component in components:
        assert "/" not in component and not component.startswith(".") and len(component.encode()) <= 120
        assert component == path_component(component) or "%" in component or "~" in component
    assert path_component("猫") == "%E7%8C%AB" and path_component("my dog") == "my%20dog"


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "/etc", "..\\x", "a\0b", "../../pwned"])
def test_names_that_could_climb_out_are_refused(name: str) -> None:
    with pytest.raises(UnsafePath):
        path_component(name)


def test_duplicates_and_case_variants_are_refused() -> None:
    check_distinct(["猫", "犬", "my dog", "my_dog"], "concept")
    with pytest.raises(UnsafePath, match="'Bo' and 'bo' differ only in case"):
        check_distinct(["Bo", "bo"], "concept")
    with pytest.raises(UnsafePath, match="appears twice"):
        check_distinct(["a", "a"], "concept")


def test_run_images_of_items_that_differed_only_outside_ascii_no_longer_share_a_file() -> None:
    assert image_name("pure_gen/猫/000") != image_name("pure_gen/犬/000")
    assert image_name("pure_gen/my dog/000") != image_name("pure_gen/my_dog/000")
    with pytest.raises(UnsafePath):
        image_name("pure_gen/../../pwned")


# --- builds and runs ---------------------------------------------------------------------------------------

def rename_concept(source: Path, old: str, new: str) -> None:
    """Rename a concept everywhere a release names it: folders, its test_data file, train_images.json, tokens."""
    for folder in ("concept/train", "concept/test"):
        os.rename(source / folder / old, source / folder / new)
    os.rename(source / "test_data" / f"{old}.json", source / "test_data" / f"{new}.json")
    for path in source.rglob("*.json"):
        text = path.read_text(encoding="utf-8")
        text = text.replace(f"<{old}>", f"<{new}>").replace(f"/{old}/", f"/{new}/")
        path.write_text(text, encoding="utf-8")
    listed = json.loads((source / "concept/train/train_images.json").read_text(encoding="utf-8"))
    listed[new] = listed.pop(old)
    (source / "concept/train/train_images.json").write_text(json.dumps(listed, ensure_ascii=False), encoding="utf-8")


def one_training_photo(source: Path, *concepts: str) -> None:
    """The real-images model then returns the same photo for every seed (so item ids, which seed it, do not matter)."""
    path = source / "concept/train/train_images.json"
    listed = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({c: names[:1] if c in concepts else names for c, names in listed.items()}))


def colour_by_concept(source: Path, out: Path, tmp_path: Path, concepts: list[str]) -> tuple[dict, Path]:
    bench = unifybench_pp.load(unifybench_pp.build(source, out, SplitConfig(), quiet=True).out)
    config = EvalConfig("real-images", tasks=["pure_gen"], concepts=concepts, runs_dir=tmp_path / "runs",
                        scoring=ScoringConfig(clip=str(make_tiny_clip(tmp_path / "clip")),
                                              judge_cache=tmp_path / "j.sqlite"))
    result = run_evaluation(bench, create("real-images"), config)
    colour = {r.name: r for r in result.results}["pure_gen.colour"]
    by_concept: dict[str, list[float]] = {}
    for item, score in colour.per_item.items():
        by_concept.setdefault(item.split("/")[1], []).append(score)
    return {c: sum(v) / len(v) for c, v in by_concept.items()}, result.run_dir


def test_scores_stay_right_under_non_ascii_concept_names(source_copy: Path, tmp_path: Path) -> None:
    """Renamed 犬 and 猫 (which the old file naming mapped to one image file each) score as under their own names."""
    one_training_photo(source_copy, "coffee", "coins")
    plain, _ = colour_by_concept(source_copy, tmp_path / "plain", tmp_path, ["coffee", "coins"])
    rename_concept(source_copy, "coffee", "犬")
    rename_concept(source_copy, "coins", "猫")
    renamed, run_dir = colour_by_concept(source_copy, tmp_path / "renamed", tmp_path, ["犬", "猫"])
    assert plain["coffee"] != pytest.approx(plain["coins"])  # the two concepts' photos do differ
    assert renamed == pytest.approx({"犬": plain["coffee"], "猫": plain["coins"]})
    assert len(list((run_dir / "images").rglob("*.png"))) == 2 * 25


def test_case_variant_concepts_are_refused_in_one_line(release: Path, tmp_path: Path) -> None:
    shutil.copytree(release, tmp_path / "cased")
    rename_concept(tmp_path / "cased", "rex", "Ada")  # beside ada
    result = subprocess.run([sys.executable, "-m", "cli", "build-dataset", "--source", str(tmp_path / "cased"),
                             "--out", str(tmp_path / "out"), "--quiet"], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "concepts 'Ada' and 'ada' differ only in case" in line and not (tmp_path / "out").exists()


def test_a_name_or_version_that_climbs_out_never_names_a_run_directory(release: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="--name: --name '../../../escaped' contains a path separator"):
        unifybench_pp.build(release, tmp_path / "out", SplitConfig(), name="../../../escaped", quiet=True)
    bench = unifybench_pp.build(release, tmp_path / "bench", SplitConfig(), quiet=True).out
    manifest = json.loads((bench / "manifest.json").read_text())
    (bench / "manifest.json").write_text(json.dumps({**manifest, "version": "../../../escaped"}))
    runs = tmp_path / "deep" / "er" / "runs"
    result = CliRunner().invoke(app, ["evaluate", "--model", "always-yes", "--benchmark", str(bench),
                                      "--runs-dir", str(runs), "--judge-cache", str(tmp_path / "j.sqlite")])
    one_line(result, "version", "'../../../escaped' contains a path separator")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench", "release"]


@pytest.mark.parametrize("case", ["duplicate", "sample zero", "sample 01", "repeat", "empty", "read line by line",
                                  "non-ASCII digit"])
def test_duplicate_prediction_ids_and_an_empty_file_are_refused(case: str, mini_build: Path, tmp_path: Path) -> None:
    """'#0' is the item itself and '#01' its sample 1: each given twice was read as two items, and the run written
    then failed its own summary check (n counted both, the scores kept one). The file is checked line by line (a
    duplicate on line 2 is found before a broken line 3 is parsed, and before a huge rest would be), and a sample
    number is ASCII digits (Python's \\d took '#١' for sample 1)."""
    preds = tmp_path / "preds.jsonl"

    def line(item: str) -> str:
        return json.dumps({"task": "qa", "id": item, "output": "x"}) + "\n"

    preds.write_text({"duplicate": line("qa/ast/000") * 2, "sample zero": line("qa/ast/000") + line("qa/ast/000#0"),
                      "sample 01": line("qa/ast/000#1") + line("qa/ast/000#01"), "repeat": line("qa/ast/000@1"),
                      "empty": "", "read line by line": line("qa/ast/000") * 2 + "{broken\n",
                      "non-ASCII digit": line("qa/ast/000#\u0661")}[case])
    result = CliRunner().invoke(app, ["score", str(mini_build), str(preds), "--judge-cache", str(tmp_path / "j")])
    one_line(result, *{"empty": ("holds no prediction",), "repeat": ("line 1", "marks a judge's repeat"),
                       "non-ASCII digit": ("line 1", "unknown item 'qa/ast/000#\u0661'")}.get(
        case, ("line 2", "predicted again (first on line 1)")))


# --- one confinement rule for what is read --------------------------------------------------------------------

def test_a_symlink_in_a_test_folder_pointing_outside_is_refused_not_copied(release: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.png"
    shutil.copyfile(release / "concept/test/ada/2.png", outside)
    (release / "concept/test/ada/0.png").symlink_to(outside)  # sorts first: it would be the CLIP-I reference
    with pytest.raises(SourceError, match=r"concept/test/ada/0.png: image path '0.png' escapes the source root"):
        unifybench_pp.build(release, tmp_path / "out", SplitConfig(), quiet=True)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("which", ["info.json", "test_data"])
def test_symlinked_source_files_outside_the_release_are_refused(which: str, release: Path, tmp_path: Path) -> None:
    relative = {"info.json": "concept/train/ada/info.json", "test_data": "test_data/ada.json"}[which]
    outside = tmp_path / "elsewhere.json"
    shutil.move(release / relative, outside)
    (release / relative).symlink_to(outside)
    with pytest.raises(SourceError, match=f"{relative}: file '{relative}' escapes the source root"):
        unifybench_pp.build(release, tmp_path / "out", SplitConfig(), quiet=True)


def test_a_fifo_among_the_test_photos_is_refused_before_it_is_opened(release: Path, tmp_path: Path) -> None:
    os.mkfifo(release / "concept/test/rex/0.png")
    with pytest.raises(SourceError, match=r"concept/test/rex/0.png: image '0.png' is a FIFO \(named pipe\)"):
        unifybench_pp.build(release, tmp_path / "out", SplitConfig(), quiet=True)


def test_a_symlink_loop_in_a_release_is_one_line(release: Path, tmp_path: Path) -> None:
    info = release / "concept/train/ada/info.json"
    info.unlink()
    info.symlink_to(info)
    with pytest.raises(SourceError, match="symbolic link loop"):
        unifybench_pp.build(release, tmp_path / "out", SplitConfig(), quiet=True)


def test_read_regular_refuses_special_files(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(UnsafePath, match="is a FIFO"):
        read_regular(tmp_path / "fifo")
    with pytest.raises(UnsafePath, match="symbolic link loop"):
        read_regular(tmp_path / "loop")
    with pytest.raises(UnsafePath, match="is a folder"):
        read_regular(tmp_path)
    if Path("/dev/null").exists():
        with pytest.raises(UnsafePath, match="is a device"):
            read_regular(Path("/dev/null"))


# --- FIFOs and symlink loops in runs: never a hang, never a crash -------------------------------------------

def ubpp(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "300", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


WIDE = {"COLUMNS": "300", "HF_HUB_OFFLINE": "1"}


def write_run(path: Path, output: str, model: str) -> None:
    from evaluators.metrics import MetricResult
    from evaluators.rundir import RunInfo, write_results

    info = RunInfo(model=model, model_type="Gen. Only", model_size="-", capabilities=["generate"],
                   benchmark_version="bench-v1", protocol="syncr1")
    result = MetricResult("pure_gen.clip_i", "pure_gen", "syncr1", "clip", value=0.5, ci95=(0.4, 0.6), n=1,
                          n_concepts=1, per_item={"pure_gen/ast/000": 0.5})
    write_results(path, info, [result])
    (path / "predictions.jsonl").write_text(
        json.dumps({"task": "pure_gen", "id": "pure_gen/ast/000", "output": output}) + "\n")


def test_a_fifo_as_an_image_output_is_one_line_for_score(mini_build: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "out.png")
    item = unifybench_pp.load(mini_build).tasks["pure_gen"][0].id
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"task": "pure_gen", "id": item, "output": "out.png"}) + "\n")
    result = ubpp("score", str(mini_build), str(preds), "--run-dir", str(tmp_path / "run"),
                  "--judge-cache", str(tmp_path / "j.sqlite"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert item in line and "'out.png': is a FIFO (named pipe), not a regular file" in line
    assert not (tmp_path / "run").exists()  # no folder holding only a lock


def test_one_bad_run_is_skipped_with_a_warning_and_never_hangs_or_takes_down_the_leaderboard(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_run(runs / "good", "images/own.png", "good-model")
    write_run(runs / "fifo", "images/pipe.png", "fifo-model")
    (runs / "fifo" / "images").mkdir()
    os.mkfifo(runs / "fifo" / "images" / "pipe.png")
    write_run(runs / "loop", "images/x.png", "loop-model")
    (runs / "loop" / "summary.json").unlink()
    (runs / "loop" / "summary.json").symlink_to(runs / "loop" / "summary.json")
    write_run(runs / "fifo-file", "images/x.png", "fifo-file-model")
    (runs / "fifo-file" / "scores.jsonl").unlink()
    os.mkfifo(runs / "fifo-file" / "scores.jsonl")
    (runs / "looped").symlink_to(runs / "looped")
    result = ubpp("leaderboard", str(runs), str(runs / "looped"), "--out", str(tmp_path / "site"), "--no-reported",
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.strip().splitlines()
    assert any("loop" in w and "symbolic link loop" in w for w in warnings), warnings
    assert any("fifo-file" in w and "is a FIFO" in w for w in warnings), warnings
    assert all(w.startswith("warning: skipped ") for w in warnings), warnings
    page = (tmp_path / "site" / "index.html").read_text()
    assert "good-model" in page and "fifo-model" in page


def test_compare_and_a_resumed_evaluate_name_a_symlink_loop_in_one_line(mini_build: Path, tmp_path: Path) -> None:
    """In this process (no reader can hang here: a loop fails at open)."""
    write_run(tmp_path / "a", "images/x.png", "a")
    write_run(tmp_path / "b", "images/x.png", "b")
    (tmp_path / "b" / "run.json").unlink()
    (tmp_path / "b" / "run.json").symlink_to(tmp_path / "b" / "run.json")
    result = in_process("compare", str(tmp_path / "a"), str(tmp_path / "b"), cwd=tmp_path, env=WIDE)
    assert result.returncode == 2 and "symbolic link loop" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    common = ["evaluate", "--model", "always-yes", "--benchmark", str(mini_build), "--tasks", "rec", "--limit", "2",
              "--runs-dir", str(tmp_path / "runs"), "--judge-cache", str(tmp_path / "j.sqlite")]
    assert in_process(*common, cwd=tmp_path, env=WIDE).returncode == 0
    [log] = (tmp_path / "runs").rglob("predictions.jsonl")
    log.unlink()
    log.symlink_to(log)
    result = in_process(*common, cwd=tmp_path, env=WIDE)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert str(log) in line and "symbolic link loop" in line


# --- training output per concept --------------------------------------------------------------------------

def test_a_concept_id_edited_to_climb_out_of_a_build_is_refused_on_load(mini_build: Path, tmp_path: Path) -> None:
    bench = tmp_path / "bench"
    shutil.copytree(mini_build, bench)
    concepts = bench / "concepts.jsonl"
    concepts.write_text(concepts.read_text().replace('"id":"ast"', '"id":"../../pwned"'))
    with pytest.raises(SourceError, match="concept '../../pwned' contains a path separator"):
        unifybench_pp.load(bench)


def test_a_model_bundle_names_each_concept_file_by_its_component_and_loads_it_back(tmp_path: Path) -> None:
    from baselines.showo.pipeline import ShowoPipeline
    from training.policy import export_bundle
    from training.pretrain_tiny import ASSET

    showo, magvit = str(ASSET / "showo"), str(ASSET / "magvit")
    pipe = ShowoPipeline.from_pretrained(showo, magvit)
    pipe.add_concept("犬")
    bundle = export_bundle(pipe, showo, magvit, tmp_path / "model", "concepts")
    assert [p.name for p in (bundle / "concepts").iterdir()] == ["%E7%8A%AC.safetensors"]
    again = ShowoPipeline.from_pretrained(showo, magvit)
    again.add_concept_from(bundle / "concepts", "犬")
    assert "犬" in again.concepts
    pipe.add_concept("../pwned")
    with pytest.raises(UnsafePath, match="contains a path separator"):
        export_bundle(pipe, showo, magvit, tmp_path / "other", "concepts")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_settings_and_ratings_files_that_are_fifos_are_one_line(mini_build: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "config.yaml")
    result = ubpp("train", "syncr1", "--preset", "tiny", "--config", str(tmp_path / "config.yaml"),
                  "--out", str(tmp_path / "train"), "-q", cwd=tmp_path)
    assert result.returncode == 2 and "config.yaml: is a FIFO (named pipe)" in result.stderr, result.stderr
    write_run(tmp_path / "run", "images/x.png", "m")
    os.mkfifo(tmp_path / "ratings.csv")
    result = ubpp("judge-agreement", str(tmp_path / "run"), "--benchmark", str(mini_build),
                  "--human", str(tmp_path / "ratings.csv"), cwd=tmp_path)
    assert result.returncode == 2 and "ratings.csv: is a FIFO (named pipe)" in result.stderr, result.stderr
    assert not (tmp_path / "train").exists()
