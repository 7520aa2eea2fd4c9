"""`omnigen-ip` on a tiny random OmniGen saved and loaded back through `from_pretrained`: the documented prompt
recipe, the exact call the adapter makes, and every generation task end to end through `ubpp evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import unifybench_pp
from baselines.base import GenerateRequest
from baselines.omnigen import omnigen_prompt
from baselines.registry import create
from cli import app

from .tiny_models import make_tiny_omnigen

SMALL = {"height": 32, "width": 32, "steps": 2, "max_input_image_size": 32}


@pytest.fixture(scope="module")
def tiny_omnigen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_omnigen(tmp_path_factory.mktemp("omnigen") / "tiny")


def test_the_prompt_names_the_class_and_points_at_image_one(mini_build: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    item = bench.tasks["pure_gen"][0]
    concept = bench.concepts[item.concept]
    expected = item.prompt.replace(concept.token, concept.class_noun)
    assert omnigen_prompt(item.prompt + ".", concept) == (
        f"{expected}. The {concept.class_noun} is the one in <img><|image_1|></img>.")


def test_each_image_is_the_pipeline_s_own_for_that_prompt_photo_and_seed(tiny_omnigen: Path, mini_build: Path) -> None:
    from diffusers import OmniGenPipeline

    bench = unifybench_pp.load(mini_build)
    item = bench.tasks["dense_gen"][0]
    concept = bench.concepts[item.concept]
    photos = [bench.image_path(p) for p in concept.train_images]
    model = create("omnigen-ip", str(tiny_omnigen), **SMALL)
    model.personalize(concept, photos)
    requests = [GenerateRequest(item.id, "dense_gen", concept, item.prompt, seed=seed) for seed in (7, 8)]
    ours = model.generate(requests)
    pipe = OmniGenPipeline.from_pretrained(tiny_omnigen)
    with Image.open(photos[0]) as photo:
        reference = photo.convert("RGB")
    for request, image in zip(requests, ours):
        torch.manual_seed(request.seed)  # the photo's VAE latent comes from the global stream
        theirs = pipe(prompt=omnigen_prompt(item.prompt, concept), input_images=[reference], height=32, width=32,
                      num_inference_steps=2, guidance_scale=2.5, img_guidance_scale=1.6, max_input_image_size=32,
                      generator=torch.Generator().manual_seed(request.seed)).images[0]
        assert np.array_equal(np.asarray(image), np.asarray(theirs))
    assert not np.array_equal(np.asarray(ours[0]), np.asarray(ours[1]))  # the seed reaches the sampler
    again = model.generate(requests[:1])[0]
    assert np.array_equal(np.asarray(again), np.asarray(ours[0]))  # the same request, the same image


def test_every_generation_task_end_to_end_with_the_recipe(tiny_omnigen: Path, mini_build: Path, tmp_path: Path) -> None:
    options = [arg for key, value in SMALL.items() for arg in ("--option", f"{key}={value}")]
    result = CliRunner().invoke(app, ["evaluate", "--model", "omnigen-ip", "--checkpoint", str(tiny_omnigen),
                                      "--benchmark", str(mini_build), "--limit", "1", *options,
                                      "--runs-dir", str(tmp_path / "runs"), "--judge-cache", str(tmp_path / "j")])
    assert result.exit_code == 0, (result.stderr, result.exception)
    [run] = (tmp_path / "runs" / "omnigen-ip").glob("*/*/run.json")
    info = json.loads(run.read_text())
    assert info["model_type"] == "Gen. Only" and info["recipe"]["guidance_scale"] == 2.5
    tasks = {json.loads(line)["task"] for line in (run.parent / "predictions.jsonl").read_text().splitlines()}
    assert tasks == {"pure_gen", "dense_gen", "rea_gen", "dense_rea_gen"}
