"""Run directories under misuse: one writer (real processes), paths confined to the run, unusable images."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

import unifybench_pp
from baselines.registry import create
from bench.openai_server import ScriptedServer
from cli import app
from evaluators.metrics import MetricResult
from evaluators.rundir import RunInfo, image_name, write_results
from evaluators.runner import EvalConfig, run_evaluation
from evaluators.scoring_config import ScoringConfig
from leaderboard.page import build_site, thumbnail
from unifybench_pp.runlock import RunLocked, run_lock

from .tiny_models import make_tiny_clip

REPO = Path(__file__).resolve().parents[1]


def ubpp(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", "OPENAI_API_KEY": "sk-test",
           "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "cli", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def holding(runs: Path, timeout: float = 120.0) -> None:
    """Wait until an evaluation under `runs` has taken its run's lock (its holder file appears)."""
    deadline = time.monotonic() + timeout
    while not list(runs.glob("*/*/*/.ubpp-run.holder.json")):
        assert time.monotonic() < deadline, f"no evaluation took a lock under {runs}"
        time.sleep(0.05)


def slow_judge(body: dict, n: int) -> tuple:
    return ("ok", "1")


@pytest.mark.slow  # over 20 s: several processes or a whole run (pytest -m slow)
def test_two_evaluations_of_one_run_never_write_it_together(mini_build: Path, tmp_path: Path) -> None:
    """The issue's case: two `ubpp evaluate --model text-echo` at once. The second starts once the first holds
    the run, and a slow judge (6 calls, 2 s each) keeps the first inside it longer than a process takes to
    start, so the second always meets the lock (on a loaded machine too)."""
    with ScriptedServer(slow_judge, latency=2.0) as server:
        def start(runs: Path, *extra: str) -> subprocess.Popen:
            return ubpp("evaluate", "--model", "text-echo", "--benchmark", str(mini_build), "--runs-dir", str(runs),
                        "--tasks", "qa,vqa", "--limit", "3",
                        "--judge-base-url", server.base_url, "--judge-concurrency", "1",
                        "--judge-cache", str(runs / "judge.sqlite"), *extra, cwd=tmp_path)

        first = start(tmp_path / "a")
        holding(tmp_path / "a")
        second = start(tmp_path / "a")
        outcomes = {p.pid: (p.wait(timeout=300), p.communicate()) for p in (first, second)}
        codes = sorted(code for code, _ in outcomes.values())
        assert codes == [0, 2], outcomes
        [(loser, (_, (_, stderr)))] = [(pid, o) for pid, o in outcomes.items() if o[0] == 2]
        [winner] = [pid for pid in outcomes if pid != loser]
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and f"pid {winner} on " in lines[0], stderr
        assert "--wait" in lines[0] and "Traceback" not in stderr

        waiting = [start(tmp_path / "b", "--wait")]
        holding(tmp_path / "b")
        waiting.append(start(tmp_path / "b", "--wait"))
        results = [(p.wait(timeout=300), p.communicate()) for p in waiting]
    assert [code for code, _ in results] == [0, 0], results
    predicted = sorted(int(out.split(" items predicted")[0].split()[-1]) for _, (out, _) in results)
    assert predicted[0] == 0 and predicted[1] > 0  # the second resumed a finished run
    [run] = list((tmp_path / "b").glob("text-echo/*/*"))
    keys = [(r["task"], r["id"]) for r in map(json.loads, (run / "predictions.jsonl").read_text().splitlines())]
    assert len(keys) == len(set(keys)) == predicted[1]
    assert any("waiting for pid" in err for _, (_, err) in results)


HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from unifybench_pp.runlock import run_lock
    with run_lock(Path(sys.argv[1]), sys.argv[2]):
        print("locked", flush=True)
        time.sleep(600)
