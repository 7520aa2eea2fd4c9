"""Variance decomposition: a simulation with known components, and a noisy judge behind a real HTTP server."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import numpy as np
import pytest

import unifybench_pp
from baselines.registry import create
from bench.openai_server import ScriptedServer
from evaluators.runner import EvalConfig, run_evaluation
from evaluators.scoring_config import ScoringConfig
from evaluators.variance import decompose, observation_id, parse_observation


def test_observation_ids_round_trip() -> None:
    assert observation_id("qa/bo/003") == "qa/bo/003"
    assert observation_id("qa/bo/003", 2, 3) == "qa/bo/003#2@3"
    assert parse_observation("qa/bo/003#2@3") == ("qa/bo/003", 2, 3)
    assert parse_observation("qa/bo/003@1") == ("qa/bo/003", 0, 1)


def test_decomposition_recovers_simulated_components() -> None:
    rng = np.random.default_rng(0)
    sd = {"concept": 0.1, "item": 0.15, "sampling": 0.08, "judge": 0.2}
    observations = {}
    for c in range(300):
        concept = rng.normal(0, sd["concept"])
        for i in range(5):
            item = concept + rng.normal(0, sd["item"])
            for k in range(3):
                sample = item + rng.normal(0, sd["sampling"])
                for r in range(3):
                    observations[observation_id(f"qa/c{c}/{i:03d}", k, r)] = sample + rng.normal(0, sd["judge"])
    found = decompose(observations)
    for name, value in sd.items():
        assert getattr(found, name) == pytest.approx(value ** 2, rel=0.2), name
    assert sum(found.shares.values()) == pytest.approx(1.0)
    # Concept means spread by sqrt(0.01 + 0.0225/5 + 0.0064/15 + 0.04/45): two models 0.05 apart need
    # ~2*(2.8*sd/0.05)^2.
    expected_sd = np.sqrt(0.01 + 0.0225 / 5 + 0.0064 / 15 + 0.04 / 45)
    assert found.concept_mean_sd == pytest.approx(expected_sd, rel=0.1)
    assert found.concepts_needed == pytest.approx(2 * (2.8016 * found.concept_mean_sd / 0.05) ** 2, rel=0.02)


def test_without_repetitions_sampling_and_judge_are_not_separable() -> None:
    found = decompose({f"qa/c{c}/{i:03d}": float((c + i) % 3) for c in range(4) for i in range(3)})
    assert found.sampling is None and found.judge is None and set(found.shares) == {"concept", "item"}


def test_judge_repeats_recover_an_injected_judge_variance(mini_build: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The scripted judge answers 1 or 0 at random, whatever it is asked: its variance is exactly 0.25."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    rng, lock = random.Random(5), threading.Lock()

    def noisy(body: dict, n: int) -> tuple:
        with lock:
            return ("ok", rng.choice(["0", "1"]))

    bench = unifybench_pp.load(mini_build)
    with ScriptedServer(noisy) as server:
        scoring = ScoringConfig(judge_base_url=server.base_url, judge_cache=tmp_path / "j.sqlite", judge_repeats=6)
        result = run_evaluation(bench, create("text-echo"), EvalConfig("text-echo", runs_dir=tmp_path,
                                                                        tasks=["qa", "vqa"], scoring=scoring))
        asked = len(server.requests)
    assert asked == 6 * (len(bench.tasks["qa"]) + len(bench.tasks["vqa"]))  # each repeat a separate cache entry
    summary = {r["name"]: r for r in json.loads((result.run_dir / "summary.json").read_text())}
    for name in ("qa.gpt", "vqa.gpt"):
        variance = summary[name]["variance"]
        assert variance["judge"] == pytest.approx(0.25, abs=0.06), name
        assert variance["sampling"] is None
        assert sum(variance["shares"].values()) == pytest.approx(1.0)
        assert variance["shares"]["judge"] > 0.7  # a judge that flips coins explains nearly all the variance
    assert summary["qa.bleu"]["variance"]["judge"] is None  # BLEU needs no judge: nothing repeated


class CoinModel:
    """A test model whose recognition answer depends on its seed only."""

    name = "coin"
    capabilities = {"understand"}

    def personalize(self, concept, train_images) -> None:
        pass

    def understand(self, requests):
        return ["Yes" if r.seed % 2 else "No" for r in requests]

    def generate(self, requests):
        raise NotImplementedError


def test_samples_draw_distinct_seeds_and_separate_sampling_variance(mini_build: Path, tmp_path: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    result = run_evaluation(bench, CoinModel(), EvalConfig("coin", runs_dir=tmp_path, tasks=["rec"], samples=4))
    ids = [json.loads(line)["id"] for line in (result.run_dir / "predictions.jsonl").read_text().splitlines()]
    assert len(ids) == 4 * len(bench.tasks["rec"]) and len(set(ids)) == len(ids)
    assert {parse_observation(i)[1] for i in ids} == {0, 1, 2, 3}
    plain = run_evaluation(bench, CoinModel(), EvalConfig("coin", runs_dir=tmp_path, tasks=["rec"]))
    assert plain.run_dir != result.run_dir  # sample 0 is the one-sample run; the config hash still differs
    first = {json.loads(line)["id"]: json.loads(line)["output"]
             for line in (plain.run_dir / "predictions.jsonl").read_text().splitlines()}
    sampled = {json.loads(line)["id"]: json.loads(line)["output"]
               for line in (result.run_dir / "predictions.jsonl").read_text().splitlines()}
    assert all(sampled[i] == first[i] for i in first)
    rec = {r.name: r for r in result.results}["rec.weight"]
    assert rec.variance["sampling"] is not None and rec.variance["sampling"] > 0
