"""`ubpp evaluate`: end to end on the tiny Show-o model, resume after kill -9, shards, sanity rows, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import unifybench_pp
from baselines.base import ModelError
from baselines.registry import adapters, create
from baselines.showo.pipeline import ShowoPipeline, build_tiny_checkpoint
from evaluators.metrics import METRICS
from evaluators.rundir import image_name
from evaluators.runner import EvalConfig, run_evaluation
from evaluators.scorers.clip import ClipScorer
from evaluators.scoring_config import ScoringConfig

from .cli_runner import ubpp as in_process
from .tiny_models import make_tiny_clip

UBPP = Path(sys.executable).with_name("ubpp")
TINY_OPTIONS = ["--option", "steps=3", "--option", "max_new_tokens=12"]


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory, mini_build: Path) -> Path:
    folder = tmp_path_factory.mktemp("tiny") / "syncr1-tiny"
    showo, magvit = build_tiny_checkpoint(folder)
    pipe = ShowoPipeline.from_pretrained(showo, magvit)
    for concept in unifybench_pp.load(mini_build).concepts:
        pipe.add_concept(concept)
        pipe.save_concept(concept, folder / "concepts" / f"{concept}.safetensors")
    return folder


def summary(run_dir: Path) -> dict[str, float | None]:
    return {r["name"]: r["value"] for r in json.loads((run_dir / "summary.json").read_text())}


def evaluate(*args: str, cwd: Path, wait: bool = True):
    command = [str(UBPP), "evaluate", *args]
    env = {**os.environ, "COLUMNS": "160", "OPENAI_API_KEY": "", "HF_HUB_OFFLINE": "1"}
    if not wait:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)


def test_tiny_syncr1_on_all_nine_tasks(mini_build: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    model = create("syncr1", str(tiny_bundle), steps=3, max_new_tokens=12)
    result = run_evaluation(bench, model, EvalConfig("syncr1", str(tiny_bundle), runs_dir=tmp_path))
    lines = (result.run_dir / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == sum(len(items) for items in bench.tasks.values())
    table1 = [r for r in result.results if METRICS[r.name].table1]
    assert len(table1) == 15 and all((r.value is None) == bool(r.not_computed) for r in table1)
    assert {r.name for r in table1 if r.value is not None} == {"rec.weight", "rea.bleu", "vqa.bleu", "qa.bleu"}
    images = sorted((result.run_dir / "images").rglob("*.png"))
    assert len(images) == sum(len(bench.tasks[t]) for t in ("pure_gen", "dense_gen", "rea_gen", "dense_rea_gen"))
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["model_type"] == "Unified Model" and info["checkpoint_sha256"] and len(info["capabilities"]) == 2
    assert info["recipe"]["guidance_scale"] == 5.0 and info["recipe"]["steps"] > 0  # how it sampled, recorded
    again = run_evaluation(bench, model, EvalConfig("syncr1", str(tiny_bundle), runs_dir=tmp_path))
    assert again.run_dir == result.run_dir and again.predicted == 0 and again.skipped == len(lines)
    other = run_evaluation(bench, model, EvalConfig("syncr1", str(tiny_bundle), runs_dir=tmp_path, seed=1,
                                                    tasks=["qa"]))
    assert other.run_dir != result.run_dir  # a changed seed never mixes with the old results


@pytest.mark.slow  # over 20 s: several processes or a whole run (pytest -m slow)
def test_resume_after_kill_and_shards_match_one_process(mini_build: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    common = ["--model", "syncr1", "--checkpoint", str(tiny_bundle), "--benchmark", str(mini_build),
              "--batch-size", "1", "--tasks", "rec,qa,vqa,dense_gen,rea_gen", "--concepts", "ast,cam,chelsea",
              *TINY_OPTIONS]
    quiet_env = {"COLUMNS": "160", "OPENAI_API_KEY": "", "HF_HUB_OFFLINE": "1"}
    whole = in_process("evaluate", *common, "--runs-dir", "whole", cwd=tmp_path, env=quiet_env)  # no kill here
    assert whole.returncode == 0, whole.stderr
    [whole_dir] = list((tmp_path / "whole").glob("syncr1/*/*"))

    process = evaluate(*common, "--runs-dir", "killed", cwd=tmp_path, wait=False)
    deadline = time.time() + 120
    predictions = None
    while time.time() < deadline:
        found = list((tmp_path / "killed").glob("syncr1/*/*/predictions.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= 8:
            predictions = found[0]
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert predictions is not None, "the run never wrote predictions"
    before = len(predictions.read_text().splitlines())
    assert before < len((whole_dir / "predictions.jsonl").read_text().splitlines())
    resumed = in_process("evaluate", *common, "--runs-dir", "killed", cwd=tmp_path, env=quiet_env)
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stdout
    ids = [json.loads(line)["id"] for line in predictions.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == len((whole_dir / "predictions.jsonl").read_text().splitlines())
    assert summary(predictions.parent) == summary(whole_dir)

    shards = [evaluate(*common, "--runs-dir", "sharded", "--shard", f"{i}/2", cwd=tmp_path, wait=False)
              for i in range(2)]
    for shard in shards:
        assert shard.wait(timeout=300) == 0, shard.stderr.read()
    [sharded_dir] = list((tmp_path / "sharded").glob("syncr1/*/*"))
    assert summary(sharded_dir) == summary(whole_dir)


def test_real_images_and_always_yes(mini_build: Path, tmp_path: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    clip = make_tiny_clip(tmp_path / "clip")
    scoring = ScoringConfig(clip=str(clip), judge_cache=tmp_path / "judge.sqlite")
    yes = run_evaluation(bench, create("always-yes"), EvalConfig("always-yes", runs_dir=tmp_path, scoring=scoring))
    assert {r.name: r.value for r in yes.results}["rec.weight"] == 0.5
    real = run_evaluation(bench, create("real-images"), EvalConfig("real-images", runs_dir=tmp_path, scoring=scoring,
                                                                    tasks=["pure_gen"]))
    result = {r.name: r for r in real.results}["pure_gen.clip_i"]
    scorer = ClipScorer(str(clip))
    per_concept: dict[str, list[float]] = {}
    for item in bench.tasks["pure_gen"]:
        saved = real.run_dir / image_name(item.id)
        first = scorer.image_features([bench.image_path(bench.concepts[item.concept].test_images[0])])
        per_concept.setdefault(item.concept, []).append(float(first[0] @ scorer.image_features([saved])[0]))
    assert result.value == pytest.approx(np.mean([np.mean(v) for v in per_concept.values()]), abs=1e-5)
    train = {bench.image_path(p) for c in bench.concepts.values() for p in c.train_images}
    test = {bench.image_path(p) for c in bench.concepts.values() for p in c.test_images}
    from PIL import Image

    for path in (real.run_dir / "images").glob("*.png"):  # each output is one of the held-out training photos
        pixels = np.asarray(Image.open(path).convert("RGB"))
        assert any(np.array_equal(pixels, np.asarray(Image.open(p).convert("RGB"))) for p in train)
        assert not any(np.array_equal(pixels, np.asarray(Image.open(p).convert("RGB"))) for p in test)


class HungryModel:
    """A test adapter that runs out of memory above a batch size."""

    name = "hungry"
    capabilities = {"understand"}

    def __init__(self, limit: int) -> None:
        self.limit, self.calls = limit, []

    def personalize(self, concept, train_images) -> None:
        pass

    def understand(self, requests):
        self.calls.append(len(requests))
        if len(requests) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (test)")
        return ["No" for _ in requests]

    def generate(self, requests):
        raise NotImplementedError


def test_out_of_memory_halves_the_batch_once(mini_build: Path, tmp_path: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    model = HungryModel(limit=2)
    run_evaluation(bench, model, EvalConfig("hungry", runs_dir=tmp_path, tasks=["qa"], concepts=["ast"],
                                            batch_size=3))
    assert model.calls == [3, 1, 2]  # ast's three questions: out of memory, then halves
    with pytest.raises(ModelError, match="out of memory"):
        run_evaluation(bench, HungryModel(limit=0), EvalConfig("hungry", runs_dir=tmp_path / "b", tasks=["qa"],
                                                                 limit=2, batch_size=1))


def test_user_errors_exit_2(mini_build: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    cases = [
        (["--model", "gpt-5-turbo"], "unknown model 'gpt-5-turbo'"),
        (["--model", "syncr1"], "weights for syncr1 not found: pass --checkpoint PATH or a hub id"),
        (["--model", "syncr1", "--checkpoint", str(tmp_path / "nothing")], "weights for syncr1 not found"),
        (["--model", "unictokens", "--checkpoint", str(tiny_bundle), "--option", "concepts=" + str(tmp_path)],
         "concept weights for ast not found"),
        (["--model", "always-yes", "--option", "color=red"], "always-yes takes no options"),
        (["--model", "always-yes", "--tasks", "rec,poetry"], "unknown task(s) 'poetry'"),
        (["--model", "always-yes", "--samples", "0"], "Invalid value for '--samples'"),
        (["--model", "always-yes", "--judge-repeats", "0"], "Invalid value for '--judge-repeats'"),
        (["--model", "always-yes", "--limit", "-1"], "Invalid value for '--limit'"),  # dropped each task's last item
        (["--model", "always-yes", "--batch-size", "0"], "Invalid value for '--batch-size'"),
        (["--model", "always-yes", "--batch-size", "-1"], "Invalid value for '--batch-size'"),  # predicted nothing
        (["--model", "always-yes", "--judge-timeout", "0"], "Invalid value for '--judge-timeout'"),
    ]
    from typer.testing import CliRunner

    from cli import app

    def run(*args: str):
        result = CliRunner().invoke(app, ["evaluate", *args, "--runs-dir", str(tmp_path / "r")])
        return result.exit_code, " ".join(result.stderr.split())

    for args, message in cases:
        code, stderr = run(*args, "--benchmark", str(mini_build))
        assert code == 2 and message in stderr, (args, stderr)
    code, stderr = run("--model", "always-yes", "--benchmark", str(tmp_path / "nope"))
    assert code == 2 and "benchmark not built" in stderr
    old = tmp_path / "old-bench"
    import shutil

    shutil.copytree(mini_build, old)
    manifest = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**manifest, "schema_version": "0.9"}))
    code, stderr = run("--model", "always-yes", "--benchmark", str(old))
    assert code == 2 and "rebuild the benchmark" in stderr


def test_options_from_a_toml_file_and_third_party_adapters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           mini_build: Path, tiny_bundle: Path) -> None:
    (tmp_path / "tiny.toml").write_text("steps = 2\nmax_new_tokens = 4\n")
    result = in_process("evaluate", "--model", "showo-tp", "--checkpoint", str(tiny_bundle), "--config", "tiny.toml",
                        "--tasks", "qa", "--limit", "2", "--benchmark", str(mini_build), cwd=tmp_path,
                        env={"OPENAI_API_KEY": "", "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    plugin = tmp_path / "plugin"
    (plugin / "ubpp_plugin_demo-0.1.dist-info").mkdir(parents=True)
    (plugin / "ubpp_plugin_demo-0.1.dist-info" / "METADATA").write_text("Name: ubpp-plugin-demo\nVersion: 0.1\n")
    (plugin / "ubpp_plugin_demo-0.1.dist-info" / "entry_points.txt").write_text(
        "[ubpp.models]\nmy-yes = baselines.sanity:always_yes\n")
    monkeypatch.syspath_prepend(str(plugin))
    assert adapters()["my-yes"].source == "entry point"
    assert create("my-yes").understand([]) == []


class EchoPainter:
    """A test model that understands by rewriting the prompt's last line, and paints a flat image per prompt."""

    name = "echo-painter"

    def __init__(self, capabilities=("understand", "generate"), crash_after: int | None = None) -> None:
        self.capabilities = set(capabilities)
        self.generated: list[tuple[str, str]] = []
        self.calls = 0
        self.crash_after = crash_after

    def personalize(self, concept, train_images) -> None:
        pass

    def _tick(self) -> None:
        self.calls += 1
        if self.crash_after is not None and self.calls > self.crash_after:
            raise KeyboardInterrupt("killed (test)")

    def understand(self, requests):
        self._tick()
        return [f"REWRITTEN {r.item_id}: " + r.prompt.splitlines()[-1][:40] for r in requests]

    def generate(self, requests):
        from PIL import Image

        self._tick()
        self.generated += [(r.item_id, r.prompt) for r in requests]
        return [Image.new("RGB", (8, 8), (len(r.prompt) % 256, 0, 0)) for r in requests]


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]


