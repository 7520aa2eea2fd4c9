"""The `ubpp` console script as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .cli_runner import UBPP
from .cli_runner import ubpp as run


def console_script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    assert UBPP.is_file(), "the ubpp console script is not installed: pip install -e ."
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([str(UBPP), *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_default_build_prints_summary(tmp_path: Path) -> None:
    result = console_script("build-dataset", cwd=tmp_path)  # the installed console script, once
    assert result.returncode == 0, result.stderr
    out = tmp_path / "ubpp_data" / "unifybench_pp-mini"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] in result.stdout
    assert "Dense Rea. Gen." in result.stdout
    assert f"{manifest['counts']['tasks']['rec']}" in result.stdout
    assert manifest["counts"]["tasks"]["vqa_choice"] == 0
    assert "(choice)" not in result.stdout  # MC-LLaVA's kinds of task are not rows of a UnifyBench++ build


def test_seed_option_and_quiet(tmp_path: Path) -> None:
    result = run("build-dataset", "--seed", "7", "--out", "b7", "--quiet", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == ""
    assert json.loads((tmp_path / "b7" / "manifest.json").read_text())["seed"] == 7


def test_bad_option_value(tmp_path: Path) -> None:
    result = run("build-dataset", "--seed", "many", "--out", "x", cwd=tmp_path)
    assert result.returncode == 2
    assert "--seed" in result.stderr
    assert not (tmp_path / "x").exists()


def test_version_is_the_installed_packages(tmp_path: Path) -> None:
    from importlib.metadata import version

    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"ubpp {version('unifybench-pp')}"
    assert "benchmark, evaluation harness and leaderboard" in run("--help", cwd=tmp_path).stdout


def test_a_value_the_parser_refuses_is_one_line_and_help_still_shows(tmp_path: Path) -> None:
    """click's usage box was three lines and more; the README promises one for every user error."""
    for args, says in ((["evaluate", "--batch-size", "0"], "error: Invalid value for '--batch-size': Input should be "
                        "greater than or equal to 1 (see ubpp evaluate --help)"),
                       (["evaluate", "--model", "always-yes", "--protocol", "strct"],
                        "error: Invalid value for '--protocol': 'strct' is not one of 'syncr1', 'strict'."),
                       (["no-such-command"], "error: No such command 'no-such-command'. (see ubpp --help)")):
        result = run(*args, cwd=tmp_path)
        assert result.returncode == 2 and result.stdout == "", result.stderr
        assert result.stderr.strip().splitlines() == [result.stderr.strip()] and says in result.stderr, result.stderr
    bare = run(cwd=tmp_path)  # no command: the help, as before
    assert bare.returncode == 2 and "[OPTIONS] COMMAND [ARGS]" in bare.stdout + bare.stderr
    helped = run("evaluate", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "--batch-size" in helped.stdout


def test_a_file_given_as_the_source_is_named_as_one(tmp_path: Path) -> None:
    (tmp_path / "release.zip").write_bytes(b"PK")
    result = run("build-dataset", "--source", "release.zip", "--out", "b", cwd=tmp_path)
    assert result.returncode == 2 and "release.zip: a file, not the source folder" in result.stderr, result.stderr
    assert not (tmp_path / "b").exists()


def test_export_parquet(tmp_path: Path) -> None:
    assert run("build-dataset", "--out", "b", "-q", cwd=tmp_path).returncode == 0
    result = run("export", "b", "--out", "pq", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "pq").glob("*.parquet"))) == 11
    assert "Parquet files to pq" in result.stdout and result.stderr == ""  # no progress bars
    assert run("export", "b", "--out", "pq", cwd=tmp_path).returncode == 0  # its own earlier export: replaced
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    manifest = (tmp_path / "b" / "manifest.json").read_bytes()
    refused = run("export", "b", "--out", "mine", cwd=tmp_path)
    assert refused.returncode == 2 and "not a Parquet export to replace: it holds notes.txt" in refused.stderr
    for out, says in (("b", "it is the benchmark build"),
                      ("b/manifest.json", f"it lies inside the build {tmp_path / 'b'}"),
                      ("b/sub", "it lies inside the build")):  # a new folder in it: the build could not be rebuilt
        refused = run("export", "b", "--out", out, cwd=tmp_path)
        assert refused.returncode == 2 and "not a place for a Parquet export: " + says in refused.stderr, refused.stderr
    assert not (tmp_path / "b" / "sub").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    here = run("export", str(tmp_path / "b"), "--out", ".", cwd=empty)  # the shell would sit in a deleted folder
    assert here.returncode == 2 and "it is the current folder" in here.stderr and empty.is_dir(), here.stderr
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
    assert not list((tmp_path / "b").glob("*.parquet")) and (tmp_path / "b" / "manifest.json").read_bytes() == manifest


