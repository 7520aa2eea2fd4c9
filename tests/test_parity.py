"""The parity the project keeps with the authors' harness (`chawuciren11/Sync-R1`, `Sync-R1/evaluation/`).

A release-layout folder of three concepts — `ada` (person), `bo` (pet; its name meets the template word
"rainbow"), `mug` (object, no Rec. items) — and hand-written raw predictions, each case with its expected score
derived by hand in the comment beside it. Where a number cannot be derived by hand it comes from an independent
computation named there: the harness's own `stable_seed` and flip (its `common.py` and `pdata.py`, run once
against these ids; the literals below are its output), or transformers' CLIPModel for CLIP.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

import unifybench_pp
from baselines.base import GenerateRequest, UnderstandRequest
from baselines.harness_seeds import request_seed, stable_seed
from baselines.registry import adapters, create
from baselines.showo.pipeline import harness_flip
from bench.openai_server import ScriptedServer
from bench.release_fixture import CONCEPTS, write_release
from evaluators.compare import paired_difference
from evaluators.evaluator import evaluate_model
from evaluators.metrics import incomplete
from evaluators.rundir import read_run
from evaluators.scoring import Scorers, read_predictions, score
from evaluators.scoring_config import ScoringConfig
from leaderboard.tables import build_tables, format_cell
from unifybench_pp import SplitConfig

from .tiny_models import make_tiny_openai_clip, save_open_clip_dir, save_transformers_clip

TINY_SHOWO = Path(__file__).parents[1] / "training" / "assets" / "showo-tiny-mini"


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> unifybench_pp.Benchmark:
    root = tmp_path_factory.mktemp("parity")
    renamed = json.loads(json.dumps(CONCEPTS["rex"]).replace("<rex>", "<bo>"))
    write_release(root / "release", {"ada": CONCEPTS["ada"], "bo": renamed, "mug": CONCEPTS["mug"]})
    mug = root / "release" / "test_data" / "mug.json"
    mug.write_text(json.dumps([d for d in json.loads(mug.read_text()) if d["type"] != "rec"]))
    unifybench_pp.build(root / "release", root / "bench", SplitConfig(), quiet=True)
    return unifybench_pp.load(root / "bench")


# Rec.: ada's items are (positive, negative, positive), bo's the same, mug has none.
REC = {"rec/ada/000": "Yes.", "rec/ada/001": "Yes.", "rec/ada/002": "Yes.",  # recall 1 and 0: weight 0.5
       "rec/bo/000": "Yes.", "rec/bo/001": "Yes.", "rec/bo/002": "No."}  # recall 1/2 and 0: weight 0.25
VQA = {"vqa/ada/000": "Brown.", "vqa/bo/000": "FAILME", "vqa/mug/000": "A brownish cup."}
DENSE = ("dense_gen/ada/000", "dense_gen/ada/001", "dense_gen/bo/000", "dense_gen/bo/001", "dense_gen/mug/000",
         "dense_gen/mug/001")


def judge_script(body: dict, count: int) -> tuple:
    """VQA: "Brown." right (1), "A brownish cup." half (0.5), FAILME a call that never succeeds (HTTP 400, not
    retried). Dense clauses: "under a tree" 0, "at noon" a reply without a number, every other clause 1."""
    text = json.dumps(body)
    if "FAILME" in text:
        return ("status", 400)
    if "A brownish cup." in text:
        return ("ok", "0.5")
    if "at noon" in text:
        return ("ok", "Yes, it is.")
    return ("ok", "0" if "under a tree" in text else "1")


def write_predictions(folder: Path, vqa: dict[str, str] = VQA) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    lines = [{"task": "rec", "id": i, "output": o} for i, o in REC.items()]
    lines += [{"task": "vqa", "id": i, "output": o} for i, o in vqa.items()]
    for item in DENSE + ("pure_gen/ada/000", "pure_gen/bo/012", "pure_gen/mug/024"):
        name = item.replace("/", "_") + ".png"
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / name)
        lines.append({"task": item.split("/")[0], "id": item, "output": name})
    path = folder / "predictions.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def scored(bench, folder: Path, protocol: str, **config) -> dict:
    os.environ["OPENAI_API_KEY"] = "sk-test"
    try:
        with ScriptedServer(judge_script) as server:
            scoring = ScoringConfig(protocol=protocol, judge_base_url=server.base_url,
                                    judge_cache=folder / f"judge-{protocol}.sqlite", **config)
            predictions = read_predictions(write_predictions(folder), bench)
            return {r.name: r for r in score(bench, predictions, Scorers(scoring), base=folder)}
    finally:
        del os.environ["OPENAI_API_KEY"]


@pytest.fixture(scope="module")
def results(bench, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("scored")
    return {protocol: scored(bench, folder, protocol) for protocol in ("syncr1", "strict")}


def test_a_concept_without_rec_items_weighs_zero_under_syncr1_only(results: dict) -> None:
    syncr1, strict = results["syncr1"]["rec.weight"], results["strict"]["rec.weight"]
    assert syncr1.per_concept == {"ada": 0.5, "bo": 0.25, "mug": 0.0}
    assert syncr1.value == pytest.approx((0.5 + 0.25 + 0.0) / 3)  # 0.25
    assert syncr1.details["weight_zero_concepts"] == ["mug"] and syncr1.complete
    assert strict.per_concept == {"ada": 0.5, "bo": 0.25} and strict.value == pytest.approx(0.375)


def test_a_judge_call_that_never_succeeds_leaves_the_column_visibly_incomplete(results: dict) -> None:
    for protocol in ("syncr1", "strict"):
        vqa = results[protocol]["vqa.gpt"]
        assert vqa.per_concept == {"ada": 1.0, "mug": 0.5} and vqa.value == pytest.approx(0.75)
        assert (vqa.failed, vqa.coverage, vqa.complete, vqa.shown()) == (1, "2/3", False, "0.7500 (2/3)")
    assert results["syncr1"]["vqa.bleu"].complete  # the rule-based column of the same items is whole


def test_unparseable_clause_replies_are_counted_under_both_protocols(results: dict) -> None:
    # Item 000 of each concept: clauses "A photo of <c> in a park" 1, "under a tree" 0, "at noon" no number;
    # item 001: "<c> on a boat", "with a hat", "at sea" all 1.
    syncr1, strict = results["syncr1"]["dense_gen.gpt"], results["strict"]["dense_gen.gpt"]
    assert syncr1.per_item["dense_gen/ada/000"] == pytest.approx(1 / 3)  # the reply without a number counts 0
    assert syncr1.value == pytest.approx((1 / 3 + 1) / 2) and syncr1.complete  # 2/3
    assert strict.per_item["dense_gen/ada/000"] is None  # strict: the unparseable clause fails its item
    assert strict.value == pytest.approx(1.0) and strict.coverage == "3/6"
    assert syncr1.unparseable == strict.unparseable == 3


def run_cli(*args: str, server: ScriptedServer) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "cli", *args, "--judge-base-url", server.base_url],
                          capture_output=True, text=True, env=env)


def test_coverage_reaches_the_cli_summary_compare_and_leaderboard(bench, tmp_path: Path) -> None:
    predictions = write_predictions(tmp_path / "a")
    with ScriptedServer(judge_script) as server:
        done = run_cli("score", str(bench.root), str(predictions), "--judge-cache", str(tmp_path / "j.sqlite"),
                       "--run-dir", str(tmp_path / "run-a"), "--require-complete", server=server)
    assert "0.7500 (2/3)" in done.stdout  # the table is printed, then the run fails
    assert done.returncode == 1
    partial = ", ".join(["vqa.gpt 2/3", *(f"pure_gen.{m} 3/75 predicted" for m in ("face_found", "colour", "ssim"))])
    assert done.stderr.strip() == f"error: incomplete columns (items left unscored or not predicted): {partial}"
    summary = {r["name"]: r for r in json.loads((tmp_path / "run-a" / "summary.json").read_text())}
    assert (summary["vqa.gpt"]["coverage"], summary["rec.weight"]["coverage"]) == ("2/3", None)
    run = read_run(tmp_path / "run-a")
    assert paired_difference(run.results["vqa.gpt"], run.results["vqa.gpt"], "vqa.gpt").shown("a") == "0.7500 (2/3)"
    table = next(t for t in build_tables([run]) if t.key == "table1-syncr1")
    row = next(r for r in table.rows if r.source == "measured")
    cell = row.cells["vqa.gpt"]
    assert (cell.status, format_cell(cell), cell.rank) == ("partial", "0.750 (2/3)", {})
    assert row.cells["rec.weight"].status == "ok"


def test_a_judge_that_always_fails_gives_no_number_and_an_incomplete_column(bench, tmp_path: Path) -> None:
    os.environ["OPENAI_API_KEY"] = "sk-test"
    try:
        with ScriptedServer(lambda body, count: ("status", 400)) as server:
            scoring = ScoringConfig(judge_base_url=server.base_url, judge_cache=tmp_path / "j.sqlite")
            predictions = read_predictions(write_predictions(tmp_path), bench)
            found = {r.name: r for r in score(bench, predictions, Scorers(scoring), base=tmp_path)}
    finally:
        del os.environ["OPENAI_API_KEY"]
    vqa = found["vqa.gpt"]
    assert vqa.value is None and vqa.not_computed.startswith("judge failed on every item")
    assert vqa.coverage == "0/3" and "vqa.gpt" in [r.name for r in incomplete(list(found.values()))]


def test_quickgelu_clip_matches_transformers_and_gelu_does_not(bench, tmp_path: Path) -> None:
    state = make_tiny_openai_clip()
    hf = save_transformers_clip(state, tmp_path / "hf")
    values = {}
    for activation in ("quick", "gelu"):
        folder = save_open_clip_dir(state, tmp_path / activation, quick_gelu=activation == "quick")
        values[activation] = scored(bench, tmp_path / f"s-{activation}", "syncr1",
                                    clip=f"open_clip:local-dir:{folder}")["pure_gen.clip_t"].per_item
    # Independent: transformers' CLIPModel on the same weights (converted key by key), cosine of image and text.
    from transformers import CLIPModel, CLIPProcessor

    model, processor = CLIPModel.from_pretrained(hf).eval(), CLIPProcessor.from_pretrained(hf)
    for item_id, value in values["quick"].items():
        image = Image.open(tmp_path / "s-quick" / (item_id.replace("/", "_") + ".png")).convert("RGB")
        inputs = processor(text=[bench.item("pure_gen", item_id).clip_text], images=[image], return_tensors="pt",
                           padding=True)
        with torch.no_grad():
            i = model.get_image_features(pixel_values=inputs["pixel_values"]).pooler_output[0]
            t = model.get_text_features(input_ids=inputs["input_ids"],
                                        attention_mask=inputs["attention_mask"]).pooler_output[0]
        assert value == pytest.approx(float(torch.nn.functional.cosine_similarity(i, t, dim=0)), abs=1e-5)
        assert abs(values["gelu"][item_id] - value) > 1e-4


# The harness's own stable_seed and transform (its common.py / pdata.py), run on these requests, gave:
HARNESS = {("rec", "ada", "rec/ada/000"): (2991955192, True), ("rec", "ada", "rec/ada/001"): (3012533204, False),
           ("rec", "ada", "rec/ada/002"): (325203804, False), ("rec", "bo", "rec/bo/000"): (4270967948, True),
           ("rec", "bo", "rec/bo/001"): (3961252551, False), ("rec", "bo", "rec/bo/002"): (3988701380, False),
           ("pure_gen", "ada", "pure_gen/ada/000"): (2874432732, None),
           ("pure_gen", "bo", "pure_gen/bo/000"): (2126600951, None)}
"""(task, concept, item) -> (seed at model_epoch 0, run seed 3407; whether its test image is mirrored)."""


def test_request_seeds_and_flips_are_the_harness_s() -> None:
    material = b"3407::showo_weighted::understanding::rec::ada::0::rec_000"
    assert stable_seed(3407, "showo_weighted", "understanding", "rec", "ada", 0, "rec_000") == int(
        hashlib.sha256(material).hexdigest()[:8], 16)
    for (task, concept, item), (seed, flipped) in HARNESS.items():
        assert request_seed(3407, "showo_weighted", task, concept, 0, item) == seed
        if flipped is not None:
            assert harness_flip(seed) is flipped
    # The four test images the harness run mirrored at model epoch 0 (release concepts of the paper).
    for concept, index in (("adrien_brody", 0), ("bo", 0), ("pig_cup", 0), ("pig_cup", 3)):
        assert harness_flip(request_seed(3407, "showo_weighted", "rec", concept, 0, f"rec/{concept}/{index:03d}"))
    assert request_seed(3407, "showo_weighted", "vqa", "bo", 2, "vqa/bo/000") == 1800537539  # model epoch 2


def test_the_show_o_family_sees_the_harness_s_mirrored_image_under_syncr1_only(bench, tmp_path: Path) -> None:
    protocol_options = adapters()["showo-tp"].options_for
    harness = create("showo-tp", str(TINY_SHOWO), "cpu", **protocol_options("syncr1"))
    strict = create("showo-tp", str(TINY_SHOWO), "cpu", **protocol_options("strict"))
    size = harness.pipe.image_size
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 256, (size, size, 3), dtype=np.uint8))
    photo.save(tmp_path / "photo.png")
    ImageOps.mirror(photo).save(tmp_path / "mirrored.png")
    codes = harness.pipe.encode_images([photo], [True])
    assert torch.equal(codes, harness.pipe.encode_images([ImageOps.mirror(photo)]))
    assert not torch.equal(codes, harness.pipe.encode_images([photo]))
    concept = bench.concepts["ada"]

    def ask(model, image: str, item: str) -> list[str]:
        seed, _ = HARNESS[("rec", "ada", item)]
        return model.understand([UnderstandRequest(item, "rec", concept, "Is <ada> in this image?",
                                                   tmp_path / image, seed)])

    assert ask(harness, "photo.png", "rec/ada/000") == ask(strict, "mirrored.png", "rec/ada/000")  # flipped
    assert ask(harness, "photo.png", "rec/ada/001") == ask(strict, "photo.png", "rec/ada/001")  # not flipped


def test_every_request_seed_is_recorded_with_its_prediction(bench, tmp_path: Path) -> None:
    result = evaluate_model(bench, "showo-tp", checkpoint=str(TINY_SHOWO), options={"steps": 2, "max_new_tokens": 4},
                            scoring=ScoringConfig(judge_cache=tmp_path / "j.sqlite", clip=str(tmp_path / "no-clip")),
                            tasks=["rec", "pure_gen"], limit=3, runs_dir=tmp_path / "runs")
    records = [json.loads(line) for line in (result.run_dir / "predictions.jsonl").read_text().splitlines()]
    seeds = {r["id"]: r["seed"] for r in records}
    assert sorted(seeds) == [f"{task}/ada/{k:03d}" for task in ("pure_gen", "rec") for k in range(3)]
    for (_, _, item), (seed, _) in HARNESS.items():
        assert seeds.get(item, seed) == seed
    assert seeds["rec/ada/000"] == 2991955192 and seeds["pure_gen/ada/000"] == 2874432732


def test_pure_gen_names_are_substituted_as_substrings_under_syncr1_only(bench) -> None:
    protocol_options = adapters()["showo-tp"].options_for
    request = GenerateRequest("pure_gen/bo/012", "pure_gen", bench.concepts["bo"],
                              bench.item("pure_gen", "pure_gen/bo/012").prompt)
    conditions = {protocol: create("showo-tp", str(TINY_SHOWO), "cpu", **protocol_options(protocol))._condition(
        request) for protocol in ("syncr1", "strict")}
    profile = "name: bo\ninfo: <bo> is a brown terrier.\n"
    assert conditions == {"syncr1": profile + "a <bo> wearing a rain<bo>w scarf",
                          "strict": profile + "a <bo> wearing a rainbow scarf"}


def test_latent_tokens_stay_in_decoded_answers_as_the_harness_spells_them() -> None:
    from baselines.showo.pipeline import ShowoPipeline

    pipe = ShowoPipeline.from_pretrained(TINY_SHOWO / "showo", TINY_SHOWO / "magvit")
    pipe.add_concept("bo")
    tokenizer = pipe.tokenizer
    ids = (tokenizer("a dog", add_special_tokens=False)["input_ids"]
           + tokenizer.convert_tokens_to_ids(["<bo:token_3>", "<bo>"])
           + tokenizer(" is here", add_special_tokens=False)["input_ids"])
    assert pipe.understander(latent_text="keep").text(ids) == "a dog<token_3><bo> is here"  # the harness's text
    assert pipe.understander(latent_text="drop").text(ids) == "a dog<bo> is here"
    assert adapters()["syncr1"].options_for("strict")["latent_text"] == "drop"
