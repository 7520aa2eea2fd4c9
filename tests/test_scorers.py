"""Scorer models loaded through our real loading code, checked against independent computations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from evaluators.scorers.clip import ClipScorer
from evaluators.scorers.unavailable import ScorerUnavailable
from unifybench_pp import MINI_SOURCE


def random_images(n: int, size: int = 32, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


def torchmetrics_scores(path: Path, source: list, target: list) -> torch.Tensor:
    """torchmetrics' CLIP score update (x100, before its clamp at 0) on the same saved model."""
    from torchmetrics.functional.multimodal.clip_score import _clip_score_update
    from transformers import CLIPModel, CLIPProcessor

    class TensorCLIP(CLIPModel):  # torchmetrics expects tensors from get_*_features
        def get_image_features(self, *args, **kwargs):
            out = super().get_image_features(*args, **kwargs)
            return out if isinstance(out, torch.Tensor) else out.pooler_output

        def get_text_features(self, *args, **kwargs):
            out = super().get_text_features(*args, **kwargs)
            return out if isinstance(out, torch.Tensor) else out.pooler_output

    model, processor = TensorCLIP.from_pretrained(path).eval(), CLIPProcessor.from_pretrained(path)
    with torch.inference_mode():
        score, _ = _clip_score_update(source, target, model, processor)
    return score


def as_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image)).permute(2, 0, 1)


def test_clip_t_equals_torchmetrics(tiny_clip: Path) -> None:
    images = random_images(6)
    texts = ["a photo of a dog", "the cat", "a red hat", "a rocket at night", "coins", "a cup of tea"]
    ours = ClipScorer(str(tiny_clip), batch_size=4).clip_t(images, texts)
    theirs = torchmetrics_scores(tiny_clip, [as_tensor(i) for i in images], texts) / 100
    assert ours == pytest.approx(theirs.tolist(), abs=1e-5)


def test_clip_i_equals_torchmetrics_image_image_mean(tiny_clip: Path, tmp_path: Path) -> None:
    images = random_images(3, seed=1)
    refs = random_images(2, seed=2)
    paths = []
    for k, ref in enumerate(refs):
        paths.append(tmp_path / f"ref{k}.png")
        ref.save(paths[-1])
    scorer = ClipScorer(str(tiny_clip))
    ours = scorer.clip_i(images, [paths] * 3)
    per_ref = torch.stack([
        torchmetrics_scores(tiny_clip, [as_tensor(i) for i in images], [as_tensor(ref)] * 3) / 100 for ref in refs
    ])
    assert ours == pytest.approx(per_ref.mean(0).tolist(), abs=1e-5)
    assert scorer.references.computed == 2  # the references are embedded once, not per item
    scorer.clip_i(images, [paths] * 3)
    assert scorer.references.computed == 2


def test_clip_batching_does_not_change_scores(tiny_clip: Path) -> None:
    images = random_images(7, seed=3)
    texts = [f"a photo number {k}" for k in range(7)]
    one = ClipScorer(str(tiny_clip), batch_size=1).clip_t(images, texts)
    many = ClipScorer(str(tiny_clip), batch_size=5).clip_t(images, texts)
    assert one == pytest.approx(many, abs=1e-5)


def test_missing_clip_weights_are_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ScorerUnavailable, match="ViT-B-32-quickgelu/openai .* not in the local Hugging Face cache"):
        ClipScorer("open_clip:ViT-B-32-quickgelu/openai")
    with pytest.raises(ScorerUnavailable, match="not available"):
        ClipScorer(str(tmp_path / "no-such-model"))


def test_open_clip_backend_loads_a_local_weights_file(tmp_path: Path) -> None:
    import open_clip

    model = open_clip.create_model("RN50", pretrained=None)
    weights = tmp_path / "rn50.pt"
    torch.save(model.state_dict(), weights)
    scorer = ClipScorer(f"open_clip:RN50/{weights}", batch_size=2)
    images = random_images(2, size=64)
    with torch.inference_mode():
        pixels = torch.stack([scorer._preprocess(i) for i in images])
        expected_img = torch.nn.functional.normalize(model.eval().encode_image(pixels), dim=-1)
        tokens = open_clip.get_tokenizer("RN50")(["a dog", "a cat"])
        expected_txt = torch.nn.functional.normalize(model.encode_text(tokens), dim=-1)
    assert scorer.clip_t(images, ["a dog", "a cat"]) == pytest.approx((expected_img * expected_txt).sum(-1).tolist(),
                                                                      abs=1e-4)


