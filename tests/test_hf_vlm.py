"""hf-vlm on a tiny LLaVA saved with its processor and loaded back through the adapter."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import unifybench_pp
from baselines.base import ModelError
from baselines.registry import create
from evaluators.runner import EvalConfig, run_evaluation

from .tiny_models import make_tiny_llava


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_llava(tmp_path_factory.mktemp("llava") / "llava")


@pytest.mark.parametrize("mode", ["tp", "ip"])
def test_hf_vlm_runs_understanding_tasks(mode: str, tiny_llava: Path, mini_build: Path, tmp_path: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    model = create("hf-vlm", str(tiny_llava), mode=mode, max_new_tokens=4)
    config = EvalConfig("hf-vlm", str(tiny_llava), {"mode": mode, "max_new_tokens": 4}, tasks=["rec", "qa", "rea"],
                        concepts=["coffee"], batch_size=3, runs_dir=tmp_path)
    result = run_evaluation(bench, model, config)
    assert {r.name: r.value for r in result.results}["qa.bleu"] is not None
    request_rows = (result.run_dir / "predictions.jsonl").read_text().splitlines()
    assert len(request_rows) == sum(len(bench.items(t, ["coffee"])) for t in ("rec", "qa", "rea"))
    from baselines.base import UnderstandRequest

    coffee = bench.concepts["coffee"]
    messages, images = model.messages(UnderstandRequest("x", "vqa", coffee, "What is it?",
                                                        bench.image_path(coffee.test_images[0])))
    kinds = [part["type"] for part in messages[0]["content"]]
    if mode == "ip":
        assert kinds.count("image") == len(images) == 1 + min(3, len(coffee.train_images))
    else:
        assert kinds.count("image") == len(images) == 1 and "porcelain" in messages[0]["content"][0]["text"]
    again = run_evaluation(bench, create("hf-vlm", str(tiny_llava), mode=mode, max_new_tokens=4),
                           EvalConfig("hf-vlm", str(tiny_llava), {"mode": mode, "max_new_tokens": 4}, tasks=["qa"],
                                      concepts=["coffee"], batch_size=1, runs_dir=tmp_path / "again"))
    first = {line for line in request_rows if json.loads(line)["task"] == "qa"}
    assert first == set((again.run_dir / "predictions.jsonl").read_text().splitlines())  # batching changes nothing


def test_hf_vlm_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="weights for hf-vlm not found: pass --checkpoint"):
        create("hf-vlm")
    with pytest.raises(ModelError, match="weights for hf-vlm not found at"):
        create("hf-vlm", str(tmp_path / "missing"))


def test_a_hub_id_fails_at_once_whether_or_not_the_hub_is_in_reach(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without HF_HUB_OFFLINE set: offline, transformers alone retries the download for minutes before failing;
    online, the hub answers that the repository does not exist."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.perf_counter()
    with pytest.raises(ModelError, match="weights for hf-vlm not found at 'ubpp-tests/no-such-model'"):
        create("hf-vlm", "ubpp-tests/no-such-model")
    assert time.perf_counter() - start < 60
