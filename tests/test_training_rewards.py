"""The reward ensemble: TIER's formula, the person-only weight move, and the offline stand-ins on real images."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import unifybench_pp
from evaluators.scorers.unavailable import ScorerUnavailable
from training.config import RewardConfig, load_config
from training.rewards import RewardEnsemble, RewardSample, tier
from unifybench_pp.errors import SettingsError, UbppError


def test_tier_is_one_minus_the_normalized_distance_to_the_truth() -> None:
    reasoning = torch.nn.functional.normalize(torch.tensor([1.0, 2.0, 0.5]), dim=0)
    candidates = torch.nn.functional.normalize(torch.tensor([[1.0, 2.0, 0.4], [0.0, -1.0, 3.0], [2.0, 0.0, 0.0]]),
                                               dim=1)
    truth = torch.tensor([1.0, 0.0, 0.0])
    sims = [float(np.dot(reasoning.numpy(), c.numpy())) for c in candidates]
    distance = math.sqrt(sum((s - y) ** 2 for s, y in zip(sims, truth.tolist())))
    assert tier(reasoning, candidates, truth) == pytest.approx(1 - distance / (2 * math.sqrt(3)), rel=1e-6)
    assert tier(candidates[0], candidates[:1], torch.tensor([1.0])) == pytest.approx(1.0, abs=1e-6)
    assert tier(-candidates[0], candidates[:1], torch.tensor([1.0])) == pytest.approx(0.0, abs=1e-6)


def _sample(bench: unifybench_pp.Benchmark, concept: str, reasoning: str, image: Image.Image) -> RewardSample:
    facts = [x.text for x in bench.extra_info if x.concept == concept and x.split == "train"]
    return RewardSample(bench.concepts[concept], reasoning, facts, [1.0] + [0.0] * (len(facts) - 1),
                        "a photo of a cat", image, [bench.root / p for p in bench.concepts[concept].train_images])


def test_ensemble_scores_every_component_and_moves_person_only_weight(mini_build: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    config = RewardConfig(weights={"tier": 0.4, "colour": 0.2, "ssim": 0.2, "face": 0.2}, person_only=["face"],
                          fallback="ssim", facenet=None)
    ensemble = RewardEnsemble(config)
    assert ensemble.weights(bench.concepts["ast"]) == config.weights
    assert ensemble.weights(bench.concepts["chelsea"]) == {"tier": 0.4, "colour": 0.2, "ssim": 0.4}
    reference = Image.open(bench.root / bench.concepts["chelsea"].train_images[0]).convert("RGB")
    facts = [x.text for x in bench.extra_info if x.concept == "chelsea" and x.split == "train"]
    right = _sample(bench, "chelsea", facts[0], reference)
    wrong = _sample(bench, "chelsea", "The stock market closed higher on Tuesday.", Image.new("RGB", (64, 64), "blue"))
    scores = ensemble.score([right, wrong])
    assert scores[0]["face"] is None and scores[1]["face"] is None  # no person: no face reward
    assert scores[0]["tier"] > scores[1]["tier"] + 0.2
    assert scores[0]["colour"] > scores[1]["colour"] and scores[0]["ssim"] > scores[1]["ssim"]
    for row in scores:
        assert row["total"] == pytest.approx(0.4 * row["tier"] + 0.2 * row["colour"] + 0.4 * row["ssim"])
    person = ensemble.score([_sample(bench, "ast", "x", reference)])[0]
    assert person["face"] is not None and 0.0 <= person["face"] <= 1.0


def test_pixel_rewards_on_identical_and_different_images(mini_build: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    ensemble = RewardEnsemble(RewardConfig(weights={"colour": 0.5, "ssim": 0.5}, person_only=[], facenet=None))
    path = bench.root / bench.concepts["coffee"].train_images[0]
    image = Image.open(path).convert("RGB")
    same = RewardSample(bench.concepts["coffee"], "", ["x"], [1.0], "", image, [path])
    assert ensemble.compute("colour", [same]) == [pytest.approx(1.0)]
    assert ensemble.compute("ssim", [same]) == [pytest.approx(1.0)]
    flipped = RewardSample(bench.concepts["coffee"], "", ["x"], [1.0], "", image.rotate(90), [path])
    assert ensemble.compute("colour", [flipped])[0] > 0.9  # rotation keeps the colours
    assert ensemble.compute("ssim", [flipped])[0] < 0.9  # but not the structure


def test_missing_models_and_unknown_rewards_fail_before_training() -> None:
    with pytest.raises(ValueError, match="unknown reward"):
        RewardEnsemble(RewardConfig(weights={"bogus": 1.0}))
    ensemble = RewardEnsemble(RewardConfig(blip2="/nonexistent/blip2"))
    with pytest.raises(ScorerUnavailable, match="reward 'ber'"):
        ensemble.require(["ber"])


USER_REWARD = '''
from PIL import ImageStat


def brightness(samples):
    """Mean pixel value of each generated image, in [0, 1]."""
    return [ImageStat.Stat(s.image.convert("L")).mean[0] / 255 for s in samples]


def undefined(samples):
    return [float("nan")] * len(samples)


def words(samples):
    return ["good"] * len(samples)


def one(samples):
    return 0.5


def broken(samples):
    raise RuntimeError("my bug")
'''


def test_a_users_reward_is_a_function_named_module_colon_function(mini_build: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """No package edit: `module:function` on the Python path is imported, weighted and logged like a built-in."""
    from training.trainer import train

    (tmp_path / "my_rewards.py").write_text(USER_REWARD)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = load_config(None, "tiny", [f"benchmark={mini_build}", "steps=1", "group_size=2", "generation_steps=2",
                                        "reasoning_max_new_tokens=2", "dgs.enabled=false", "concepts=[coffee]",
                                        "run_per_concept=false",
                                        'rewards.weights={tier: 0.5, "my_rewards:brightness": 0.5}'])
    train(config, tmp_path / "run", quiet=True)
    samples = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    for sample in samples:
        rewards = sample["rewards"]
        assert 0 < rewards["my_rewards:brightness"] < 1
        assert rewards["total"] == pytest.approx(0.5 * rewards["tier"] + 0.5 * rewards["my_rewards:brightness"])
    with pytest.raises(ValueError, match="cannot be imported"):
        RewardEnsemble(RewardConfig(weights={"no_such_module:f": 1.0}))
    with pytest.raises(ValueError, match="module:function"):
        RewardEnsemble(RewardConfig(weights={"nonsense": 1.0}))
    # what a user's function returns is checked: a NaN would make every advantage of its group NaN
    for name, says in (("undefined", "not a finite number: [nan, nan]"), ("words", "not ['good', 'good']"),
                       ("one", "one number per sample, not 0.5")):
        ensemble = RewardEnsemble(RewardConfig(weights={f"my_rewards:{name}": 1.0}))
        with pytest.raises(SettingsError, match=re.escape(f"reward 'my_rewards:{name}' ") + ".*" + re.escape(says)):
            ensemble.compute(f"my_rewards:{name}", samples[:2])
    # a user's function that raises keeps its own traceback, with the reward named under it
    with pytest.raises(RuntimeError, match="my bug") as raised:
        RewardEnsemble(RewardConfig(weights={"my_rewards:broken": 1.0})).compute("my_rewards:broken", samples[:2])
    if sys.version_info >= (3, 11):
        assert raised.value.__notes__ == ["raised by the custom reward 'my_rewards:broken' (rewards.weights); "
                                          "training stopped at this step"]


def test_the_authors_text_reward_is_their_bleu_distance_rule(mini_build: Path) -> None:
    """Computed independently with nltk: BLEU per fact, shares, squared distance to the truth, f = (2 - d) / 2,
    0 at or below 0.5, 2(f - 0.5) above."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    concept = unifybench_pp.load(mini_build).concepts["coffee"]
    facts = ["a white ceramic cup", "a dog on a red sofa in the park"]
    ensemble = RewardEnsemble(RewardConfig(weights={"text_bleu": 1.0}))
    for reasoning, truth in (("a white ceramic cup of coffee", [1.0, 0.0]), ("a dog on a red sofa", [1.0, 0.0])):
        scores = [sentence_bleu([fact], reasoning, weights=(0.7, 0.3),
                                smoothing_function=SmoothingFunction().method1) for fact in facts]
        shares = [x / sum(scores) for x in scores]
        f = (2 - sum((t - x) ** 2 for t, x in zip(truth, shares))) / 2
        expected = 0.0 if f <= 0.5 else 2 * (f - 0.5)
        sample = RewardSample(concept, reasoning, facts, truth, "", None, [])
        assert ensemble.compute("text_bleu", [sample]) == [pytest.approx(expected)]
    right = RewardSample(concept, "a white ceramic cup", facts, [1.0, 0.0], "", None, [])
    wrong = RewardSample(concept, "a dog on a red sofa in the park", facts, [1.0, 0.0], "", None, [])
    assert ensemble.compute("text_bleu", [right])[0] > 0.5 and ensemble.compute("text_bleu", [wrong]) == [0.0]