def test_help_explains_options(tmp_path: Path) -> None:
    result = run("build-dataset", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for option in ("--source", "--out", "--seed", "--quiet"):
        assert option in result.stdout
    assert "--annotations" not in result.stdout  # the release is read as is: no extra file


def test_score_command_on_the_mini_benchmark(tmp_path: Path) -> None:
    import unifybench_pp

    assert run("build-dataset", "--out", "b", "-q", cwd=tmp_path).returncode == 0
    bench = unifybench_pp.load(tmp_path / "b")
    with (tmp_path / "preds.jsonl").open("w") as handle:
        for item in bench.tasks["rec"]:
            handle.write(json.dumps({"task": "rec", "id": item.id, "output": "No"}) + "\n")
        for item in bench.tasks["qa"]:
            handle.write(json.dumps({"task": "qa", "id": item.id, "output": item.answer}) + "\n")
    env_free = {"OPENAI_API_KEY": "", "HF_HUB_OFFLINE": "1", "COLUMNS": "160"}
    result = run("score", "b", "preds.jsonl", "--out", "scores.json", "--protocol", "strict", "-q", cwd=tmp_path,
                 env=env_free)
    assert result.returncode == 0, result.stderr
    scores = {r["name"]: r for r in json.loads((tmp_path / "scores.json").read_text())}
    assert scores["rec.weight"]["value"] == 0.5 and abs(scores["qa.bleu"]["value"] - 1.0) < 1e-9
    assert scores["qa.gpt"]["value"] is None and "no judge" in scores["qa.gpt"]["not_computed"]
    assert "not computed: no judge" in result.stdout and "n/c [" in result.stdout


def test_score_command_rejects_unknown_items(tmp_path: Path) -> None:
    assert run("build-dataset", "--out", "b", "-q", cwd=tmp_path).returncode == 0
    (tmp_path / "preds.jsonl").write_text('{"task": "qa", "id": "qa/nobody/000", "output": "x"}\n')
    result = run("score", "b", "preds.jsonl", cwd=tmp_path)
    assert result.returncode == 2
    assert "preds.jsonl:line 1: unknown item 'qa/nobody/000' of task 'qa'" in result.stderr


def test_score_with_a_judge_server_then_leaderboard(tmp_path: Path) -> None:
    import unifybench_pp
    from bench.openai_server import ScriptedServer

    assert run("build-dataset", "--out", "b", "-q", cwd=tmp_path).returncode == 0
    bench = unifybench_pp.load(tmp_path / "b")
    with (tmp_path / "preds.jsonl").open("w") as handle:
        for item in bench.tasks["qa"]:
            handle.write(json.dumps({"task": "qa", "id": item.id, "output": item.answer}) + "\n")
    with ScriptedServer(lambda body, n: ("ok", '{"score": 1}')) as server:
        env = {"OPENAI_API_KEY": "sk-cli-test", "COLUMNS": "160"}
        args = ["score", "b", "preds.jsonl", "--judge-base-url", server.base_url, "--judge-cache", "judge.sqlite",
                "--run-dir", "runs/echo", "--model", "Echo", "--model-type", "Und. Only", "--model-size", "0B"]
        first = run(*args, cwd=tmp_path, env=env)
        second = run(*args, cwd=tmp_path, env=env)
        assert len(server.requests) == len(bench.tasks["qa"])
    assert first.returncode == 0, first.stderr
    assert f"judge gpt-4o-2024-08-06: {len(bench.tasks['qa'])} requests" in first.stdout
    assert "0 requests" in second.stdout and f"{len(bench.tasks['qa'])} from cache" in second.stdout
    info = json.loads((tmp_path / "runs/echo/run.json").read_text())
    assert info["judge"]["usage"]["cached"] == len(bench.tasks["qa"])  # the second run rewrote the run dir
    assert info["capabilities"] == ["understand"]
    built = run("leaderboard", "runs", "--benchmark", "b", "--out", "site", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    page = (tmp_path / "site" / "index.html").read_text()
    assert "Echo" in page and "Sync-R1" in page


def test_the_cli_starts_without_loading_torch() -> None:
    """`ubpp --help` and `ubpp build-dataset` need no model library: the scoring options are declared from
    `evaluators.scoring_config`, not from the scorers."""
    probe = "import sys, cli; print(sorted(m for m in ('torch', 'transformers', 'scipy') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).parents[1]).stdout.strip()
    assert loaded == "[]"


def test_a_wrong_training_setting_is_refused_before_the_trainer_loads(tmp_path: Path) -> None:
    """The settings are read before the trainer's imports (torch, transformers' Phi: seconds), so a typo in a
    setting or a config file is answered at once."""
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom cli import app\n"
            "result = CliRunner().invoke(app, ['train', 'syncr1', '--set', 'steps=x'])\n"
            "print(result.exit_code, 'training.trainer' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.stdout.split() == ["2", "False"], done.stderr


def test_a_launcher_s_rank_that_cannot_be_a_shard_is_refused(mini_build: Path, tmp_path: Path) -> None:
    """Without --shard, `ubpp evaluate` takes its shard from the launcher's RANK / WORLD_SIZE: values that are no
    shard (a word, a zero world, a rank past the last) are one line, never a traceback or an empty 'done' shard."""
    from typer.testing import CliRunner

    from cli import app

    for rank, world in (("abc", "2"), ("0", "0"), ("3", "2")):
        result = CliRunner().invoke(app, ["evaluate", "--model", "always-yes", "--benchmark", str(mini_build),
                                          "--runs-dir", str(tmp_path / "runs")],
                                    env={"RANK": rank, "WORLD_SIZE": world})
        message = " ".join(result.output.replace("│", " ").split())
        assert result.exit_code == 2 and "must be whole numbers with 0 <= RANK < WORLD_SIZE" in message, message
    assert not (tmp_path / "runs").exists()


def test_plan_shows_list_settings_as_written() -> None:
    """`[chelsea]` is a value, not rich markup: the plan printed every list setting blank."""
    from typer.testing import CliRunner

    from cli import app

    result = CliRunner().invoke(app, ["train", "syncr1", "--preset", "tiny", "--concept", "chelsea", "--set",
                                      "lora_targets=[q_proj]", "--plan"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "[chelsea] (default null)" in result.output and "[q_proj] (default [q_proj, k_proj" in result.output


def test_evaluate_names_the_row_and_its_size_as_told(mini_build: Path, tmp_path: Path) -> None:
    """A checkpoint of another size than the adapter's release (the demo's tiny Show-o) is labelled as the user says,
    in run.json and so on the leaderboard; the run folder keeps the adapter's name, and a resume keeps the labels."""
    import json

    from typer.testing import CliRunner

    from cli import app

    command = ["evaluate", "--model", "always-yes", "--benchmark", str(mini_build), "--runs-dir", str(tmp_path),
               "--tasks", "rec"]
    result = CliRunner().invoke(app, [*command, "--name", "Yes (tiny)", "--model-size", "7M"])
    assert result.exit_code == 0, result.output
    [run] = list(tmp_path.glob("always-yes/*/*/run.json"))

    def labels() -> tuple[str, str, str]:
        info = json.loads(run.read_text())
        return info["model"], info["model_size"], info["adapter"]

    assert labels() == ("Yes (tiny)", "7M", "always-yes")
    # re-running the same command without the labels resumes the run and keeps them; giving one changes it
    assert CliRunner().invoke(app, command).exit_code == 0
    assert labels() == ("Yes (tiny)", "7M", "always-yes")
    assert CliRunner().invoke(app, [*command, "--model-size", "8M"]).exit_code == 0
    assert labels() == ("Yes (tiny)", "8M", "always-yes")
    assert list(tmp_path.glob("always-yes/*/*/run.json")) == [run]  # one run all along
    fresh = tmp_path / "fresh"
    assert CliRunner().invoke(app, ["evaluate", "--model", "always-yes", "--benchmark", str(mini_build), "--runs-dir",
                                    str(fresh), "--tasks", "rec"]).exit_code == 0
    [new_run] = list(fresh.glob("always-yes/*/*/run.json"))
    assert json.loads(new_run.read_text())["model"] == "always-yes"  # a new run takes the adapter's labels



def test_an_evaluation_of_part_of_the_benchmark_is_incomplete(mini_build: Path, tmp_path: Path) -> None:
    """--limit scores a subset: the summary says how much, --require-complete fails, the leaderboard does not
    rank it; the full run (same folder, resumed) is complete."""
    from typer.testing import CliRunner

    import unifybench_pp
    from cli import app
    from evaluators.rundir import read_run
    from leaderboard.tables import build_tables

    total = len(unifybench_pp.load(mini_build).tasks["rec"])
    command = ["evaluate", "--model", "always-yes", "--benchmark", str(mini_build), "--runs-dir", str(tmp_path),
               "--tasks", "rec", "--require-complete"]
    part = CliRunner().invoke(app, [*command, "--limit", "2"], env={"COLUMNS": "300"})
    assert part.exit_code == 1 and f"rec.weight 2/{total} predicted" in part.stderr, part.output
    [run] = list(tmp_path.glob("always-yes/*/*"))
    summary = {r["name"]: r for r in json.loads((run / "summary.json").read_text())}
    assert (summary["rec.weight"]["coverage"], summary["rec.weight"]["missing"]) == (f"2/{total} predicted", total - 2)
    [table] = [t for t in build_tables([read_run(run)], include_reported=False) if t.key == "table1-syncr1"]
    assert table.rows[0].cells["rec.weight"].status == "partial"
    whole = CliRunner().invoke(app, command)
    assert whole.exit_code == 0, whole.output
    summary = {r["name"]: r for r in json.loads((run / "summary.json").read_text())}
    assert (summary["rec.weight"]["coverage"], summary["rec.weight"]["missing"]) == (None, 0)


def test_score_replaces_only_its_own_outputs(mini_build: Path, tmp_path: Path) -> None:
    """Re-scoring into its own --out file and --run-dir works (a predictions file saved with a BOM is read); the
    refusals (the predictions file, the build, an evaluate run, a user's files) are the bad-input table's rows."""
    from typer.testing import CliRunner

    from cli import app

    predictions = tmp_path / "preds.jsonl"
    predictions.write_text("\ufeff" + json.dumps({"task": "qa", "id": "qa/ast/000", "output": "x"}) + "\n")  # BOM
    command = ["score", str(mini_build), str(predictions), "--out", str(tmp_path / "scores.json"), "--run-dir",
               str(tmp_path / "run"), "--judge-cache", str(tmp_path / "j.sqlite")]
    for _ in range(2):
        done = CliRunner().invoke(app, command)
        assert done.exit_code == 0, done.output
    assert {r["name"] for r in json.loads((tmp_path / "scores.json").read_text())} >= {"qa.bleu"}
    assert json.loads((tmp_path / "run" / "run.json").read_text())["adapter"] == "predictions-file"

def test_an_evaluation_with_nothing_to_predict_says_so(mini_build: Path, tmp_path: Path) -> None:
    """UnifyBench++ builds hold no multiple-choice items: exit 0 (a launcher's extra shard is normal), with a note."""
    from typer.testing import CliRunner

    from cli import app

    result = CliRunner().invoke(app, ["evaluate", "--model", "always-yes", "--benchmark", str(mini_build),
                                      "--runs-dir", str(tmp_path), "--tasks", "qa_choice"], env={"COLUMNS": "300"})
    assert result.exit_code == 0 and "note: no item to predict" in result.output, result.output


def test_evaluate_quiet_drops_the_progress_bars_not_the_results(mini_build: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli import app

    command = ["evaluate", "--model", "always-yes", "--benchmark", str(mini_build), "--tasks", "rec"]
    loud = CliRunner().invoke(app, [*command, "--runs-dir", str(tmp_path / "a")])
    quiet = CliRunner().invoke(app, [*command, "--runs-dir", str(tmp_path / "b"), "-q"])
    assert loud.exit_code == quiet.exit_code == 0, loud.output + quiet.output
    assert "Rec. ━" in loud.output and "━━ 24/24" in loud.output and "24/24" not in quiet.output
    assert "rec.weight" in quiet.output and "24 items predicted" in quiet.output


def test_a_run_says_why_a_task_has_no_predictions(mini_build: Path, tmp_path: Path) -> None:
    """Scoring only sees that a task has none; the run knows whether the model cannot do it or --tasks left it out."""
    from typer.testing import CliRunner

    from cli import app

    result = CliRunner().invoke(app, ["evaluate", "--model", "always-yes", "--benchmark", str(mini_build), "--tasks",
                                      "rec", "--runs-dir", str(tmp_path), "-q"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    [run] = list(tmp_path.glob("always-yes/*/*/summary.json"))
    reasons = {row["name"]: row["not_computed"] for row in json.loads(run.read_text())}
    assert reasons["qa.bleu"] == "not asked for (--tasks)" and reasons["rec.weight"] is None
    assert reasons["pure_gen.colour"] == "the model does not generate images"


def test_without_a_device_models_and_scorers_use_a_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """evaluate and score share one rule: a GPU machine's run without --device uses the GPU, a CPU one the CPU."""
    import torch

    from baselines.base import default_device
    from evaluators.scorers.base import pick_device

    for visible, expected in ((True, "cuda"), (False, "cpu")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda visible=visible: visible)
        assert default_device() == expected and pick_device(None).type == expected
        assert pick_device("cpu").type == "cpu"
    for command in ("evaluate", "score"):
        shown = run(command, "--help", cwd=tmp_path, env={"COLUMNS": "200"}).stdout
        assert "default: cuda when a GPU is visible, else cpu" in shown, command