def test_minilm_similarity_equals_mean_pooled_transformers() -> None:
    from transformers import AutoModel, AutoTokenizer

    from evaluators.scorers.text_embed import TextEmbedder, bundled_minilm_path

    a = ["<bo>'s favourite hat is a red baseball cap.", "a tabby cat"]
    b = ["a red cap", "a rocket on the launch pad"]
    ours = TextEmbedder().similarity(a, b)
    path = bundled_minilm_path()
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    with torch.inference_mode():
        batch = tokenizer(a + b, padding=True, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    expected = (pooled[:2] * pooled[2:]).sum(-1)
    assert ours == pytest.approx(expected.tolist(), abs=1e-5)
    assert ours[0] > ours[1] + 0.3  # a real encoder: related texts are closer


def test_mtcnn_finds_real_faces_only() -> None:
    from evaluators.scorers.face import FaceScorer

    scorer = FaceScorer()
    probs = scorer.face_probability([
        MINI_SOURCE / "concept/test/ast/0.jpg", MINI_SOURCE / "concept/train/cam/0.jpg",
        MINI_SOURCE / "concept/test/coffee/0.jpg", Image.new("RGB", (160, 160), (128, 128, 128)),
    ])
    assert probs[0] > 0.9 and probs[1] > 0.9
    assert probs[2] < 0.5 and probs[3] == 0.0


def test_batched_detection_equals_mtcnn_one_image_at_a_time() -> None:
    """Faces and no faces in one batch (MTCNN's own batched selection fails on that mix), two sizes, crops of
    real photos: every crop and probability as MTCNN gives them for each image alone."""
    from evaluators.scorers.face import DETECT_BATCH, FaceScorer

    scorer = FaceScorer()
    photos = [Image.open(MINI_SOURCE / name).convert("RGB") for name in
              ("concept/test/ast/0.jpg", "concept/train/cam/0.jpg", "concept/test/coffee/0.jpg")]
    rng = np.random.default_rng(0)
    images = []
    for index in range(DETECT_BATCH + 4):  # more than one batch of the common size
        photo = photos[index % 3]
        side = int(rng.integers(min(photo.size) // 2, min(photo.size)))
        x, y = (int(rng.integers(0, bound - side + 1)) for bound in photo.size)
        images.append(photo.crop((x, y, x + side, y + side)).resize((160, 160) if index % 4 else (200, 120)))
    images.insert(5, Image.new("RGB", (160, 160), (128, 128, 128)))
    alone = [scorer._mtcnn(image, return_prob=True) for image in images]
    together = scorer.detect(images)
    assert sum(crop is not None for crop, _ in alone) >= 6  # the check covers found faces, not only misses
    for (crop, prob), (ours, our_prob) in zip(alone, together, strict=True):
        assert (crop is None) == (ours is None)
        if crop is not None:
            assert torch.equal(crop, ours) and our_prob == float(prob)
        else:
            assert our_prob == 0.0


def test_facenet_cosine_with_local_weights(tmp_path: Path) -> None:
    from facenet_pytorch import InceptionResnetV1

    from evaluators.scorers.face import FaceScorer

    torch.manual_seed(0)
    weights = tmp_path / "facenet.pt"
    torch.save(InceptionResnetV1().state_dict(), weights)
    scorer = FaceScorer(facenet=str(weights))
    ast = [MINI_SOURCE / "concept/train/ast/0.jpg"]
    scores = scorer.similarity(
        [MINI_SOURCE / "concept/train/ast/0.jpg", Image.new("RGB", (160, 160), (128, 128, 128))], [ast, ast])
    assert scores[0].face_found and scores[0].score == pytest.approx(1.0, abs=1e-5)  # same face as the reference
    assert not scores[1].face_found and scores[1].score == 0.0
    with pytest.raises(ScorerUnavailable, match="FaceNet weights"):
        FaceScorer(facenet=str(tmp_path / "missing.pt"))


def test_dinov2_tiny_model_cosine(tmp_path: Path) -> None:
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    from evaluators.scorers.dinov2 import DinoScorer

    torch.manual_seed(0)
    config = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                          image_size=32, patch_size=8)
    Dinov2Model(config).save_pretrained(tmp_path / "dino")
    BitImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32,
                                                             "width": 32}).save_pretrained(tmp_path / "dino")
    scorer = DinoScorer(str(tmp_path / "dino"))
    images = random_images(3, seed=4)
    ref = tmp_path / "ref.png"
    images[0].save(ref)
    sims = scorer.similarity(images, [[ref]] * 3)
    assert sims[0] == pytest.approx(1.0, abs=1e-5)
    direct = scorer.image_features(images)
    assert sims[1] == pytest.approx(float(direct[1] @ direct[0]), abs=1e-5)


def test_blip2_tiny_model_similarity(tmp_path: Path) -> None:
    from transformers import (
        BertTokenizerFast,
        Blip2Config,
        Blip2ForImageTextRetrieval,
        Blip2Processor,
        BlipImageProcessor,
    )

    from evaluators.scorers.blip2 import Blip2Scorer

    torch.manual_seed(0)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "dog", "cat", "red", "hat", "photo", "of"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab))
    tokenizer = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    config = Blip2Config(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        qformer_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                        "vocab_size": len(vocab), "encoder_hidden_size": 32, "max_position_embeddings": 64,
                        "use_qformer_text_input": True},
        num_query_tokens=4, image_text_hidden_size=16,
    )
    model = Blip2ForImageTextRetrieval(config).eval()
    model.save_pretrained(tmp_path / "blip2")
    processor = Blip2Processor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
                               tokenizer=tokenizer, num_query_tokens=None)
    processor.save_pretrained(tmp_path / "blip2")
    scorer = Blip2Scorer(str(tmp_path / "blip2"), batch_size=2)
    images = random_images(3, seed=5)
    texts = ["a photo of a dog", "a red hat", "a cat"]
    ours = scorer.similarity(images, texts)
    with torch.inference_mode():  # the same model, one pair at a time, cosine max over query tokens by hand
        for image, text, value in zip(images, texts, ours):
            inputs = processor(images=[image], text=[text], return_tensors="pt")
            out = model(**inputs, use_image_text_matching_head=False)
            expected = (out.image_embeds[0] @ out.text_embeds[0]).max()
            assert value == pytest.approx(float(expected), abs=1e-5)
    assert all(-1.0 <= v <= 1.0 for v in ours)


def test_tiny_images_have_no_face() -> None:
    from evaluators.scorers.face import FaceScorer

    assert FaceScorer().face_probability([Image.new("RGB", (16, 16)), Image.new("RGB", (8, 30))]) == [0.0, 0.0]