def test_rea_gen_draws_from_the_models_own_rea_output(mini_build: Path, tmp_path: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    model = EchoPainter()
    result = run_evaluation(bench, model, EvalConfig("echo-painter", runs_dir=tmp_path,
                                                     tasks=["rea_gen", "dense_rea_gen"], concepts=["ast", "coins"]))
    log = {(r["task"], r["id"]): r for r in records(result.run_dir)}
    # The source tasks were not asked for, but their items ran first and were recorded.
    assert {t for t, _ in log} == {"rea", "dense_rea", "rea_gen", "dense_rea_gen"}
    generated = dict(model.generated)
    for task, source_task in (("rea_gen", "rea"), ("dense_rea_gen", "dense_rea")):
        for item in bench.items(task, ["ast", "coins"]):
            own = log[(source_task, item.source_item)]["output"]
            assert own.startswith(f"REWRITTEN {item.source_item}: ")
            assert generated[item.id] == own == log[(task, item.id)]["prompt"]
            assert log[(task, item.id)]["prompt_source"] == f"own:{item.source_item}"
    assert json.loads((result.run_dir / "run.json").read_text())["reasoning_input"] == "own"


def test_resume_after_a_crash_keeps_the_stage_order(mini_build: Path, tmp_path: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    config = EvalConfig("echo-painter", runs_dir=tmp_path, tasks=["rea", "rea_gen", "qa"], concepts=["ast", "cam"],
                        batch_size=1)
    for crash_after in (3, 9):  # once inside the first concept's understanding, once later
        with pytest.raises(KeyboardInterrupt):
            run_evaluation(bench, EchoPainter(crash_after=crash_after), config)
    model = EchoPainter()
    result = run_evaluation(bench, model, config)
    assert result.skipped > 0
    log = records(result.run_dir)
    order = [(r["task"], r["id"]) for r in log]
    assert len(order) == len(set(order)) == sum(len(bench.items(t, ["ast", "cam"])) for t in ("rea", "rea_gen", "qa"))
    position = {key: k for k, key in enumerate(order)}
    for item in bench.items("rea_gen", ["ast", "cam"]):
        assert position[("rea", item.source_item)] < position[("rea_gen", item.id)]
        source = next(r for r in log if r["id"] == item.source_item)
        assert next(r for r in log if r["id"] == item.id)["prompt"] == source["output"]


def test_explicit_and_implicit_reasoning_inputs_are_recorded_and_kept_apart(mini_build: Path, tmp_path: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    runs = {}
    for reasoning in ("own", "explicit", "implicit"):
        model = EchoPainter()
        result = run_evaluation(bench, model, EvalConfig("echo-painter", runs_dir=tmp_path, tasks=["rea_gen"],
                                                         concepts=["chelsea"], reasoning_input=reasoning))
        runs[reasoning] = result.run_dir
        assert json.loads((result.run_dir / "run.json").read_text())["reasoning_input"] == reasoning
        if reasoning != "own":
            assert model.calls == 1  # no Rea. items were needed
            expected = {i.id: getattr(i, f"{reasoning}_prompt") for i in bench.items("rea_gen", ["chelsea"])}
            assert dict(model.generated) == expected
            assert {r["prompt_source"] for r in records(result.run_dir)} == {reasoning}
    assert len(set(runs.values())) == 3  # three run directories: never mixed

    from leaderboard.page import load_runs
    from leaderboard.tables import build_tables

    runs, skipped = load_runs([tmp_path])
    assert len(runs) == 3 and not skipped
    tables = {t.key: t for t in build_tables(runs, include_reported=True)}
    assert {"table1-syncr1", "table1-syncr1-explicit", "table1-syncr1-implicit"} <= set(tables)
    assert [r.source for r in tables["table1-syncr1-explicit"].rows] == ["measured"]  # no paper rows beside it


def test_a_model_that_cannot_understand_draws_from_the_implicit_prompt(mini_build: Path, tmp_path: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    model = EchoPainter(capabilities=("generate",))
    result = run_evaluation(bench, model, EvalConfig("painter", runs_dir=tmp_path, tasks=["rea_gen"],
                                                     concepts=["rocket"]))
    assert dict(model.generated) == {i.id: i.implicit_prompt for i in bench.items("rea_gen", ["rocket"])}
    assert {r["task"] for r in records(result.run_dir)} == {"rea_gen"}


def test_sharded_and_unsharded_launches_of_a_run_predict_nothing_twice(mini_build: Path, tmp_path: Path) -> None:
    """Per-item seeds make an output independent of its shard, so whichever launch finished an item, the others
    take it over: shard 0 of 2 first, then one process; one process first, then a shard; a generation record whose
    image is gone is predicted again."""
    bench = unifybench_pp.load(mini_build)
    scoring = ScoringConfig(clip="/nonexistent", judge_cache=tmp_path / "judge.sqlite")
    text = lambda **kw: EvalConfig("always-yes", runs_dir=tmp_path, scoring=scoring, tasks=["rec"], **kw)  # noqa: E731
    concepts = sorted(bench.concepts)
    first_shard = sum(1 for item in bench.tasks["rec"] if concepts.index(item.concept) % 2 == 0)
    shard = run_evaluation(bench, create("always-yes"), text(shard=(0, 2)))
    assert shard.results is None and shard.predicted == first_shard
    whole = run_evaluation(bench, create("always-yes"), text())
    assert (whole.skipped, whole.predicted) == (first_shard, len(bench.tasks["rec"]) - first_shard)
    assert whole.run_dir == shard.run_dir and whole.results is not None

    images = lambda **kw: EvalConfig("real-images", runs_dir=tmp_path, scoring=scoring,  # noqa: E731
                                     tasks=["pure_gen"], **kw)
    alone = run_evaluation(bench, create("real-images"), images())
    second = [item for item in bench.tasks["pure_gen"] if concepts.index(item.concept) % 2 == 1]
    (alone.run_dir / image_name(second[0].id)).unlink()
    later = run_evaluation(bench, create("real-images"), images(shard=(1, 2)))
    assert (later.skipped, later.predicted) == (len(second) - 1, 1)
    shard_file = alone.run_dir / "predictions.shard-1-of-2.jsonl"
    assert sorted(json.loads(line)["id"] for line in shard_file.read_text().splitlines()) == \
        sorted(item.id for item in second)
    (alone.run_dir / image_name(second[1].id)).unlink()  # the same launch again: its own record lost its image too
    again = run_evaluation(bench, create("real-images"), images())
    assert again.predicted == 1 and (alone.run_dir / image_name(second[1].id)).is_file()
    assert again.results is not None and all(r.failed == 0 for r in again.results if r.task == "pure_gen")


def test_shards_launched_with_other_settings_are_named_and_the_run_is_not_taken_as_scored(
        mini_build: Path, tmp_path: Path) -> None:
    """Shard 1/2 with another seed lands in another run folder (the settings' hash) and never merges: both used to
    say only "this shard is done", and compare took the unscored folder as a run with no column computed."""
    from evaluators.rundir import RunError, check_scored, read_run

    bench = unifybench_pp.load(mini_build)
    scoring = ScoringConfig(clip="/nonexistent", judge_cache=tmp_path / "judge.sqlite")
    config = lambda **kw: EvalConfig("always-yes", runs_dir=tmp_path / "runs", scoring=scoring, tasks=["rec"],  # noqa: E731
                                     **kw)
    first = run_evaluation(bench, create("always-yes"), config(shard=(0, 2)))
    assert first.results is None and first.waiting == ["1/2"]
    said: list[str] = []
    other = run_evaluation(bench, create("always-yes"), config(shard=(1, 2), seed=1), say=said.append)
    assert other.run_dir != first.run_dir and other.waiting == ["0/2"]
    [note] = said
    assert note.startswith(f"shard 0/2 finished in {first.run_dir}, a run with other settings") and "seed" in note
    with pytest.raises(RunError, match=r"not scored yet: shard 1/2 has not finished \(run the evaluate command "
                                       r"with --shard 1/2"):
        check_scored(read_run(first.run_dir))
    compared = in_process("compare", str(first.run_dir), str(other.run_dir), cwd=tmp_path)
    assert compared.returncode == 2 and "shard 1/2 has not finished" in compared.stderr, compared.stderr
