"""Scoring a whole prediction set on the mini benchmark: every column, or the reason it is missing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import unifybench_pp
from evaluators.metrics import METRICS, bootstrap_ci, mean_with_ci, with_class_noun
from evaluators.scorers.clip import ClipScorer
from evaluators.scoring import Scorers, ScoringConfig, score
from evaluators.text_metrics import bleu_unictokens
from unifybench_pp.schema import Concept

from .openai_server import ScriptedServer
from .tiny_models import make_tiny_clip


def baseline_predictions(bench: unifybench_pp.Benchmark) -> dict[str, dict[str, str]]:
    """always-yes for Rec., the question echoed for text tasks, a real test photo for every image task."""
    preds: dict[str, dict[str, str]] = {"rec": {i.id: "Yes" for i in bench.tasks["rec"]}}
    for task in ("rea", "dense_rea", "vqa", "qa"):
        preds[task] = {i.id: getattr(i, "question", getattr(i, "prompt", "")) for i in bench.tasks[task]}
    for task in ("pure_gen", "dense_gen", "rea_gen", "dense_rea_gen"):
        preds[task] = {i.id: str(bench.image_path(bench.concepts[i.concept].test_images[0])) for i in bench.tasks[task]}
    return preds


def judge_script(body: dict, n: int) -> tuple:
    system = body["messages"][0]["content"]
    if system.startswith("You check whether an image"):
        segments = [line for line in body["messages"][1]["content"][0]["text"].splitlines() if line[:1].isdigit()]
        return ("ok", json.dumps({"verdicts": [k % 2 == 0 for k in range(len(segments))]}))
    if system.startswith("You grade reasoning"):
        return ("ok", '{"score": 0.25}')
    return ("ok", '{"score": 0.5}')


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_clip(tmp_path_factory.mktemp("clip") / "clip")


def test_every_column_scored_against_independent_values(
    mini_build: Path, tiny_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    bench = unifybench_pp.load(mini_build)
    preds = baseline_predictions(bench)
    with ScriptedServer(judge_script) as server:
        config = ScoringConfig(clip=str(tiny_clip), judge_base_url=server.base_url, judge_cache=tmp_path / "j.sqlite")
        results = {r.name: r for r in score(bench, preds, Scorers(config))}
        assert list(results) == list(METRICS)
        n_requests = len(server.requests)
        assert n_requests == sum(len(bench.tasks[t]) for t in ("dense_rea", "vqa", "qa", "dense_gen", "dense_rea_gen"))
        rerun = {r.name: r for r in score(bench, preds, Scorers(config))}
        assert len(server.requests) == n_requests  # judge answers come from the cache
    assert {k: r.value for k, r in rerun.items()} == {k: r.value for k, r in results.items()}

    table1 = {k: r for k, r in results.items() if METRICS[k].table1}
    assert len(table1) == 15
    assert all(r.not_computed is None and r.value is not None for r in table1.values())
    assert results["rec.weight"].value == pytest.approx(0.5)  # always-yes
    assert results["rec.weight"].details == {"positive_accuracy": 1.0, "negative_accuracy": 0.0}
    assert results["vqa.gpt"].value == pytest.approx(0.5) and results["dense_rea.gpt"].value == pytest.approx(0.25)
    assert results["vqa.gpt"].model == "gpt-4o-2024-08-06" and len(results["vqa.gpt"].template_hash) == 64
    expected_align = np.mean([sum(k % 2 == 0 for k in range(len(i.segments))) / len(i.segments)
                              for i in bench.tasks["dense_gen"]])
    assert results["dense_gen.gpt"].value == pytest.approx(expected_align)
    rea = bench.tasks["rea"]
    assert results["rea.bleu"].value == pytest.approx(np.mean([bleu_unictokens(i.answer, i.prompt) for i in rea]))
    assert results["rea.bleu"].protocol == "unictokens"

    clip = ClipScorer(str(tiny_clip))
    items = bench.tasks["rea_gen"]
    images = [preds["rea_gen"][i.id] for i in items]
    texts = [with_class_noun(i.resolved_prompt, bench.concepts[i.concept]) for i in items]
    img, txt = clip.image_features(images), clip.text_features(texts)
    assert results["rea_gen.clip_t"].value == pytest.approx(float((img * txt).sum(-1).mean()), abs=1e-5)
    refs = [clip.image_features([bench.image_path(p) for p in bench.concepts[i.concept].test_images]) for i in items]
    expected_i = np.mean([float((r @ f).mean()) for r, f in zip(refs, img)])
    assert results["rea_gen.clip_i"].value == pytest.approx(expected_i, abs=1e-5)
    assert results["pure_gen.clip_i"].model == str(tiny_clip)
    low, high = results["qa.bleu"].ci95
    assert low <= results["qa.bleu"].value <= high


def test_offline_default_reports_what_it_cannot_compute(mini_build: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bench = unifybench_pp.load(mini_build)
    results = {r.name: r for r in score(bench, baseline_predictions(bench),
                                        Scorers(ScoringConfig(protocol="strict", judge_cache=tmp_path / "j.sqlite")))}
    computed = {k for k, r in results.items() if r.value is not None}
    assert computed == {"rec.weight", "rea.bleu", "vqa.bleu", "qa.bleu",  # Table 1 columns without models
                        "rea.text_sim", "dense_rea.text_sim", "pure_gen.face_found"}  # bundled MiniLM and MTCNN
    reasons = {"no judge", "ViT-B-32/openai", "facebook/dinov2-base", "Salesforce/blip2-itm-vit-g",
               "FaceNet weights not given"}
    for name, result in results.items():
        if name not in computed:
            assert result.value is None and result.ci95 is None
            assert any(reason in result.not_computed for reason in reasons), result.not_computed
    assert results["pure_gen.face_found"].value == 1.0  # the real photos of the two persons show faces
    people = [i for i in bench.tasks["pure_gen"] if bench.concepts[i.concept].category == "person"]
    assert results["pure_gen.face_found"].n == len(people) == 3
    assert results["rec.weight"].protocol == "strict" and results["rec.weight"].unparseable == 0


def test_missing_task_predictions_are_not_computed(mini_build: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    results = {r.name: r for r in score(bench, {"qa": {bench.tasks["qa"][0].id: "x"}}, Scorers(ScoringConfig()))}
    assert results["qa.bleu"].n == 1
    assert results["vqa.bleu"].not_computed == "no predictions for this task"


def test_class_noun_substitution() -> None:
    dog = Concept("bo", "<bo>", "dog", "pet", "", [], [])
    owl = Concept("ow", "<ow>", "owl", "pet", "", [], [])
    assert with_class_noun("A photo of <bo>.", dog) == "A photo of a dog."
    assert with_class_noun("<ow> on a branch", owl) == "an owl on a branch"
    assert with_class_noun("A photo of my <bo> and <bo>'s hat", dog) == "A photo of my dog and a dog's hat"


def test_bootstrap_ci_matches_normal_theory() -> None:
    values = list(np.random.default_rng(1).normal(0.5, 0.1, size=400))
    mean, (low, high) = mean_with_ci(values)
    se = np.std(values, ddof=1) / np.sqrt(len(values))
    assert low == pytest.approx(mean - 1.96 * se, abs=0.003) and high == pytest.approx(mean + 1.96 * se, abs=0.003)
    assert bootstrap_ci(3, lambda idx: idx.mean(axis=1), seed=1) == bootstrap_ci(3, lambda idx: idx.mean(axis=1), seed=1)
