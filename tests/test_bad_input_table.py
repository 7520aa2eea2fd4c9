"""Hostile and careless input, command by command: each case is one line on stderr and its exit code, never a
traceback, a hang or a file written. The table in docs/bad-input.md is rendered from these cases as they ran:
when it differs, this test rewrites it and fails, so the page always says what the code does."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from bench.release_fixture import CONCEPTS, write_release
from cli import app
from training.pretrain_tiny import TINY_BASE
from unifybench_pp.markdown import markdown_text

DOC = Path(__file__).parents[1] / "docs" / "bad-input.md"
TRACEBACK = "Traceback (most recent call last)"


@dataclass(frozen=True)
class Case:
    what: str
    """The bad input, as the docs show it."""
    make: Callable[[Path, Path], list[str]]
    """(a fresh folder, the mini build) -> the `ubpp` arguments, after writing the input into the folder."""
    code: int
    says: str
    """A fragment the one error line must hold."""


def release(tmp: Path, edit: Callable[[Path], None] = lambda root: None) -> Path:
    root = write_release(tmp / "release")
    edit(root)
    return root


def build(tmp: Path, edit: Callable[[Path], None], out: str = "out") -> list[str]:
    return ["build-dataset", "--source", str(release(tmp, edit)), "--out", str(tmp / out), "-q"]


def edit_info(change: Callable[[str], str], concept: str = "ada") -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = root / "concept/train" / concept / "info.json"
        path.write_text(change(path.read_text()))
    return edit


def edit_item(**fields: object) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = root / "test_data/ada.json"
        items = json.loads(path.read_text())
        path.write_text(json.dumps([{**items[0], **fields}, *items[1:]]))
    return edit


def predictions(data: bytes) -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, bench: Path) -> list[str]:
        (tmp / "preds.jsonl").write_bytes(data)
        return ["score", str(bench), str(tmp / "preds.jsonl"), "--judge-cache", str(tmp / "judge.sqlite")]
    return make


def line(task: str, item: str, output: str) -> bytes:
    return (json.dumps({"task": task, "id": item, "output": output}) + "\n").encode()


def ratings(csv: bytes) -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, bench: Path) -> list[str]:
        run = tmp / "run"
        score = CliRunner().invoke(app, [*predictions(line("qa", "qa/ast/000", "x"))(tmp, bench), "--run-dir",
                                         str(run)])
        assert score.exit_code == 0, score.stderr
        (tmp / "ratings.csv").write_bytes(csv)
        return ["judge-agreement", str(run), "--benchmark", str(bench), "--human", str(tmp / "ratings.csv")]
    return make


def train(setting: str) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, bench: ["train", "syncr1", "--preset", "tiny", "--set", setting, "--out", str(tmp / "t"), "-q"]


def evaluate(*options: str) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, bench: ["evaluate", "--model", "always-yes", "--benchmark", str(bench), "--runs-dir",
                               str(tmp / "runs"), "--judge-cache", str(tmp / "judge.sqlite"), *options]


def settings_file(text: str, name: str = "options.yaml") -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).write_text(text)
        return tmp / name
    return make



def scored_into(target: Callable[[Path, Path], list[str]]) -> Callable[[Path, Path], list[str]]:
    """A valid score command writing to what `target` prepares (options after the predictions)."""
    return lambda tmp, bench: [*predictions(line("qa", "qa/ast/000", "x"))(tmp, bench), *target(tmp, bench)]


def an_evaluate_run(tmp: Path, bench: Path) -> list[str]:
    done = CliRunner().invoke(app, [*evaluate("--tasks", "rec", "--limit", "1")(tmp, bench)])
    assert done.exit_code == 0, done.output
    [run] = list((tmp / "runs").glob("always-yes/*/*"))
    return ["--run-dir", str(run)]


def a_user_file(name: str) -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, bench: Path) -> list[str]:
        (tmp / "mine").mkdir()
        (tmp / "mine" / "notes.txt").write_text("mine")
        return ["--out" if name == "out" else "--run-dir", str(tmp / "mine" / "notes.txt" if name == "out"
                                                                  else tmp / "mine")]
    return make

def leaderboard_of_a_missing_folder(tmp: Path, bench: Path) -> list[str]:
    return ["leaderboard", str(tmp / "runz"), "--out", str(tmp / "site")]


def symlink_out(root: Path) -> None:
    outside = root.parent / "outside.png"
    outside.write_bytes((root / "concept/test/ada/2.png").read_bytes())
    (root / "concept/test/ada/0.png").symlink_to(outside)


def symlink_loop(root: Path) -> None:
    info = root / "concept/train/ada/info.json"
    info.unlink()
    info.symlink_to(info)


def info_folder(root: Path) -> None:
    info = root / "concept/train/ada/info.json"
    info.unlink()
    info.mkdir()


def case_variant(tmp: Path, bench: Path) -> list[str]:
    spec = json.loads(json.dumps(CONCEPTS["rex"]).replace("<rex>", "<Ada>"))
    write_release(tmp / "release", {"ada": CONCEPTS["ada"], "Ada": spec, "mug": CONCEPTS["mug"]})
    return ["build-dataset", "--source", str(tmp / "release"), "--out", str(tmp / "out"), "-q"]


def users_folder(tmp: Path, bench: Path) -> list[str]:
    (tmp / "mine").mkdir()
    (tmp / "mine" / "manifest.json").write_text("{}")
    (tmp / "mine" / "thesis.tex").write_text("years of work")
    return ["build-dataset", "--source", str(release(tmp)), "--out", str(tmp / "mine"), "-q"]


def out_is_parent(tmp: Path, bench: Path) -> list[str]:
    return ["build-dataset", "--source", str(release(tmp)), "--out", str(tmp), "-q"]


def out_under_a_file(tmp: Path, bench: Path) -> list[str]:
    (tmp / "afile").write_text("x")
    return ["build-dataset", "--source", str(release(tmp)), "--out", str(tmp / "afile" / "bench"), "-q"]


def runs_dir_is_a_file(tmp: Path, bench: Path) -> list[str]:
    (tmp / "runs").write_text("x")
    return evaluate("--limit", "1")(tmp, bench)


def fifo_output(tmp: Path, bench: Path) -> list[str]:
    os.mkfifo(tmp / "out.png")
    return predictions(line("pure_gen", "pure_gen/ast/000", "out.png"))(tmp, bench)


def folder_as_predictions(tmp: Path, bench: Path) -> list[str]:
    return ["score", str(bench), str(tmp), "--judge-cache", str(tmp / "judge.sqlite")]


def name_climbing_out(tmp: Path, bench: Path) -> list[str]:
    return [*build(tmp, lambda root: None), "--name", "../../../escaped"]


QA = line("qa", "qa/ast/000", "x")
CASES = [
    # 1. never delete what we did not write
    Case("`--out` is a user's folder holding a `manifest.json`", users_folder, 2, "was not written by ubpp"),
    Case("`--out` is the parent of `--source`", out_is_parent, 2, "--out contains"),
    Case("`--out` below a file", out_under_a_file, 2, "is a file, not a folder"),
    # 3. names that cannot collide or escape
    Case("two concepts differing only in case", case_variant, 2, "differ only in case"),
    Case("`--name ../../../escaped`", name_climbing_out, 2, "contains a path separator"),
    Case("`build-dataset --seed -1`", lambda tmp, bench: [*build(tmp, lambda root: None), "--seed", "-1"], 2,
         "Input should be greater than or equal to 0"),
    Case("`build-dataset --name ''`", lambda tmp, bench: [*build(tmp, lambda root: None), "--name", ""], 2,
         "a name cannot be empty"),
    Case("`score --model ''`", scored_into(lambda tmp, bench: ["--model", ""]), 2, "a name cannot be empty"),
    Case("`--source` without `--out`", lambda tmp, bench: build(tmp, lambda root: None)[:3], 2,
         "the default, ubpp_data/unifybench_pp-mini, is the bundled mini benchmark's"),
    Case("a prediction id given twice", predictions(QA + QA), 2, "predicted again (first on line 1)"),
    Case("an empty predictions file", predictions(b""), 2, "holds no prediction"),
    # 4. one confinement rule for what is read
    Case("a symlink in `concept/test/<c>/` to a photo outside", lambda tmp, bench: build(tmp, symlink_out), 2,
         "escapes the source root"),
    Case("a symlink loop as `info.json`", lambda tmp, bench: build(tmp, symlink_loop), 2, "symbolic link loop"),
    Case("a folder as `info.json`", lambda tmp, bench: build(tmp, info_folder), 2, "is a folder, not a regular file"),
    Case("a FIFO as an image output", fifo_output, 2, "is a FIFO (named pipe)"),
    Case("a folder as the predictions file", folder_as_predictions, 2, "is a folder"),
    # 5. strict, round-tripping input
    Case("`extra_info: 5` in `info.json`",
         lambda tmp, bench: build(tmp, edit_info(lambda t: re.sub(r'"extra_info": \[[^\]]*\]', '"extra_info": 5', t))),
         2, "extra_info: expected a list"),
    Case("`NaN` in `info.json`", lambda tmp, bench: build(tmp, edit_info(
        lambda t: t.replace('"num_testing_info": 1', '"num_testing_info": NaN'))), 2, "NaN is not a JSON number"),
    Case("`info.json` nested 100000 deep", lambda tmp, bench: build(tmp, edit_info(
        lambda t: "[" * 100_000 + "]" * 100_000)), 2, "nested too deeply"),
    Case("a duplicate key in `info.json`", lambda tmp, bench: build(tmp, edit_info(
        lambda t: t.replace("{", '{"class": "x",', 1))), 2, "duplicate key 'class'"),
    Case("a NUL (`\\u0000`) in a `test_data` image path",
         lambda tmp, bench: build(tmp, edit_item(image="concept/test/ada/2\u0000.png")), 2, "contains a NUL byte"),
    Case("a latin-1 byte in predictions", predictions(b'{"task":"qa","id":"qa/ast/000","output":"caf\xe9"}\n'), 2,
         "byte 44: not UTF-8 text (byte 0xe9)"),
    Case("`NaN` as a prediction's output", predictions(b'{"task":"qa","id":"qa/ast/000","output":NaN}\n'), 2,
         "NaN is not a JSON number"),
    Case("a ratings CSV that is not UTF-8", ratings(b"metric,id,score\nqa.gpt,qa/ast/000,\xe9\n"), 2,
         "not UTF-8 text"),
    Case("`nan` as a rating", ratings(b"metric,id,score\nqa.gpt,qa/ast/000,nan\n"), 2, "is not a finite number"),
    Case("`7` as a rating", ratings(b"metric,id,score\nqa.gpt,qa/ast/000,7\n"), 2, "outside the judges' scale, 0 to 1"),
    Case("ratings for a run scored without a judge", ratings(b"metric,id,score\nqa.gpt,qa/ast/000,1\n"), 2,
         "no judged column was computed in this run"),
    # 8. every setting bounded; refused writes are one line naming what is kept
    Case("`--batch-size 0`", evaluate("--batch-size", "0"), 2, "--batch-size"),
    Case("`--limit -1`", evaluate("--limit", "-1"), 2, "--limit"),
    Case("`--judge-timeout 0`", evaluate("--judge-timeout", "0"), 2, "--judge-timeout"),
    Case("`--runs-dir` is a file", runs_dir_is_a_file, 1, "Not a directory"),
    Case("training `learning_rate=inf`", train("learning_rate=inf"), 2,
         "learning_rate must be a finite number, not 'inf'"),
    Case("training `save_every=0`", train("save_every=0"), 2, "save_every must be >= 1, not 0"),
    Case("training `batch_size=0`", train("batch_size=0"), 2, "batch_size must be >= 1, not 0"),
    Case("training `gradient_accumulation_steps=0`", train("gradient_accumulation_steps=0"), 2,
         "gradient_accumulation_steps must be >= 1, not 0"),
    Case("training `generation_steps=1`", train("generation_steps=1"), 2, "generation_steps must be >= 2, not 1"),
    Case("training `dgs.screen_batch=0`", train("dgs.screen_batch=0"), 2, "dgs.screen_batch must be >= 1, not 0"),
    Case("training `dgs.budget_factor=inf`", train("dgs.budget_factor=inf"), 2,
         "dgs.budget_factor must be a finite number, not 'inf'"),
    Case("training `dgs.mu=-7`", train("dgs.mu=-7"), 2, "dgs.mu must be >= 0, not -7"),
    Case("training `rewards.weights={}`", train("rewards.weights={}"), 2,
         "rewards.weights must give at least one reward a weight other than 0, not {}"),
    Case("training `lr_scheduler=nosuch`", train("lr_scheduler=nosuch"), 2,
         "lr_scheduler 'nosuch' is not a transformers scheduler; choose from linear, cosine"),
    Case("training `mixed_precision=fp16` on a CPU", lambda tmp, bench: [
        *train("mixed_precision=fp16")(tmp, bench), "--set", "device=cpu"], 2, "mixed_precision=fp16 needs a GPU"),
    Case("training `--concept nobody`", lambda tmp, bench: [
        *train(f"benchmark={bench}")(tmp, bench), "--concept", "nobody"], 2,
         "concept(s) 'nobody' not in the benchmark's train split"),
    Case("a training `--config` that is not valid YAML", lambda tmp, bench: [
        "train", "syncr1", "--preset", "tiny", "--config", str(settings_file("steps: [\n")(tmp)),
        "--out", str(tmp / "t"), "-q"], 2, "not valid YAML (expected the node content"),
    Case("a training `--config` with a key twice", lambda tmp, bench: [
        "train", "syncr1", "--preset", "tiny", "--config", str(settings_file("steps: 3\nsteps: 4\n")(tmp)),
        "--out", str(tmp / "t"), "-q"], 2, "not valid YAML (duplicate key 'steps' at line 2, column 1)"),
    Case("`--set steps=[1`", train("steps=[1"), 2, "the value is not valid YAML"),
    Case("`--set steps=true`", train("steps=true"), 2, "steps must be a whole number, not true"),
    Case("`--set seed=4294967296`", train("seed=4294967296"), 2, "seed must be <= 4294967295"),
    Case("training `--set device=bogus`", train("device=bogus"), 2, "--set device='bogus' is not a device"),
    Case("training `--concept` with `--set concepts=...`", lambda tmp, bench: [
        *train("concepts=[cam]")(tmp, bench), "--concept", "ast"], 2, "both name the concepts to train"),
    Case("training `--out` a folder with the user's files", lambda tmp, bench: [
        *train("concepts=[ast]")(tmp, bench)[:-3], "--out", str(a_user_file("run-dir")(tmp, bench)[1]), "-q"], 2,
         "mine: notes.txt is a file, so it is not a concept's training run"),
    Case("training `concepts=[]`", train("concepts=[]"), 2, "name the concept to train"),
    Case("an adapter `--config` that does not exist", lambda tmp, bench: evaluate(
        "--config", str(tmp / "missing.yaml"))(tmp, bench), 2, "cannot read the settings file"),
    Case("an adapter `--config` TOML file that is not TOML", lambda tmp, bench: evaluate(
        "--config", str(settings_file("a = [\n", "options.toml")(tmp)))(tmp, bench), 2, "not valid TOML"),
    Case("`--tasks bogus`", evaluate("--tasks", "bogus"), 2, "unknown task(s) 'bogus'"),
    Case("`--tasks ''`", evaluate("--tasks", ""), 2, "unknown task(s) ''"),
    Case("`--tasks pure_gen` for a model that only answers", evaluate("--tasks", "pure_gen"), 2,
         "always-yes cannot do pure_gen (it can understand)"),
    Case("`--concepts ast,,chelsea`", evaluate("--concepts", "ast,,chelsea"), 2, "concept(s) '' not in"),
    Case("Show-o `--option steps=abc`", lambda tmp, bench: [
        "evaluate", "--model", "showo-tp", "--checkpoint", str(TINY_BASE.showo), "--option",
        f"magvit={TINY_BASE.magvit}", "--option", "steps=abc", "--benchmark", str(bench), "--runs-dir",
        str(tmp / "runs")], 2, "showo-tp: steps must be a whole number >= 1, not 'abc'"),
    Case("Show-o `--checkpoint` a folder that does not exist", lambda tmp, bench: [
        "evaluate", "--model", "showo-tp", "--checkpoint", str(tmp / "no-such-model"), "--benchmark", str(bench),
        "--runs-dir", str(tmp / "runs")], 2, "no-such-model' (no such file or folder): pass --checkpoint PATH"),
    Case("`--device bogus`", evaluate("--device", "bogus"), 2, "is not a device"),
    Case("`--device meta`", evaluate("--device", "meta"), 2, "models run on cpu, cuda or mps"),
    Case("`score --device bogus`", lambda tmp, bench: ["score", str(bench), str(tmp / "predictions.jsonl"),
                                                       "--device", "bogus"], 2, "is not a device"),
    Case("`--model-size 'about 1B'`", evaluate("--model-size", "about 1B"), 2,
         "a model size is a parameter count such as 1.3B"),
    Case("`score --out` the predictions file", scored_into(lambda tmp, bench: ["--out", str(tmp / "preds.jsonl")]),
         2, "is the predictions file: the scores would replace it"),
    Case("`score --out` inside the benchmark", scored_into(lambda tmp, bench: ["--out", str(bench / "manifest.json")]),
         2, "lies inside the benchmark build"),
    Case("`score --out` a user's file", scored_into(a_user_file("out")), 2, "exists and is not a scores file"),
    Case("`score --run-dir` a user's folder", scored_into(a_user_file("run-dir")), 2, "holds notes.txt and is not a "
         "run folder"),
    Case("`score --run-dir` an `ubpp evaluate` run", scored_into(an_evaluate_run), 2,
         "holds an `ubpp evaluate` run of always-yes"),
    Case("`compare --alpha nan`", lambda tmp, bench: ["compare", str(tmp), str(tmp), "--alpha", "nan"], 2,
         "a significance level is between 0 and 1"),
    Case("a leaderboard of a folder that does not exist", leaderboard_of_a_missing_folder, 2, "no such folder"),
]


def error_line(stderr: str) -> str:
    """The message a user sees: typer's usage box is several lines, our errors are one."""
    text = " ".join(part.strip(" │╭╮╰╯─") for part in stderr.splitlines())
    return re.sub(r"\s+", " ", text).strip()


