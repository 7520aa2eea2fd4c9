"""Property-based tests of every reader of user files: any input gives a result or the project's one-line error.

Budget: the loaded Hypothesis profile's cases per reader (`tests/conftest.py`: 60 fixed ones by default, about a
second or two each on a 2-core CPU; `--hypothesis-profile explore` draws fresh ones).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import unifybench_pp
from bench.openai_server import ScriptedServer
from evaluators.judge import Judge, JudgeRequest
from evaluators.metrics import METRICS
from evaluators.rundir import RunError, read_run
from evaluators.runner import PredictionLog
from evaluators.scoring import read_predictions
from evaluators.text_metrics import judge_score, judge_unparseable, rec_correct
from leaderboard.tables import build_tables
from unifybench_pp import SourceError

FUZZ = settings(deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)


def mutated(valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    """`valid` with one field replaced, removed or added, or any JSON value at all."""
    keys = st.sampled_from(sorted(valid))
    return st.one_of(
        st.builds(lambda k, v: {**valid, k: v}, keys, json_values),
        st.builds(lambda k: {n: v for n, v in valid.items() if n != k}, keys),
        st.builds(lambda k, v: {**valid, k: v}, st.text(max_size=8), json_values),
        json_values,
        st.just(valid),
    )


def lines_of(record: dict[str, Any]) -> st.SearchStrategy[str]:
    """A line of a JSONL file: the record mutated, any JSON value, or any text."""
    return st.one_of(mutated(record).map(json.dumps), st.text(max_size=40))


def scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="ubpp-fuzz-"))


@FUZZ
@given(lines=st.lists(lines_of({"task": "qa", "id": "qa/ast/000", "output": "An answer."}), max_size=6))
def test_predictions_file(bench: unifybench_pp.Benchmark, lines: list[str]) -> None:
    path = scratch() / "preds.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        predictions = read_predictions(path, bench)
    except SourceError as error:
        assert "\n" not in str(error)
        return
    assert all(isinstance(o, str) for items in predictions.values() for o in items.values())


@FUZZ
@given(lines=st.lists(lines_of({"task": "qa", "id": "qa/ast/000", "output": "x"}), max_size=6),
       ending=st.sampled_from(["", "\n", '{"task": "qa", "id": "qa/a', '{"task": "qa", "id": "qa/b", "output": "y"}']))
def test_prediction_log_loses_nothing_written(lines: list[str], ending: str) -> None:
    path = scratch() / "predictions.jsonl"
    before = ("".join(line.replace("\n", " ") + "\n" for line in lines) + ending).encode()
    path.write_bytes(before)
    try:
        log = PredictionLog(path)
    except RunError as error:
        assert "\n" not in str(error) and path.read_bytes() == before  # refused: the file is untouched
        return
    after = path.read_bytes()
    complete = before[: before.rfind(b"\n") + 1]
    assert after.startswith(complete)  # every complete line is kept, byte for byte
    log.append([{"task": "qa", "id": "qa/new", "output": "z"}])
    assert PredictionLog(path).done[("qa", "qa/new")]["output"] == "z"
    assert path.read_bytes().startswith(complete)


RUN_INFO = {"model": "M", "model_type": "Unified Model", "model_size": "1B", "capabilities": ["understand"],
            "benchmark_version": "bench-v1", "protocol": "syncr1", "judge": {}, "metric_models": {}}
METRIC = {"name": "qa.bleu", "task": "qa", "protocol": "syncr1", "model": "rule", "value": 0.5, "ci95": [0.4, 0.6],
          "n": 1, "n_concepts": 1, "per_concept": {"ast": 0.5}}


@FUZZ
@example(info={**RUN_INFO, "metric_models": {"\n": False}}, summary=[], scores=[], predictions=[])  # found by CI
@given(info=mutated(RUN_INFO), summary=st.one_of(st.lists(mutated(METRIC), max_size=3), json_values),
       scores=st.lists(lines_of({"metric": "qa.bleu", "id": "qa/ast/000", "score": 0.5}), max_size=3),
       predictions=st.lists(lines_of({"task": "qa", "id": "qa/ast/000", "output": "x"}), max_size=3))
def test_run_directory(info: Any, summary: Any, scores: list[str], predictions: list[str]) -> None:
    run = scratch()
    (run / "run.json").write_text(json.dumps(info))
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "scores.jsonl").write_text("\n".join(scores))
    (run / "predictions.jsonl").write_text("\n".join(predictions))
    try:
        loaded = read_run(run)
    except RunError as error:
        assert "\n" not in str(error)
        return
    assert set(loaded.results) <= set(METRICS)
    build_tables([loaded])  # what the leaderboard does with a run it accepted


@FUZZ
@given(reply=st.text(max_size=60))
def test_judge_reply_text(reply: str) -> None:
    for protocol in ("syncr1", "strict"):
        value = judge_score(reply, protocol)
        assert value is None or 0.0 <= value <= 1.0
        assert isinstance(rec_correct(reply, True, protocol), bool)
    assert isinstance(judge_unparseable(reply), bool)


@pytest.fixture(scope="module")
def raw_server():
    body = {"text": ""}
    with ScriptedServer(lambda request, n: ("raw", body["text"])) as server:
        yield server, body


CHAT = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "1"}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


@FUZZ
@given(reply=st.one_of(mutated(CHAT).map(json.dumps), st.text(max_size=40),
                       json_values.map(lambda v: json.dumps({**CHAT, "choices": [{"message": {"content": v}}]}))))
def test_judge_server_replies(raw_server, tmp_path_factory: pytest.TempPathFactory, reply: str,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    server, body = raw_server
    body["text"] = reply
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    judge = Judge("m", base_url=server.base_url, cache_path=scratch() / "cache.sqlite", max_retries=0)
    [result] = judge.run([JudgeRequest("text_answer", {"question": "q", "reference": "r", "prediction": "p"})])
    assert (result.reply is None) != (result.error is None)
    assert result.reply is None or isinstance(result.reply, str)


@pytest.fixture(scope="module")
def bench_files(mini_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The benchmark's JSON files (images are not read by `load`)."""
    folder = tmp_path_factory.mktemp("bench-json")
    for path in mini_build.glob("*.json*"):
        shutil.copy(path, folder)
    return folder


BENCH_FILES = ["manifest.json", "concepts.jsonl", "extra_info.jsonl", "qa.jsonl", "pure_gen.jsonl"]


@FUZZ
@given(name=st.sampled_from(BENCH_FILES), data=st.data())
def test_benchmark_json_files(bench_files: Path, name: str, data: st.DataObject) -> None:
    original = (bench_files / name).read_text(encoding="utf-8")
    first = json.loads(original if name.endswith(".json") else original.splitlines()[0])
    folder = scratch()
    for path in bench_files.iterdir():
        shutil.copy(path, folder)
    if name.endswith(".json"):
        text = json.dumps(data.draw(mutated(first)))
    else:
        text = "\n".join(data.draw(st.lists(lines_of(first), min_size=1, max_size=3)))
    (folder / name).write_text(text, encoding="utf-8")
    try:
        loaded = unifybench_pp.load(folder)
    except SourceError as error:
        assert "\n" not in str(error)
        return
    assert loaded.version and all(isinstance(c, str) for c in loaded.concepts)
