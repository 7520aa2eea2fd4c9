"""CLIP as the authors compute it: OpenAI's ViT-B/32 with QuickGELU, whichever library loads the weights.

One set of tiny random weights in OpenAI's layout is saved three ways (OpenAI's TorchScript archive, open_clip's
folder, a transformers folder converted key by key in tests/tiny_models.py) and loaded back through ClipScorer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evaluators.scorers.clip import ClipScorer, ClipSpecError, parse_clip_spec
from evaluators.scoring_config import DEFAULT_CLIP

from .tiny_models import make_tiny_openai_clip, save_open_clip_dir, save_openai_torchscript, save_transformers_clip

TEXTS = ["a dog in the jungle", "a red cube shaped cup", "A photo of <bo>, wearing a rainbow scarf."]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("openai-clip")
    state = make_tiny_openai_clip()
    return {"torchscript": save_openai_torchscript(state, root / "ViT-tiny.pt"),
            "quick": save_open_clip_dir(state, root / "quick", quick_gelu=True),
            "gelu": save_open_clip_dir(state, root / "gelu", quick_gelu=False),
            "transformers": save_transformers_clip(state, root / "hf")}


def images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(3)]


def embeddings(scorer: ClipScorer) -> tuple[np.ndarray, np.ndarray]:
    return scorer.image_features(images()).numpy(), scorer.text_features(TEXTS).numpy()


def test_open_clip_and_transformers_give_the_same_embedding_and_gelu_does_not(saved: dict[str, Path]) -> None:
    jit_image, jit_text = embeddings(ClipScorer(f"open_clip:ViT-B-32-quickgelu/{saved['torchscript']}",
                                                trusted_file=True))
    for spec in (f"open_clip:local-dir:{saved['quick']}", str(saved["transformers"])):
        image, text = embeddings(ClipScorer(spec))
        np.testing.assert_allclose(image, jit_image, atol=2e-6)
        np.testing.assert_allclose(text, jit_text, atol=2e-6)
    gelu_image, gelu_text = embeddings(ClipScorer(f"open_clip:local-dir:{saved['gelu']}"))
    assert np.abs(gelu_image - jit_image).max() > 1e-3 and np.abs(gelu_text - jit_text).max() > 1e-3


def test_the_default_builds_quickgelu_around_openais_weights() -> None:
    import open_clip

    source = parse_clip_spec(DEFAULT_CLIP)
    assert (source.backend, source.pretrained) == ("open_clip", "openai")
    assert open_clip.get_model_config(source.arch)["quick_gelu"] is True
    assert open_clip.get_pretrained_cfg(source.arch, "openai")["quick_gelu"] is True


@pytest.mark.parametrize("spec, fix", [
    ("open_clip:ViT-B-32/openai", "open_clip:ViT-B-32-quickgelu/openai"),
    ("open_clip:ViT-B-32-quickgelu/laion2b_s34b_b79k", "open_clip:ViT-B-32/laion2b_s34b_b79k"),
])
def test_an_activation_that_contradicts_the_weights_is_refused(spec: str, fix: str) -> None:
    with pytest.raises(ClipSpecError) as refused:
        ClipScorer(spec)
    message = str(refused.value)
    assert "\n" not in message and message.endswith(f"use {fix}")


def test_a_torchscript_file_needs_the_trusted_file_option_and_a_quickgelu_arch(saved: dict[str, Path]) -> None:
    with pytest.raises(ClipSpecError, match="TorchScript archive .* only with --clip-trusted-file"):
        ClipScorer(f"open_clip:ViT-B-32-quickgelu/{saved['torchscript']}")
    with pytest.raises(ClipSpecError, match="trained with QuickGELU, but ViT-B-32 builds GELU"):
        ClipScorer(f"open_clip:ViT-B-32/{saved['torchscript']}", trusted_file=True)
    scorer = ClipScorer(f"open_clip:ViT-B-32-quickgelu/{saved['torchscript']}", trusted_file=True)
    assert "not OpenAI's published ViT-B-32-quickgelu file" in scorer.model_id


def test_score_refuses_a_mismatched_clip_in_one_line(mini_build: Path, tmp_path: Path) -> None:
    predictions = tmp_path / "p.jsonl"
    predictions.write_text('{"task": "qa", "id": "qa/chelsea/000", "output": "x"}\n')
    done = subprocess.run([sys.executable, "-m", "cli", "score", str(mini_build), str(predictions),
                           "--clip-model", "open_clip:ViT-B-32/openai"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: CLIP spec open_clip:ViT-B-32/openai: the openai weights were trained with QuickGELU but ViT-B-32 "
        "builds GELU; use open_clip:ViT-B-32-quickgelu/openai"]