def test_the_vlm_identity_reward_asks_once_per_group_and_retries_a_short_list(mini_build: Path, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The authors' VLM judge through the project's OpenAI-compatible client: the reference photo first, then each
    generated image, their prompt; a reply whose list does not match the images is asked again."""
    from bench.openai_server import ScriptedServer

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    bench = unifybench_pp.load(mini_build)
    concept = bench.concepts["coffee"]
    reference = bench.root / concept.train_images[0]
    images = [Image.new("RGB", (32, 32), (200, 10, 10)), Image.new("RGB", (32, 32), (10, 200, 10))]
    samples = [RewardSample(concept, "", ["x"], [1.0], "", image, [reference]) for image in images]
    replies = ["Scores: [80]", "Here you go: [85, 70]"]
    with ScriptedServer(lambda body, n: ("ok", replies[min(n, 2) - 1])) as server:
        ensemble = RewardEnsemble(RewardConfig(weights={"vlm_identity": 1.0}, judge_base_url=server.base_url,
                                               judge="glm-test"))
        ensemble.scorers.config.judge_cache = tmp_path / "judge.sqlite"
        assert ensemble.compute("vlm_identity", samples) == [pytest.approx(0.85), pytest.approx(0.70)]
        assert len(server.requests) == 2
        body = server.requests[0]["body"]
        parts = body["messages"][1]["content"]
        assert body["model"] == "glm-test" and body["messages"][0]["content"] == "You are a picture scorer."
        assert [p["type"] for p in parts] == ["text", "image_url", "image_url", "image_url"]
        assert "Output **only** a Python list" in parts[0]["text"]
    with ScriptedServer(lambda body, n: ("ok", "no scores today")) as server:
        ensemble = RewardEnsemble(RewardConfig(weights={"vlm_identity": 1.0}, judge_base_url=server.base_url))
        ensemble.scorers.config.judge_cache = tmp_path / "judge2.sqlite"
        with pytest.raises(UbppError, match="did not score 2 images in 5 tries"):
            ensemble.compute("vlm_identity", samples)