""")


def hold_lock(directory: Path, name: str = "run") -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(directory), name], cwd=REPO, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    holder = hold_lock(tmp_path)
    try:
        with pytest.raises(RunLocked, match=f"pid {holder.pid} on "):
            with run_lock(tmp_path):
                pass
        with run_lock(tmp_path, "shard-0-of-2"):  # shards never share a lock with the run or each other
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    said: list[str] = []
    with run_lock(tmp_path, say=said.append) as me:
        assert me.pid == os.getpid()
        assert json.loads((tmp_path / ".ubpp-run.holder.json").read_text())["pid"] == os.getpid()
    assert len(said) == 1 and f"left by pid {holder.pid}" in said[0] and "without releasing" in said[0]
    assert not (tmp_path / ".ubpp-run.holder.json").exists()  # released cleanly: nothing stale is left
    with run_lock(tmp_path, say=said.append):
        pass
    assert len(said) == 1


def test_score_and_train_take_the_lock_of_their_output(mini_build: Path, tmp_path: Path) -> None:
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"task": "qa", "id": "qa/ast/000", "output": "x"}) + "\n")
    holder = hold_lock(tmp_path / "run")
    train_holder = hold_lock(tmp_path / "train", "train")
    try:
        result = CliRunner().invoke(app, ["score", str(mini_build), str(preds), "--run-dir", str(tmp_path / "run"),
                                          "--judge-cache", str(tmp_path / "j.sqlite")])
        assert result.exit_code == 2 and f"pid {holder.pid} on " in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        result = CliRunner().invoke(app, ["train", "syncr1", "--preset", "tiny", "--out", str(tmp_path / "train"),
                                          "-q"])
        assert result.exit_code == 2 and f"pid {train_holder.pid} on " in result.stderr, result.output
    finally:
        for process in (holder, train_holder):
            process.send_signal(signal.SIGKILL)
            process.wait()


# Unusable image outputs ------------------------------------------------------------------------------------

def png_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def bomb_png() -> bytes:
    """A 100000 x 100000 PNG header (10^10 pixels) around a tiny stream: PIL's bomb guard must refuse it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) \
        + chunk(b"IEND", b"")


BAD_IMAGES = {
    "undecodable": (lambda: b"these bytes are no image at all", "not an image"),
    "truncated": (lambda: png_bytes((64, 64))[:90], "corrupt or truncated"),
    "empty": (lambda: b"", "empty file"),
    "bomb": (bomb_png, "too large to decode safely"),
}


def score_cli(bench: Path, preds: Path, tmp_path: Path, *extra: str):
    return CliRunner().invoke(app, ["score", str(bench), str(preds), "--judge-cache", str(tmp_path / "j.sqlite"),
                                    *extra])


def one_line_error(result, *needles: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert all(needle in lines[0] for needle in needles), lines[0]


@pytest.mark.parametrize("kind", sorted(BAD_IMAGES))
def test_score_refuses_an_unusable_image_in_one_line(kind: str, mini_build: Path, tmp_path: Path) -> None:
    data, reason = BAD_IMAGES[kind]
    (tmp_path / "out.png").write_bytes(data())
    item = unifybench_pp.load(mini_build).tasks["pure_gen"][0].id
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"task": "pure_gen", "id": item, "output": "out.png"}) + "\n")
    one_line_error(score_cli(mini_build, preds, tmp_path), item, reason, str(preds))


def escape_kinds(tmp_path: Path, secret: Path) -> dict[str, str]:
    """Each way a predictions file can name `secret`, which lies outside its folder (tmp_path / "sub")."""
    (tmp_path / "sub").mkdir(exist_ok=True)
    (tmp_path / "sub" / "link.png").symlink_to(secret)
    return {"absolute": str(secret), "dotdot": f"../{secret.name}", "symlink": "link.png",
            "system file": "/etc/passwd"}


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink", "system file"])
def test_score_refuses_paths_outside_the_predictions_folder(kind: str, mini_build: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes())
    name = escape_kinds(tmp_path, secret)[kind]
    item = unifybench_pp.load(mini_build).tasks["pure_gen"][0].id
    preds = tmp_path / "sub" / "preds.jsonl"
    preds.write_text(json.dumps({"task": "pure_gen", "id": item, "output": name}) + "\n")
    one_line_error(score_cli(mini_build, preds, tmp_path, "--run-dir", str(tmp_path / "run")), item, repr(name))
    assert not (tmp_path / "run" / "predictions.jsonl").exists()


