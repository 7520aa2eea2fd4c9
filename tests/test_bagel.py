"""`bagel-tp` / `bagel-ip` against a stand-in of BAGEL's inferencer (tests/bagel_standin.py): the inputs, settings
and seeds the authors' harness gives BAGEL, every task end to end through `ubpp evaluate` with the stand-in
registered as a plugin, and the one-line errors for a missing checkout, weights or GPU.

The expected inputs and settings are written here from the harness (`chawuciren11/Sync-R1`,
`evaluation/adapters/bagel_base.py` `_build_generation_inputs`, `_build_understanding_inputs`,
`_generation_hyperparams`, `_run_understanding`, `_cfg_*`; `external_baseline.py` `_select_*_prompt`;
`common.py` `stable_seed`, `set_global_seed`), independently of the adapter's helpers.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import unifybench_pp
from baselines.bagel import Bagel, BagelSampling
from baselines.base import GenerateRequest, ModelError, UnderstandRequest
from cli import app

from .bagel_standin import StandInInferencer
from .run_fixtures import every_task_predicted


def harness_seed(*parts: object) -> int:
    return int(hashlib.sha256("::".join(str(p) for p in parts).encode()).hexdigest()[:8], 16)


def bagel(mode: str, bench: unifybench_pp.Benchmark, concept_id: str, **options) -> Bagel:
    model = Bagel(StandInInferencer(), BagelSampling(mode, **options))
    model.personalize(bench.concepts[concept_id],
                      [bench.image_path(p) for p in bench.concepts[concept_id].train_images])
    return model


def test_inputs_are_the_harness_s(bench: unifybench_pp.Benchmark) -> None:
    rec, rea, pure = bench.tasks["rec"][0], bench.tasks["rea"][0], bench.tasks["pure_gen"][0]
    concept = bench.concepts[rec.concept]
    first_photo = np.asarray(Image.open(bench.image_path(concept.train_images[0])).convert("RGB"))
    prefix = f"name: {concept.id}\ninfo: {concept.info}\n"
    for mode in ("tp", "ip"):
        model = bagel(mode, bench, rec.concept)
        for item, task in ((rec, "rec"), (rea, "rea")):
            inputs = model.understanding_input(UnderstandRequest(item.id, task, concept, item.question,
                                                                 bench.image_path(item.image)))
            assert inputs[0] == f"a photo of {concept.id}"  # given in TP too
            assert inputs[-1] == (prefix if mode == "tp" else "") + item.question
            images = inputs[1:-1]
            assert len(images) == (mode == "ip") + (item is rec)  # Rea.'s black image is not shown
            if mode == "ip":
                assert np.array_equal(np.asarray(images[0]), first_photo)
        bare = pure.prompt.replace(concept.token, concept.id)
        inputs = model.generation_input(GenerateRequest(pure.id, "pure_gen", concept, pure.prompt))
        assert inputs[0] == f"a photo of {concept.id}" and inputs[-1] == (prefix if mode == "tp" else "") + bare
        assert len(inputs) == 2 + (mode == "ip")


def test_settings_are_the_harness_s_per_mode(bench: unifybench_pp.Benchmark) -> None:
    item, und = bench.tasks["dense_gen"][0], bench.tasks["vqa"][0]
    concept = bench.concepts[item.concept]
    expected = {"tp": (1.0, [0.4, 1.0], "global"), "ip": (2.0, [0.0, 1.0], "text_channel")}
    for mode, (img_scale, interval, renorm) in expected.items():
        model = bagel(mode, bench, item.concept, height=32, width=48)
        model.generate([GenerateRequest(item.id, "dense_gen", concept, item.prompt, seed=1)])
        model.understand([UnderstandRequest(und.id, "vqa", bench.concepts[und.concept], und.question,
                                            bench.image_path(und.image), seed=1)])
        (_, generation), (_, understanding) = model.inferencer.calls
        assert generation == {**generation, "cfg_text_scale": 4.0, "cfg_img_scale": img_scale,
                              "cfg_interval": interval, "cfg_renorm_type": renorm, "cfg_renorm_min": 0.0,
                              "timestep_shift": 3.0, "num_timesteps": 50, "think": False,
                              "understanding_output": False, "image_shapes": (32, 48)}
        assert understanding == {**understanding, "understanding_output": True, "do_sample": False,
                                 "text_temperature": 1e-5, "max_think_token_n": 100, "think": False}
    assert BagelSampling("tp").height == 1024 == BagelSampling("ip").width
    with pytest.raises(ModelError, match="cfg_renorm_type"):
        BagelSampling("tp", cfg_renorm_type="per_pixel")


def test_seeds_are_the_harness_s(bench: unifybench_pp.Benchmark) -> None:
    item = bench.tasks["pure_gen"][0]
    concept = bench.concepts[item.concept]
    model = bagel("tp", bench, item.concept, height=16, width=16)
    seed = model.request_seed(3407, "pure_gen", concept.id, item.id)
    assert seed == harness_seed(3407, "bagel_tp", "generation", "pure_gen", concept.id, 0, "prompt_000")
    image = model.generate([GenerateRequest(item.id, "pure_gen", concept, item.prompt, seed=seed)])[0]
    image_seed = harness_seed(seed, "bagel_image", 0)
    after = random.getstate(), np.random.get_state()[1].tolist()
    random.seed(image_seed)
    np.random.seed(image_seed)
    assert after == (random.getstate(), np.random.get_state()[1].tolist())  # Python's and NumPy's seeded too
    torch.manual_seed(image_seed)
    assert np.array_equal(np.asarray(image), (torch.rand(16, 16, 3) * 255).to(torch.uint8).numpy())
    und = bench.tasks["rec"][0]
    request = UnderstandRequest(und.id, "rec", bench.concepts[und.concept], und.question, bench.image_path(und.image),
                                seed=harness_seed(3407, "bagel_tp", "understanding", "rec", und.concept, 0, "rec_000"))
    first = model.understand([request])
    torch.manual_seed(0)
    assert model.understand([request]) == first  # the answer's stream is seeded by the request, not inherited


@pytest.fixture
def standin_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = tmp_path / "plugin" / "bagel_standin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Name: bagel-standin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ubpp.models]\nbagel-standin-tp = tests.bagel_standin:bagel_standin_tp\n"
                                           "bagel-standin-ip = tests.bagel_standin:bagel_standin_ip\n")
    monkeypatch.syspath_prepend(str(info.parent))


def test_every_task_end_to_end_with_the_harness_s_rea_gen_input(standin_plugin: None, mini_build: Path,
                                                                 tmp_path: Path) -> None:
    for mode, flow in (("tp", []), ("ip", []), ("ip", ["--reasoning-input", "own"])):
        result = CliRunner().invoke(app, ["evaluate", "--model", f"bagel-standin-{mode}", "--benchmark",
                                          str(mini_build), "--limit", "1", "--option", "height=32", "--option",
                                          "width=32", "--runs-dir", str(tmp_path / "runs"), "--judge-cache",
                                          str(tmp_path / "j.sqlite"), *flow])
        assert result.exit_code == 0, (result.stderr, result.exception)
        assert "sampling: " in result.stdout and "cfg_text_scale 4.0" in result.stdout
    runs = sorted((tmp_path / "runs").glob("*/*/*/run.json"))
    assert len(runs) == 3  # the two-stage rule is a run of its own
    for run in runs:
        info = json.loads(run.read_text())
        tp = "-tp" in info["model"]  # IP images take the reference photo's shape, as BAGEL's inferencer does
        records = every_task_predicted(run.parent, image_size=(32, 32) if tp else None)
        sources = {r["prompt_source"] for r in records if r["task"] in ("rea_gen", "dense_rea_gen")}
        if info["reasoning_input"] == "implicit":  # the harness's flow for BAGEL, the default
            assert sources == {"implicit"}
        else:
            assert info["reasoning_input"] == "own" and all(s.startswith("own:") for s in sources)
        assert info["recipe"]["cfg_img_scale"] == (1.0 if tp else 2.0)


def test_a_missing_checkout_weights_or_gpu_is_one_line(mini_build: Path, tmp_path: Path) -> None:
    checkout, weights = tmp_path / "Bagel", tmp_path / "BAGEL-7B-MoT"
    for folder in (checkout / "modeling", checkout / "data", weights):
        folder.mkdir(parents=True)
    (checkout / "inferencer.py").write_text("")

    def evaluate(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["evaluate", "--model", "bagel-tp", "--benchmark", str(mini_build),
                                          "--runs-dir", str(tmp_path / "runs"), *args])
        return result.exit_code, result.stderr

    cases = [((), "git clone https://github.com/ByteDance-Seed/Bagel and pass --option code_root=PATH"),
             (("--option", f"code_root={tmp_path}"), f"({tmp_path} has no inferencer.py, modeling/ and data/)"),
             (("--option", f"code_root={checkout}", "--checkpoint", str(tmp_path / "empty")),
              "(missing llm_config.json, vit_config.json, ae.safetensors, ema.safetensors): download "
              "ByteDance-Seed/BAGEL-7B-MoT and pass --checkpoint PATH"),
             (("--option", "cfg_renorm_type=pixel"), "cfg_renorm_type must be one of global, channel, text_channel")]
    for name in ("llm_config.json", "vit_config.json", "ae.safetensors", "ema.safetensors"):
        (weights / name).write_text("{}")
    if not torch.cuda.is_available():
        cases.append((("--option", f"code_root={checkout}", "--checkpoint", str(weights)),
                       "bagel-tp needs a CUDA GPU (BAGEL's inferencer runs on 'cuda' only): none is visible here"))
    for args, message in cases:
        code, stderr = evaluate(*args)
        assert code == 2 and message in " ".join(stderr.split()) and len(stderr.strip().splitlines()) == 1, \
            (args, stderr)
