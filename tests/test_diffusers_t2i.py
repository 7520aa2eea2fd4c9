"""diffusers-t2i on a tiny Stable Diffusion saved by diffusers: DreamBooth and Textual Inversion mappings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import unifybench_pp
from baselines.base import ModelError
from baselines.registry import create
from evaluators.runner import EvalConfig, run_evaluation

from .tiny_models import make_tiny_stable_diffusion

FAST = {"steps": 2, "height": 16, "width": 16}


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sd")
    return {"a": make_tiny_stable_diffusion(root / "a", seed=0), "b": make_tiny_stable_diffusion(root / "b", seed=1)}


def pixels(run_dir: Path) -> dict[str, np.ndarray]:
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    return {r["id"]: np.asarray(Image.open(run_dir / r["output"])) for r in rows}


def test_dreambooth_checkpoint_per_concept(tiny_sd: dict[str, Path], mini_build: Path, tmp_path: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    options = {"dreambooth": {"ast": str(tiny_sd["a"]), "rocket": str(tiny_sd["b"])}, **FAST}
    config = dict(tasks=["pure_gen", "rea_gen"], concepts=["ast", "rocket"])
    batched = run_evaluation(bench, create("diffusers-t2i", **options),
                             EvalConfig("diffusers-t2i", options=options, batch_size=4, runs_dir=tmp_path / "a",
                                        **config))
    single = run_evaluation(bench, create("diffusers-t2i", **options),
                            EvalConfig("diffusers-t2i", options=options, batch_size=1, runs_dir=tmp_path / "b",
                                       **config))
    first, second = pixels(batched.run_dir), pixels(single.run_dir)
    assert first.keys() == second.keys() and len(first) == sum(len(bench.items(t, config["concepts"]))
                                                               for t in config["tasks"])
    for key in first:  # the same image whatever the batch, up to float rounding in the batched UNet
        assert first[key].shape == (16, 16, 3), key
        assert np.abs(first[key].astype(int) - second[key].astype(int)).max() <= 2, key
    assert not np.array_equal(first["pure_gen/ast/000"], first["pure_gen/ast/001"])
    with pytest.raises(ModelError, match="no DreamBooth checkpoint for concept coins"):
        run_evaluation(bench, create("diffusers-t2i", **options),
                       EvalConfig("diffusers-t2i", options=options, tasks=["pure_gen"], concepts=["coins"],
                                  runs_dir=tmp_path / "c"))


def test_textual_inversion_embeddings(tiny_sd: dict[str, Path], mini_build: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    bench = unifybench_pp.load(mini_build)
    save_file({"<chelsea>": torch.randn(1, 32)}, str(tmp_path / "chelsea.safetensors"))
    options = {"textual_inversion": {"chelsea": str(tmp_path / "chelsea.safetensors")}, **FAST}
    model = create("diffusers-t2i", str(tiny_sd["a"]), **options)
    result = run_evaluation(bench, model, EvalConfig("diffusers-t2i", str(tiny_sd["a"]), options, tasks=["pure_gen"],
                                                     concepts=["chelsea"], runs_dir=tmp_path))
    assert len(pixels(result.run_dir)) == len(bench.items("pure_gen", ["chelsea"]))
    assert model._base.tokenizer.convert_tokens_to_ids("<chelsea>") != model._base.tokenizer.unk_token_id
    with pytest.raises(ModelError, match="exactly one of dreambooth"):
        create("diffusers-t2i", str(tiny_sd["a"]))
    with pytest.raises(ModelError, match="weights for diffusers-t2i not found at"):
        create("diffusers-t2i", str(tmp_path / "none"), textual_inversion={"x": "y"})