def test_score_run_dir_holds_its_own_images(mini_build: Path, tmp_path: Path) -> None:
    """`--run-dir` copies image outputs into the run, so the run names only its own files."""
    (tmp_path / "gen").mkdir()
    (tmp_path / "gen" / "a.png").write_bytes(png_bytes())
    item = unifybench_pp.load(mini_build).tasks["pure_gen"][0].id
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"task": "pure_gen", "id": item, "output": "gen/a.png"}) + "\n")
    result = score_cli(mini_build, preds, tmp_path, "--run-dir", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    [record] = map(json.loads, (tmp_path / "run" / "predictions.jsonl").read_text().splitlines())
    assert record["output"] == "images/pure_gen/ast/000.png"
    assert (tmp_path / "run" / record["output"]).read_bytes() == png_bytes()


def test_evaluate_records_unusable_images_as_failed_items(mini_build: Path, tmp_path: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    config = EvalConfig("real-images", tasks=["pure_gen"], limit=len(BAD_IMAGES) + 1, runs_dir=tmp_path,
                        scoring=ScoringConfig(clip=str(make_tiny_clip(tmp_path / "clip")),
                                              judge_cache=tmp_path / "j.sqlite"))
    first = run_evaluation(bench, create("real-images"), config)
    items = [i.id for i in bench.tasks["pure_gen"][: len(BAD_IMAGES) + 1]]
    for item, (data, _) in zip(items, BAD_IMAGES.values()):
        (first.run_dir / image_name(item)).write_bytes(data())
    again = {r.name: r for r in run_evaluation(bench, create("real-images"), config).results}
    clip_i = again["pure_gen.clip_i"]
    assert clip_i.failed == len(BAD_IMAGES) and clip_i.n == 1 and clip_i.value is not None
    for item, (_, reason) in zip(items, BAD_IMAGES.values()):
        assert clip_i.per_item[item] is None and reason in clip_i.item_details[item]["error"]
    scores = [json.loads(line) for line in (first.run_dir / "scores.jsonl").read_text().splitlines()]
    assert any(s["score"] is None and "error" in s["details"] for s in scores)


# The leaderboard reads nothing outside the runs it is given ----------------------------------------------

def write_image_run(path: Path, output: str, model: str) -> None:
    info = RunInfo(model=model, model_type="Gen. Only", model_size="-", capabilities=["generate"],
                   benchmark_version="bench-v1", protocol="syncr1")
    result = MetricResult("pure_gen.clip_i", "pure_gen", "syncr1", "clip", value=0.5, ci95=(0.4, 0.6), n=1,
                          n_concepts=1, per_item={"pure_gen/ast/000": 0.5})
    write_results(path, info, [result])
    (path / "predictions.jsonl").write_text(
        json.dumps({"task": "pure_gen", "id": "pure_gen/ast/000", "output": output}) + "\n")


def test_leaderboard_embeds_no_byte_of_files_outside_the_runs(tmp_path: Path) -> None:
    outside = tmp_path / "private"
    outside.mkdir()
    marker = outside / "marker.png"
    Image.new("RGB", (32, 32), (1, 2, 3)).save(marker)
    text_marker = "PRIVATE-MARKER-7f3a91"
    (outside / "summary.json").write_text(json.dumps([{"name": "pure_gen.clip_i", "task": "pure_gen",
                                                        "protocol": "syncr1", "model": text_marker}]))
    runs = tmp_path / "runs"
    kinds = {"absolute": str(marker), "dotdot": "../../private/marker.png", "symlink": "images/link.png"}
    for kind, output in kinds.items():
        write_image_run(runs / kind, output, f"model-{kind}")
    (runs / "symlink" / "images").mkdir()
    (runs / "symlink" / "images" / "link.png").symlink_to(marker)
    write_image_run(runs / "summary-link", "images/own.png", "model-summary-link")
    (runs / "summary-link" / "summary.json").unlink()
    (runs / "summary-link" / "summary.json").symlink_to(outside / "summary.json")
    write_image_run(runs / "good", "images/own.png", "model-good")  # the control: its own image is shown
    (runs / "good" / "images").mkdir()
    Image.new("RGB", (32, 32), (250, 250, 5)).save(runs / "good" / "images" / "own.png")

    site = build_site([runs], tmp_path / "site")

    assert [run.info.model for run in site.runs] == ["model-good"]
    skipped = dict(site.skipped)
    for kind in kinds:
        assert "pure_gen/ast/000" in skipped[str(runs / kind)], skipped
    assert "outside" in skipped[str(runs / "summary-link")] or "symlink" in skipped[str(runs / "summary-link")]
    published = "".join(p.read_text(errors="replace") for p in (tmp_path / "site").rglob("*") if p.is_file())
    leaked = thumbnail(outside, marker.name)
    assert leaked and leaked not in published and text_marker not in published
    assert thumbnail(runs / "good", "images/own.png") in published


def test_ctrl_c_is_one_line_saying_what_is_kept_and_how_to_go_on(mini_build: Path, tmp_path: Path) -> None:
    """SIGINT while `ubpp train` waits for its run's lock: exit 130, no traceback, the resume hint."""
    holder = hold_lock(tmp_path / "run", "train")
    try:
        trainer = ubpp("train", "syncr1", "--preset", "tiny", "--concept", "ast", "--set", f"benchmark={mini_build}",
                       "--out", str(tmp_path / "run"), "--wait", "-q", cwd=tmp_path)
        said = trainer.stderr.readline()
        assert "waiting for pid" in said, said
        trainer.send_signal(signal.SIGINT)
        code, (_, stderr) = trainer.wait(timeout=60), trainer.communicate()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert code == 130 and "Traceback" not in stderr, stderr
    assert stderr.strip() == "interrupted; any checkpoints saved so far are kept; re-run with --resume to continue"


def test_a_run_folder_removed_while_predicting_stops_the_run(mini_build: Path, tmp_path: Path) -> None:
    """Deleting the run folder mid-run used to end in exit 0: a recreated folder marked done, holding part of the
    run. The next write now stops it, naming the folder; running again starts over and finishes."""
    import shutil

    from evaluators.rundir import RunError

    bench = unifybench_pp.load(mini_build)
    model = create("always-yes")
    answer = model.understand
    calls = []

    def understand_then_delete(requests: list) -> list:
        calls.append(len(requests))
        if len(calls) == 2:
            shutil.rmtree(next((tmp_path / "runs").glob("always-yes/*/*")))
        return answer(requests)

    model.understand = understand_then_delete
    config = EvalConfig("always-yes", runs_dir=tmp_path / "runs", tasks=["rec"], batch_size=2)
    with pytest.raises(RunError, match="was removed or replaced while this run wrote to it"):
        run_evaluation(bench, model, config)
    model.understand = answer
    again = run_evaluation(bench, model, config)
    assert again.predicted == len(bench.tasks["rec"]) and again.results is not None


def test_a_name_given_on_a_resume_that_stops_again_is_kept(mini_build: Path, tmp_path: Path) -> None:
    """run.json is otherwise rewritten when scoring ends: a resume named B, stopped before that, then resumed
    without a name, used to go back to A."""
    bench = unifybench_pp.load(mini_build)
    model = create("always-yes")
    answer = model.understand
    config = EvalConfig("always-yes", runs_dir=tmp_path / "runs", tasks=["rec"], limit=1, display_name="A")
    run_dir = run_evaluation(bench, model, config).run_dir
    scored = json.loads((run_dir / "run.json").read_text())

    def stopped(requests: list) -> list:
        raise KeyboardInterrupt

    model.understand = stopped
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(bench, model, EvalConfig("always-yes", runs_dir=tmp_path / "runs", tasks=["rec"], limit=2,
                                                display_name="B", model_size="7M"))
    recorded = json.loads((run_dir / "run.json").read_text())
    assert (recorded["model"], recorded["model_size"]) == ("B", "7M")
    for key in ("model", "model_size"):
        del recorded[key], scored[key]
    assert recorded == scored  # the rest of run.json is as scoring left it
    model.understand = answer
    again = run_evaluation(bench, model, EvalConfig("always-yes", runs_dir=tmp_path / "runs", tasks=["rec"], limit=2))
    assert (again.info.model, again.info.model_size) == ("B", "7M")
