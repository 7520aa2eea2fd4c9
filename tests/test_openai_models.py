"""GPT-4o adapters against a local OpenAI-compatible server: chat, images.generate, images.edit, cache."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

import unifybench_pp
from baselines.base import ModelError
from baselines.registry import create
from bench.openai_server import ScriptedServer
from evaluators.runner import EvalConfig, run_evaluation
from evaluators.scoring_config import ScoringConfig


def png_b64(colour: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 24), colour).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def is_judge(body: dict) -> bool:
    """The judge scoring the run asks the harness's prompt (a plain-string system message)."""
    messages = body.get("messages") or [{}]
    return str(messages[0].get("content", "")).startswith("You are a score evaluator")


def script(body: dict, n: int) -> tuple:
    if is_judge(body):
        return ("ok", "1")
    if body["path"].endswith("/images/generations"):
        return ("image", png_b64((255, 0, 0)))
    if body["path"].endswith("/images/edits"):
        return ("image", png_b64((0, 0, 255)))
    return ("ok", "Yes, that is them.")


@pytest.mark.parametrize("mode", ["tp", "ip"])
def test_gpt4o_rows_through_a_compatible_server(mode: str, mini_build: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    bench = unifybench_pp.load(mini_build)
    config = dict(tasks=["rec", "qa", "pure_gen"], concepts=["chelsea"])
    with ScriptedServer(script) as server:
        options = {"base_url": server.base_url, "cache": str(tmp_path / "cache.sqlite"), "backoff": 0.01}
        scoring = ScoringConfig(judge_base_url=server.base_url, judge_cache=tmp_path / "judge.sqlite")
        model = create(f"gpt-4o-{mode}", **options)
        result = run_evaluation(bench, model, EvalConfig(f"gpt-4o-{mode}", options=options, runs_dir=tmp_path / "a",
                                                         scoring=scoring, **config))
        n_items = sum(len(bench.items(t, ["chelsea"])) for t in config["tasks"])
        judged = len(bench.items("qa", ["chelsea"]))
        assert len(server.requests) == n_items + judged
        chats = [r["body"] for r in server.requests if "messages" in r["body"] and "response_format" not in r["body"]]
        system = chats[0]["messages"][0]["content"]
        photos = [part for part in system if part["type"] == "image_url"]
        if mode == "ip":
            assert len(photos) == len(bench.concepts["chelsea"].train_images)
            edits = [r["body"] for r in server.requests if r["body"]["path"].endswith("/images/edits")]
            assert edits and b"filename=" in edits[0]["multipart"]
        else:
            assert not photos and "tabby cat" in system[0]["text"]
            assert any(r["body"]["path"].endswith("/images/generations") for r in server.requests)
        rerun = create(f"gpt-4o-{mode}", **options)
        run_evaluation(bench, rerun, EvalConfig(f"gpt-4o-{mode}", options=options, runs_dir=tmp_path / "b",
                                                scoring=scoring, **config))
        assert len(server.requests) == n_items + judged  # a new run directory, yet every call came from a cache
    values = {r.name: r.value for r in result.results}
    assert values["rec.weight"] == 0.5  # "Yes, that is them." to everything
    assert values["qa.gpt"] == 1.0
    image = Image.open(next((result.run_dir / "images").rglob("*.png")))
    assert image.getpixel((0, 0)) == ((255, 0, 0) if mode == "tp" else (0, 0, 255))


def test_api_failures_are_reported_not_scored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mini_build: Path
                                              ) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    bench = unifybench_pp.load(mini_build)
    with ScriptedServer(lambda body, n: ("status", 500)) as server:
        model = create("gpt-4o-tp", base_url=server.base_url, cache=str(tmp_path / "c.sqlite"), backoff=0.01,
                       max_retries=1)
        with pytest.raises(ModelError, match=r"the API failed \(InternalServerError.*\) after 2 attempts"):
            run_evaluation(bench, model, EvalConfig("gpt-4o-tp", runs_dir=tmp_path, tasks=["qa"], limit=1))
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ModelError, match="set OPENAI_API_KEY"):
        create("gpt-4o-ip")


def test_an_undecodable_image_is_a_failure_and_never_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            mini_build: Path) -> None:
    """A bad base64 image from the images API: a recorded failure, not cached (the old code cached it and every
    re-run crashed); the next run asks again and gets a real image."""
    from baselines.base import GenerateRequest

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(buffer, format="PNG")
    good = base64.b64encode(buffer.getvalue()).decode()
    replies = [("image", "bm90IGFuIGltYWdl"), ("image", good)]  # "not an image"
    concept = unifybench_pp.load(mini_build).concepts["coffee"]
    request = GenerateRequest(item_id="pure_gen/coffee/000", task="pure_gen", concept=concept,
                              prompt=f"a {concept.token} on a table", seed=0)
    with ScriptedServer(lambda body, n: replies[min(n, 2) - 1]) as server:
        model = create("gpt-4o-tp", base_url=server.base_url, cache=str(tmp_path / "c.sqlite"), backoff=0.01,
                       max_retries=0)
        with pytest.raises(ModelError, match="cannot be decoded"):
            model.generate([request])
        image = model.generate([request])[0]
        again = model.generate([request])[0]
    assert image.getpixel((0, 0)) == again.getpixel((0, 0)) == (255, 0, 0) and len(server.requests) == 2
