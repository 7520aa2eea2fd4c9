"""`emu3-tp` on a tiny random Emu3 saved and loaded back through `from_pretrained`: its prompts, its image
sampling against transformers' documented Emu3 generation written out here, every task end to end through
`ubpp evaluate`, and one line for missing weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import unifybench_pp
from baselines.base import GenerateRequest, ModelError, UnderstandRequest
from baselines.registry import create
from cli import app

from .run_fixtures import every_task_predicted
from .tiny_models import make_tiny_emu3

TINY_AREA = {"image_area": 32 * 32}


@pytest.fixture(scope="module")
def tiny_emu3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_emu3(tmp_path_factory.mktemp("emu3") / "tiny")


def emu3(checkpoint: Path, **options):
    return create("emu3-tp", str(checkpoint), gen=str(checkpoint), **TINY_AREA, **options)


def test_prompts(tiny_emu3: Path, bench: unifybench_pp.Benchmark) -> None:
    model = emu3(tiny_emu3)
    rec, rea, pure = bench.tasks["rec"][0], bench.tasks["rea"][0], bench.tasks["pure_gen"][0]
    concept = bench.concepts[rec.concept]
    lines = f"name: {concept.id}\ninfo: {concept.info}\n"
    for item, task, image in ((rec, "rec", "<image>"), (rea, "rea", "")):  # Rea.'s black image is not shown
        prompt, images = model.understanding_input(UnderstandRequest(item.id, task, concept, item.question,
                                                                     bench.image_path(item.image)))
        assert prompt == f"You are a helpful assistant. USER: {image}{lines}{item.question} ASSISTANT:"
        assert len(images) == len(image) // len("<image>")
    request = GenerateRequest(pure.id, "pure_gen", concept, pure.prompt)
    bare = pure.prompt.replace(concept.token, concept.id)
    assert model.generation_prompt(request) == f"{lines}{bare} masterpiece, film grained, best quality."
    assert model.understand([UnderstandRequest(rec.id, "rec", concept, rec.question,
                                               bench.image_path(rec.image))])[0] is not None


@torch.inference_mode()
def documented_image(model, prompt: str, seed: int) -> np.ndarray:
    """transformers' Emu3 generation example: the layout forced through `prefix_allowed_tokens_fn`, CFG against
    a negative prompt, top-k 2048 sampling, then decode and postprocess."""
    processor, gen = model.gen_processor, model.gen
    tokenizer = processor.tokenizer
    inputs = processor(text=[prompt], return_for_image_generation=True, return_tensors="pt", **TINY_AREA)
    negative = processor(text=["lowres, bad anatomy, bad hands, text, error, missing fingers, extra digit, fewer "
                               "digits, cropped, worst quality, low quality, normal quality, jpeg artifacts, "
                               "signature, watermark, username, blurry."], return_for_image_generation=True,
                         return_tensors="pt", **TINY_AREA)
    height, width = inputs.pop("image_sizes")[0]
    wrapper = tokenizer.convert_tokens_to_ids("<|image token|>")

    def allowed(batch_id, input_ids):
        offset = input_ids.shape[0] - torch.nonzero(input_ids == wrapper, as_tuple=True)[0][0]
        if offset % (width + 1) == 0:
            return (tokenizer.convert_tokens_to_ids("<|extra_200|>"),)
        if offset == (width + 1) * height + 1:
            return (tokenizer.convert_tokens_to_ids("<|extra_201|>"),)
        if offset == (width + 1) * height + 2:
            return (tokenizer.eoi_token_id,)
        if offset == (width + 1) * height + 3:
            return (tokenizer.eos_token_id,)
        if offset > (width + 1) * height + 3:
            return (tokenizer.pad_token_id,)
        return gen.model.vocabulary_mapping.image_tokens

    torch.manual_seed(seed)
    out = gen.generate(**inputs, max_new_tokens=(width + 1) * height + 3, prefix_allowed_tokens_fn=allowed,
                       do_sample=True, top_k=2048, guidance_scale=3.0, negative_prompt_ids=negative["input_ids"],
                       negative_prompt_attention_mask=negative["attention_mask"])
    pixels = gen.decode_image_tokens(image_tokens=out[:, inputs["input_ids"].shape[1]:], height=height, width=width)
    return np.asarray(processor.postprocess(list(pixels.float()), return_tensors="PIL.Image.Image")["pixel_values"][0])


def test_images_are_transformers_documented_sampling(tiny_emu3: Path, bench: unifybench_pp.Benchmark) -> None:
    model = emu3(tiny_emu3)
    item = bench.tasks["dense_gen"][0]
    request = GenerateRequest(item.id, "dense_gen", bench.concepts[item.concept], item.prompt, seed=11)
    image = np.asarray(model.generate([request])[0])
    assert np.array_equal(image, documented_image(model, model.generation_prompt(request), 11))
    other = np.asarray(model.generate([GenerateRequest(item.id, "dense_gen", request.concept, item.prompt,
                                                       seed=12)])[0])
    assert not np.array_equal(image, other)  # sampled: the seed matters
    greedy = emu3(tiny_emu3, top_k=1)  # the explicit top_k reaches the sampler
    assert np.array_equal(*(np.asarray(greedy.generate([GenerateRequest(item.id, "dense_gen", request.concept,
                                                                        item.prompt, seed=s)])[0]) for s in (11, 12)))
    assert model.recipe["top_k"] == 2048 and model.recipe["cfg"] == 3.0 and model.recipe["resolution"] == "32x32"


def test_every_task_end_to_end_with_the_recipe_recorded(tiny_emu3: Path, mini_build: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", "--model", "emu3-tp", "--checkpoint", str(tiny_emu3), "--option",
                                      f"gen={tiny_emu3}", "--option", "image_area=1024", "--benchmark",
                                      str(mini_build), "--limit", "1", "--runs-dir", str(tmp_path / "runs"),
                                      "--judge-cache", str(tmp_path / "j.sqlite")])
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert "sampling: " in result.stdout and "top_k 2048" in result.stdout
    [run] = (tmp_path / "runs" / "emu3-tp").glob("*/*/run.json")
    info = json.loads(run.read_text())
    assert info["recipe"]["cfg"] == 3.0 and info["model_type"] == "Unified Model"
    every_task_predicted(run.parent, image_size=(32, 32))


def test_missing_weights_are_one_line(tiny_emu3: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="weights for Emu3-Chat not found .*pass --checkpoint PATH"):
        create("emu3-tp", str(tmp_path / "nothing"), gen=str(tiny_emu3))
    with pytest.raises(ModelError, match="weights for Emu3-Gen not found .*--option gen=PATH"):
        create("emu3-tp", str(tiny_emu3), gen=str(tmp_path / "nothing"))


@pytest.mark.parametrize("fmt", ["dreambench", "yollava"])
def test_emu3_runs_on_table_5_builds(fmt: str, tiny_emu3: Path, tmp_path: Path) -> None:
    from .table5_fixtures import write_dreambench, write_yollava

    writer = {"dreambench": write_dreambench, "yollava": write_yollava}[fmt]
    runner = CliRunner()
    built = runner.invoke(app, ["build-dataset", "--source", str(writer(tmp_path / "src")), "--format", fmt,
                                "--out", str(tmp_path / "bench"), "-q"])
    assert built.exit_code == 0, built.stderr
    result = runner.invoke(app, ["evaluate", "--model", "emu3-tp", "--checkpoint", str(tiny_emu3), "--option",
                                 f"gen={tiny_emu3}", "--option", "image_area=1024", "--benchmark",
                                 str(tmp_path / "bench"), "--limit", "1", "--runs-dir", str(tmp_path / "runs"),
                                 "--judge-cache", str(tmp_path / "j.sqlite")])
    assert result.exit_code == 0, (result.stderr, result.exception)
    tasks = unifybench_pp.load(tmp_path / "bench").tasks
    [log] = (tmp_path / "runs").rglob("predictions.jsonl")
    assert {json.loads(line)["task"] for line in log.read_text().splitlines()} == \
        {task for task, items in tasks.items() if items}
