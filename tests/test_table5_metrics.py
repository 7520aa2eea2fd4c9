"""Table 5's metrics against hand-computed values, through the registry and the real scoring path."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import unifybench_pp
from evaluators.metrics import METRICS, metrics_for
from evaluators.scoring import Scorers, score
from evaluators.scoring_config import ScoringConfig
from evaluators.text_metrics import choice_mentions, exact_reply, parse_choice

from .table5_fixtures import write_dreambench, write_mcllava, write_yollava
from .tiny_models import make_tiny_clip

# --- multiple-choice parsing ------------------------------------------------------------------------------

@pytest.mark.parametrize(("reply", "expected"), [
    ("Brown", True), ("It is brown.", True), ("brown or grey", True),  # the authors' rule: text occurs anywhere
    ("Grey", False), ("A", False),                                      # a bare letter names no option text
])
def test_yollava_rule_is_option_text_in_reply(reply: str, expected: bool) -> None:
    assert choice_mentions(reply, ["Brown", "Grey"], "A") is expected


@pytest.mark.parametrize(("reply", "expected"), [("B", True), (" B\n", True), ("B.", False), ("b", False),
                                                 ("The answer is B", False), ("A", False)])
def test_mcllava_rule_is_the_letter_itself(reply: str, expected: bool) -> None:
    assert exact_reply(reply, "B") is expected


@pytest.mark.parametrize(("reply", "options", "picked"), [
    ("A", ["Brown", "Grey"], "A"), ("(B) Grey", ["Brown", "Grey"], "B"), ("B. because", ["Brown", "Grey"], "B"),
    ("It is grey.", ["Brown", "Grey"], "B"), ("brown or grey", ["Brown", "Grey"], None),
    ("C", ["Brown", "Grey"], None),                 # not an option letter
    ("Greyish", ["Brown", "Grey"], None),           # an option named only as a word
    ("A cat", ["Dog", "Cat"], "B"),                 # "A" here is an article, not a letter
    ("(A) dog", ["Dog", "Cat"], "A"), ("B because", ["Dog", "Cat"], None),
    ("C", [], "C"), ("I think so", [], None),       # MC-LLaVA: options live in the question
])
def test_strict_parse_picks_one_option_or_none(reply: str, options: list[str], picked: str | None) -> None:
    assert parse_choice(reply, options) == picked


# --- through the registry -------------------------------------------------------------------------------

def scored(bench: unifybench_pp.Benchmark, preds: dict, protocol: str = "syncr1", **config) -> dict:
    results = score(bench, preds, Scorers(ScoringConfig(protocol=protocol, **config)), base=bench.root)
    return {r.name: r for r in results}


def test_each_format_gets_only_its_own_metrics(tmp_path: Path) -> None:
    bench = unifybench_pp.load(unifybench_pp.build(write_mcllava(tmp_path), tmp_path / "o", quiet=True,
                                                   format="mcllava").out)
    assert list(scored(bench, {})) == ["mcllava.rec.weight", "mcllava.vqa.bleu", "mcllava.qa.acc"]
    assert {s.benchmark for s in METRICS.values()} == {"unifybench", "yollava", "mcllava", "dreambench"}
    assert [s.name for s in metrics_for("dreambench")] == ["dreambench.clip_i", "dreambench.clip_t", "dreambench.dino"]


def test_yollava_understanding_by_hand(tmp_path: Path) -> None:
    bench = unifybench_pp.load(unifybench_pp.build(write_yollava(tmp_path), tmp_path / "o", quiet=True,
                                                   format="yollava").out)
    # Rec. items per concept: 2 positives then 4 negatives (bo: bo, mam, thao folders; mam: likewise).
    rec = {"bo": ["Yes", "No", "No", "No", "Yes", "Yes, it is."],   # pos 1/2; neg 2/3 (the last reply is dropped)
           "mam": ["Yes", "Yes", "Yes", "Yes", "No", "No"]}          # pos 2/2; neg 2/4
    preds = {"rec": {i.id: rec[i.concept][int(i.id[-3:])] for i in bench.tasks["rec"]},
             "vqa_choice": {"vqa_choice/bo/000": "The fur is brown.", "vqa_choice/bo/001": "A",
                            "vqa_choice/mam/000": "Coffee or milk"},
             "qa_choice": {"qa_choice/bo/000": "B", "qa_choice/bo/001": "Yellow", "qa_choice/mam/000": "No"}}
    results = scored(bench, preds)
    bo, mam = (0.5 + 2 / 3) / 2, (1.0 + 0.5) / 2
    assert results["yollava.rec.weight"].value == pytest.approx((bo + mam) / 2)
    assert results["yollava.rec.weight"].failed == 1 and results["yollava.rec.weight"].unparseable == 1
    # VQA: bo 1/2 (a bare letter names no option), mam 1/1 (both options named: right by the authors' rule).
    assert results["yollava.vqa.acc"].value == pytest.approx((0.5 + 1.0) / 2)
    # QA: bo "B" -> wrong under the authors' rule ("Cat" not in "B"), "Yellow" right; mam "No" -> wrong.
    assert results["yollava.qa.acc"].value == pytest.approx((0.5 + 0.0) / 2)
    strict = scored(bench, preds, "strict")
    # strict: "B" picks Cat (right), "Yellow" right -> bo 1; mam "No" picks B, wrong -> 0.
    assert strict["yollava.qa.acc"].value == pytest.approx(0.5)
    # strict VQA: bo "brown" -> A right, "A" -> A wrong (answer B): 1/2; mam names both -> no pick, wrong.
    assert strict["yollava.vqa.acc"].value == pytest.approx(0.25)
    # strict Rec.: "Yes, it is." is read as yes (wrong for a negative): bo neg 2/4 -> (0.5 + 0.5) / 2.
    assert strict["yollava.rec.weight"].value == pytest.approx((0.5 + mam) / 2)
    assert results["yollava.clip_i"].value is None  # no generation predicted: reported, never a number


def test_mcllava_understanding_by_hand(tmp_path: Path) -> None:
    bench = unifybench_pp.load(unifybench_pp.build(write_mcllava(tmp_path), tmp_path / "o", quiet=True,
                                                   format="mcllava").out)
    rec = {"A": ["Yes", "yes", "No", "Yes"],   # pos 1/2 ("yes" is not "Yes"), neg 1/2
           "B": ["Yes", "Yes", "No", "No"],    # 1, 1
           "C": ["No", "Yes"]}                 # pos 1/2, no negatives: halved as eval.py's recall / no-recall
    preds = {"rec": {i.id: rec[i.concept][int(i.id[-3:])] for i in bench.tasks["rec"]},
             "vqa": {i.id: i.answer if i.concept != "C" else "<C> is sitting still." for i in bench.tasks["vqa"]},
             "qa_choice": {i.id: ("B" if i.id.endswith("000") else "B.") for i in bench.tasks["qa_choice"]}}
    results = scored(bench, preds)
    assert results["mcllava.rec.weight"].value == pytest.approx(((0.5 + 0.5) / 2 + 1.0 + (0.5 + 0) / 2) / 3)
    # BLEU over characters, weights 0.7 / 0.3, smoothing 1 (a zero count becomes 0.1), written out here.
    def char_bleu(reference: str, candidate: str) -> float:
        logs = []
        for n, weight in ((1, 0.7), (2, 0.3)):
            grams = [candidate[k:k + n] for k in range(len(candidate) - n + 1)]
            pool = [reference[k:k + n] for k in range(len(reference) - n + 1)]
            hits = sum(min(grams.count(g), pool.count(g)) for g in set(grams))
            logs.append(weight * math.log((hits or 0.1) / len(grams)))
        r, c = len(reference), len(candidate)
        return (1.0 if c > r else math.exp(1 - r / c)) * math.exp(sum(logs))
    c_items = [i for i in bench.tasks["vqa"] if i.concept == "C"]
    for item in c_items:
        expected = char_bleu(item.answer, preds["vqa"][item.id])
        assert 0.2 < expected < 0.9 and results["mcllava.vqa.bleu"].per_item[item.id] == pytest.approx(expected)
    expected_c = np.mean([char_bleu(i.answer, preds["vqa"][i.id]) for i in c_items])
    assert results["mcllava.vqa.bleu"].value == pytest.approx((1.0 + 1.0 + expected_c) / 3)
    # QA: answers B then A; "B" right for 000, "B." wrong for 001 -> 1/2 per concept.
    assert results["mcllava.qa.acc"].value == pytest.approx(0.5)
    # strict reads "B." as B (still wrong: the answer is A) and "yes" as yes.
    strict = scored(bench, preds, "strict")
    assert strict["mcllava.qa.acc"].value == pytest.approx(0.5)
    assert strict["mcllava.rec.weight"].value == pytest.approx(((1 + 0.5) / 2 + 1.0 + 0.5) / 3)


def test_dreambench_clip_against_transformers_directly(tmp_path: Path) -> None:
    import torch
    from transformers import CLIPModel, CLIPProcessor

    clip = make_tiny_clip(tmp_path / "clip")
    bench = unifybench_pp.load(unifybench_pp.build(write_dreambench(tmp_path / "src"), tmp_path / "o", quiet=True,
                                                   format="dreambench").out)
    outputs = tmp_path / "gen"
    outputs.mkdir()
    preds = {"pure_gen": {}}
    for k, item in enumerate(bench.tasks["pure_gen"][::10]):
        pixels = np.random.default_rng(k).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(outputs / f"{k}.png")
        preds["pure_gen"][item.id] = f"{k}.png"
    results = {r.name: r for r in score(bench, preds, Scorers(ScoringConfig(clip=str(clip))), base=outputs)}

    model, processor = CLIPModel.from_pretrained(clip).eval(), CLIPProcessor.from_pretrained(clip)

    def unit(out) -> torch.Tensor:
        features = out if isinstance(out, torch.Tensor) else out.pooler_output
        return torch.nn.functional.normalize(features, dim=-1)

    per_concept_i, per_concept_t = {}, {}
    with torch.no_grad():
        for item_id, name in preds["pure_gen"].items():
            item = bench.item("pure_gen", item_id)
            image = Image.open(outputs / name).convert("RGB")
            photos = [Image.open(bench.image_path(p)).convert("RGB") for p in bench.concepts[item.concept].test_images]
            gen = unit(model.get_image_features(**processor(images=[image], return_tensors="pt")))
            real = unit(model.get_image_features(**processor(images=photos, return_tensors="pt")))
            text = unit(model.get_text_features(**processor(text=[item.clip_text], return_tensors="pt", padding=True)))
            per_concept_i.setdefault(item.concept, []).append(float((real @ gen.T).mean()))
            per_concept_t.setdefault(item.concept, []).append(float((text @ gen.T).squeeze()))
    mean = lambda d: float(np.mean([np.mean(v) for v in d.values()]))  # noqa: E731
    assert results["dreambench.clip_i"].value == pytest.approx(mean(per_concept_i), abs=1e-5)
    assert results["dreambench.clip_t"].value == pytest.approx(mean(per_concept_t), abs=1e-5)
    assert results["dreambench.dino"].value is None and results["dreambench.dino"].not_computed