def shown(text: str, tmp: Path, bench: Path) -> str:
    return markdown_text(text.replace(str(bench), "<bench>").replace(str(tmp), "<tmp>"))


def render(rows: list[tuple[Case, str, int, str]]) -> str:
    head = ["# What bad input gets", "",
            "Generated by `tests/test_bad_input_table.py` from the cases as they ran; do not edit by hand. Each row",
            "is one input, the command given it, the exit code and the whole message (`<tmp>` is the case's folder,",
            "`<bench>` a build of the bundled mini benchmark). Exit 2: the input is refused before anything is "
            "written;",
            "exit 1: the system refused a write, and the line says what is kept.", "",
            "| bad input | command | exit | message |", "|---|---|---:|---|"]
    return "\n".join(head + [f"| {case.what} | `ubpp {command}` | {code} | {message} |"
                             for case, command, code, message in rows]) + "\n"


def test_every_bad_input_is_one_line_with_its_exit_code_and_the_docs_say_so(mini_build: Path, tmp_path: Path) -> None:
    rows = []
    for number, case in enumerate(CASES):
        tmp = tmp_path / f"case{number}"
        tmp.mkdir()
        args = case.make(tmp, mini_build)
        before = sorted(p.relative_to(tmp) for p in tmp.rglob("*"))
        result = CliRunner().invoke(app, args, prog_name="ubpp", env={"COLUMNS": "2000"})  # no wrap: paths vary
        assert isinstance(result.exception, SystemExit), (case.what, result.exception)  # not a crash
        assert TRACEBACK not in result.stderr, (case.what, result.stderr)
        assert result.exit_code == case.code, (case.what, result.exit_code, result.stderr)
        message = error_line(result.stderr)
        assert case.says in message, (case.what, message)
        if case.code == 2:
            assert sorted(p.relative_to(tmp) for p in tmp.rglob("*")) == before, case.what  # nothing written
        command = " ".join(args[0:2] if args[0] == "train" else args[:1])
        rows.append((case, command, case.code, shown(message, tmp, mini_build)))
    text = render(rows)
    if not DOC.is_file() or DOC.read_text() != text:
        DOC.write_text(text)
        raise AssertionError(f"{DOC} did not match the cases as they ran: rewritten; review and commit it")
