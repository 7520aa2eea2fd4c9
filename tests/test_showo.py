"""The Show-o family on tiny random models loaded through the real loading code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.showo.attention import causal_text_mask, image_block_mask, understanding_mask
from baselines.showo.concepts import (
    add_concept,
    concept_rows,
    load_concept,
    load_released_concept,
    save_concept,
)
from baselines.showo.magvit2 import Magvit2Config, Magvit2Tokenizer
from baselines.showo.model import Showo, ShowoConfig, tiny_llm_config
from baselines.showo.sampler import MaskGitSampler, SamplerConfig, encode_prompts, mask_length
from baselines.showo.understand import Understander, encode_questions
from baselines.showo.vocab import SPECIAL_TOKENS, Vocab, build_tiny_tokenizer
from bench.showo_official_loop import official_generate

CODEBOOK = 64


def tiny(seed: int = 0, init_std: float = 0.3) -> tuple[Showo, Vocab, object]:
    tokenizer = build_tiny_tokenizer()
    vocab = Vocab.from_tokenizer(tokenizer, CODEBOOK)
    torch.manual_seed(seed)
    config = ShowoConfig(vocab_size=vocab.size, llm_vocab_size=vocab.text_size - 10, codebook_size=CODEBOOK,
                         num_vq_tokens=16, llm_config=tiny_llm_config(init_std=init_std))
    return Showo(config).eval(), vocab, tokenizer


def test_vocabulary_layout() -> None:
    tokenizer = build_tiny_tokenizer()
    vocab = Vocab.from_tokenizer(tokenizer, 8192)
    assert [tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == list(range(401, 410))
    assert vocab.pad == 400 and vocab.bos == vocab.eos == tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert vocab.image_offset == len(tokenizer) == 410 and vocab.mask == 410 + 8192 == vocab.size - 1


def test_released_layout_loads_with_no_missing_or_unexpected_keys(tmp_path: Path) -> None:
    model, vocab, _ = tiny()
    state = model.state_dict()
    for key in ("showo.model.embed_tokens.weight", "showo.model.layers.0.self_attn.q_proj.weight",
                "showo.model.layers.1.self_attn.dense.bias", "showo.model.layers.0.mlp.fc1.weight",
                "showo.model.layers.0.input_layernorm.weight", "showo.model.final_layernorm.weight",
                "showo.lm_head.weight", "showo.lm_head.bias"):
        assert key in state, key
    released = tmp_path / "show-o"
    released.mkdir()
    torch.save(state, released / "pytorch_model.bin")
    config = {"_class_name": "Showo", "_diffusers_version": "0.25.1", "w_clip_vit": False,
              "vocab_size": vocab.size, "llm_vocab_size": vocab.text_size - 10, "llm_model_path": "microsoft/phi-1_5",
              "codebook_size": CODEBOOK, "num_vq_tokens": 16, "load_from_showo": False,
              "llm_config": tiny_llm_config(init_std=0.3)}
    (released / "config.json").write_text(json.dumps(config))
    loaded = Showo.from_pretrained(released)
    assert loaded.config.extra["_diffusers_version"] == "0.25.1"
    ids = torch.randint(0, vocab.size, (1, 12))
    with torch.inference_mode():
        assert torch.equal(loaded(ids).logits, model(ids).logits)
    model.save_pretrained(tmp_path / "ours")
    again = Showo.from_pretrained(tmp_path / "ours")
    assert json.loads((tmp_path / "ours" / "config.json").read_text())["_class_name"] == "Showo"
    assert all(torch.equal(again.state_dict()[k], v) for k, v in state.items())
    state["showo.extra.weight"] = torch.zeros(1)
    torch.save(state, released / "pytorch_model.bin")
    with pytest.raises(ValueError, match="unexpected \\['showo.extra.weight'\\]"):
        Showo.from_pretrained(released)


def test_loading_reads_every_weight_without_a_random_initialisation(tmp_path: Path) -> None:
    """The weights are built on the meta device and take copies of the file's tensors: in the model's dtype (a bf16
    file gives float32 weights, as copying into built weights did), with the rotary table that no file holds, and
    nothing left on the meta device; a file written over after loading leaves the model as it was."""
    model, vocab, _ = tiny()
    built = {k: v.clone() for k, v in model.named_buffers()}
    model.to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
    loaded = Showo.from_pretrained(tmp_path / "bf16")
    tensors = dict(loaded.named_parameters()) | dict(loaded.named_buffers())
    assert all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors.values())
    assert built.keys() == dict(loaded.named_buffers()).keys() and all(
        torch.equal(built[k], v) for k, v in loaded.named_buffers())
    reference = tiny()[0]  # built as before: random weights, then the file's (bf16-rounded) ones copied in
    reference.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    ids = torch.randint(0, vocab.size, (2, 20), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        assert torch.equal(loaded(ids).logits, reference(ids).logits)
    float32, _, _ = tiny(seed=1)  # a file in the model's dtype: no conversion, so the weights must be copies
    float32.save_pretrained(tmp_path / "f32")
    loaded = Showo.from_pretrained(tmp_path / "f32")
    file = tmp_path / "f32" / "model.safetensors"
    with file.open("r+b") as weights:  # written over in place, as cp or rsync --inplace would
        weights.write(bytes(file.stat().st_size))
    assert all(torch.equal(float32.state_dict()[k], v) for k, v in loaded.state_dict().items())


def released_showo_checkpoint(layers: int, hidden: int, heads: int, vocab_size: int) -> dict[str, torch.Tensor]:
    """Random tensors under exactly the keys and shapes a released Show-o checkpoint holds.

    A fact from the authors' code, not from ours: Show-o wraps its own Phi
    (models/phi.py) as `self.showo`; `PhiForCausalLM` sets `qk_layernorm = True`
    unconditionally, so each attention block has per-head LayerNorms on queries
    and keys besides q/k/v/dense; rotary tables are non-persistent buffers.
    """
    head_dim, inner = hidden // heads, 4 * hidden
    shapes = {"showo.model.embed_tokens.weight": (vocab_size, hidden), "showo.model.final_layernorm.weight": (hidden,),
              "showo.model.final_layernorm.bias": (hidden,), "showo.lm_head.weight": (vocab_size, hidden),
              "showo.lm_head.bias": (vocab_size,)}
    for n in range(layers):
        layer = f"showo.model.layers.{n}"
        for name in ("q_proj", "k_proj", "v_proj", "dense"):
            shapes |= {f"{layer}.self_attn.{name}.weight": (hidden, hidden),
                       f"{layer}.self_attn.{name}.bias": (hidden,)}
        for name in ("q_layernorm", "k_layernorm"):
            shapes |= {f"{layer}.self_attn.{name}.weight": (head_dim,), f"{layer}.self_attn.{name}.bias": (head_dim,)}
        shapes |= {f"{layer}.mlp.fc1.weight": (inner, hidden), f"{layer}.mlp.fc1.bias": (inner,),
                   f"{layer}.mlp.fc2.weight": (hidden, inner), f"{layer}.mlp.fc2.bias": (hidden,),
                   f"{layer}.input_layernorm.weight": (hidden,), f"{layer}.input_layernorm.bias": (hidden,)}
    generator = torch.Generator().manual_seed(3)
    return {key: 0.3 * torch.randn(shape, generator=generator) for key, shape in shapes.items()}


def test_a_checkpoint_in_the_released_key_set_loads_strictly_with_qk_layernorm(tmp_path: Path) -> None:
    vocab = Vocab.from_tokenizer(build_tiny_tokenizer(), CODEBOOK)
    state = released_showo_checkpoint(layers=2, hidden=64, heads=4, vocab_size=vocab.size)
    assert len(state) == 5 + 2 * 18
    released = tmp_path / "show-o"
    released.mkdir()
    torch.save(state, released / "pytorch_model.bin")
    config = {"_class_name": "Showo", "w_clip_vit": False, "vocab_size": vocab.size,
              "llm_vocab_size": vocab.text_size - 10, "codebook_size": CODEBOOK, "num_vq_tokens": 16,
              "llm_config": {k: v for k, v in tiny_llm_config().items() if k != "qk_layernorm"}}
    (released / "config.json").write_text(json.dumps(config))
    model = Showo.from_pretrained(released)  # strict: raises on any missing or unexpected key
    assert set(model.state_dict()) == set(state)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    ids = torch.randint(0, vocab.size, (1, 12), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        before = model(ids).logits
        model.phi.model.layers[0].self_attn.k_layernorm.weight.mul_(2)
        assert not torch.allclose(model(ids).logits, before, atol=1e-3)  # the norms are in the forward pass


def test_omni_attention_masks() -> None:
    is_pad = torch.tensor([[True, False, False]])
    text = causal_text_mask(is_pad)[0, 0]
    assert text.tolist() == [[True, False, False], [False, True, False], [False, True, True]]
    block = image_block_mask(is_pad, 4)[0, 0]
    assert block.shape == (4, 7) and not block[:, 0].any() and block[:, 1:].all()  # later image keys visible
    mmu = understanding_mask(torch.tensor([[False] * 6]), torch.tensor([3]))[0, 0]
    assert mmu[0, 3] and mmu[1, 2] and not mmu[4, 5] and mmu[5, 4]  # image block full, text causal


def test_prefix_hidden_states_do_not_depend_on_image_tokens() -> None:
    model, vocab, tokenizer = tiny()
    prefix = encode_prompts(tokenizer, vocab, ["a photo of the cat"], max_text_len=12)
    sampler = MaskGitSampler(model, vocab)
    with torch.inference_mode():
        cache, is_pad = sampler.prefix_cache(prefix)
        keys = cache.layers[1].keys.clone()
        first = sampler.code_logits(cache, is_pad, torch.full((1, 16), CODEBOOK))
        sampler.code_logits(cache, is_pad, torch.randint(0, CODEBOOK, (1, 16)))
        assert torch.equal(cache.layers[1].keys, keys)  # the block's keys were dropped again
        assert torch.allclose(sampler.code_logits(cache, is_pad, torch.full((1, 16), CODEBOOK)), first, atol=1e-5)


@pytest.mark.parametrize("steps", [6, 7, 18])
def test_sampler_matches_the_official_loop_token_for_token(steps: int) -> None:
    """6 and 18 steps pass ratio 2/3, where Show-o's float32 schedule re-masks one token fewer than float64."""
    model, vocab, tokenizer = tiny(init_std=0.02)
    prompts = encode_prompts(tokenizer, vocab, ["a photo of the cat", "a red hat on a dog"], max_text_len=16)
    uncond = encode_prompts(tokenizer, vocab, ["", ""], max_text_len=16)
    sampler = MaskGitSampler(model, vocab)
    for guidance in (0.0, 3.0):
        config = SamplerConfig(steps=steps, guidance_scale=guidance, temperature=1.5)
        ours, _ = sampler.generate(prompts, 64, config, uncond, torch.Generator().manual_seed(11))
        theirs = official_generate(model, vocab, prompts, uncond, 64, steps, guidance, 1.5,
                                   torch.Generator().manual_seed(11))
        assert torch.equal(ours, theirs), guidance


def test_mask_lengths_follow_show_o_float32_schedule() -> None:
    """At ratio 2/3 the exact count is N/2; Show-o's float32 cosine is just below 0.5, so N/2 - 1 stay masked."""

    def float32_schedule(ratio: float, n: int) -> int:  # Show-o's arithmetic written out in numpy float32
        angle = np.float32(ratio) * np.float32(np.pi) * np.float32(0.5)
        return int(np.floor(np.float32(n) * np.cos(angle, dtype=np.float32)))

    for n in (64, 256, 1024):
        assert float32_schedule(2 / 3, n) == n // 2 - 1
        assert mask_length(3, 6, n) == mask_length(11, 18, n) == n // 2 - 1
        assert [mask_length(k, 18, n) for k in range(18)] == [float32_schedule((k + 1) / 18, n) for k in range(18)]


def test_a_paused_run_continues_its_kept_rows_exactly() -> None:
    model, vocab, tokenizer = tiny(init_std=0.02)
    sampler = MaskGitSampler(model, vocab)
    prompts = encode_prompts(tokenizer, vocab, ["a photo of the cat", "a red hat", "a dog", "coins"], max_text_len=16)
    uncond = encode_prompts(tokenizer, vocab, [""] * 4, max_text_len=16)
    config = SamplerConfig(steps=6, guidance_scale=2.0, temperature=1.5)
    generators = lambda: [torch.Generator().manual_seed(100 + k) for k in range(4)]  # noqa: E731
    whole, whole_trajectory = sampler.generate(prompts, 16, config, uncond, generators(), True)
    run = sampler.advance(sampler.start(prompts, 16, uncond, generators(), config.temperature, True), config, until=2)
    assert run.step == 2 and int((run.best_guess == CODEBOOK).sum()) == 0
    assert torch.equal(run.best_guess[run.state != CODEBOOK], run.state[run.state != CODEBOOK])
    kept = sampler.advance(run.select([3, 1]), config)
    assert torch.equal(kept.sampled, whole[[3, 1]])
    assert all(torch.equal(a, b[[3, 1]]) for a, b in zip(kept.trajectory.predictions, whole_trajectory.predictions))
    with pytest.raises(ValueError, match="cannot advance"):
        sampler.advance(kept, config, until=3)


def test_schedule_seed_cfg_and_logprobs() -> None:
    model, vocab, tokenizer = tiny(init_std=0.02)
    sampler = MaskGitSampler(model, vocab)
    prompts = encode_prompts(tokenizer, vocab, ["a photo of the cat", "a red hat"], max_text_len=16)
    uncond = encode_prompts(tokenizer, vocab, ["", ""], max_text_len=16)
    config = SamplerConfig(steps=6, guidance_scale=2.0)
    codes, trajectory = sampler.generate(prompts, 16, config, uncond, torch.Generator().manual_seed(0), True)
    masked = [(s == CODEBOOK).sum(1).tolist() for s in trajectory.states]
    assert masked == [[m, m] for m in (16, 15, 13, 11, 7, 4)]  # floor(16 cos(pi k / 12)), float32: 7 at k = 4
    assert codes.shape == (2, 16) and int(codes.max()) < CODEBOOK
    assert all(torch.equal(p[s != CODEBOOK], s[s != CODEBOOK]) for s, p in zip(trajectory.states,
                                                                               trajectory.predictions))
    again, _ = sampler.generate(prompts, 16, config, uncond, torch.Generator().manual_seed(0))
    assert torch.equal(codes, again)
    recomputed = sampler.position_logprobs(prompts, trajectory, config, uncond)
    assert recomputed.requires_grad and recomputed.shape == (2, 6, 16)
    assert torch.allclose(recomputed, torch.stack(trajectory.logprobs, 1), atol=1e-4)
    no_cfg = SamplerConfig(steps=6, guidance_scale=0.0)
    with_uncond, _ = sampler.generate(prompts, 16, no_cfg, uncond, torch.Generator().manual_seed(5))
    cond_only, _ = sampler.generate(prompts, 16, no_cfg, None, torch.Generator().manual_seed(5))
    assert torch.equal(with_uncond, cond_only)
    with pytest.raises(ValueError, match="unconditional"):
        sampler.generate(prompts, 16, config, None)


@pytest.mark.parametrize("mmu_vocab", ["full", "text"])
def test_understanding_batched_and_cached_match_one_by_one_recomputation(mmu_vocab: str) -> None:
    """"full" (Show-o's mmu_generate) greedily picks from every id, so image code 7 (favoured here) enters answers
    and is fed back; "text" never leaves the text ids."""
    model, vocab, tokenizer = tiny()
    code = vocab.image_offset + 7
    with torch.no_grad():
        model.phi.lm_head.bias[code] += 1.0
    understander = Understander(model, vocab, tokenizer, mmu_vocab=mmu_vocab)
    codes = torch.randint(0, CODEBOOK, (3, 16), generator=torch.Generator().manual_seed(1))
    questions = ["what colour is the cat?", "is it red?", "hat"]
    batched = understander.generate_ids(*encode_questions(tokenizer, vocab, codes, questions), max_new_tokens=8)
    assert len({tuple(r) for r in batched}) == 3
    span = vocab.size if mmu_vocab == "full" else vocab.text_size
    for k, question in enumerate(questions):
        ids, end = encode_questions(tokenizer, vocab, codes[k : k + 1], [question])
        tokens = []
        with torch.inference_mode():  # no cache: the whole sequence again for every token
            for _ in range(8):
                mask = understanding_mask(ids == vocab.pad, end)
                token = int(model(ids, attention_mask=mask).logits[0, -1, :span].argmax())
                if token == vocab.eos:
                    break
                tokens.append(token)
                ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        assert batched[k] == tokens
    picked_codes = sum(t == code for row in batched for t in row)
    assert picked_codes >= 2 if mmu_vocab == "full" else max(t for row in batched for t in row) < vocab.text_size
    words = [[t for t in row if t < vocab.text_size] for row in batched]
    assert [understander.text(row) for row in batched] == [understander.text(row) for row in words]
    assert all(isinstance(a, str) for a in understander.answer(codes, questions, max_new_tokens=4))


def test_answer_logprobs_are_over_the_ids_answers_are_drawn_from() -> None:
    model, vocab, tokenizer = tiny()
    codes = torch.randint(0, CODEBOOK, (1, 16), generator=torch.Generator().manual_seed(1))
    ids, end = encode_questions(tokenizer, vocab, codes, ["is it red?"])
    answer = [5, vocab.image_offset + 7, 9]
    with torch.inference_mode():
        full, _ = Understander(model, vocab, tokenizer, mmu_vocab="full").answer_logprobs(ids, end, [answer])
        text, _ = Understander(model, vocab, tokenizer, mmu_vocab="text").answer_logprobs(ids, end, [[5]])
        sequence = torch.cat([ids, torch.tensor([answer])], dim=1)
        logits = model(sequence, attention_mask=understanding_mask(sequence == vocab.pad, end)).logits[0]
    rows = logits[ids.shape[1] - 1 : -1]
    assert torch.allclose(full[0], rows.log_softmax(-1)[torch.arange(3), answer], atol=1e-5)
    assert torch.allclose(text[0, 0], rows[0, : vocab.text_size].log_softmax(-1)[5], atol=1e-5)
    assert float(text[0, 0]) > float(full[0, 0])  # the same token, renormalised over fewer ids


def test_concept_tokens_shift_image_ids_and_round_trip(tmp_path: Path) -> None:
    model, vocab, tokenizer = tiny()
    image_row = model.phi.get_input_embeddings().weight[vocab.image_offset + 7].clone()
    head_row = model.phi.lm_head.weight[vocab.mask].clone()
    bo, shifted = add_concept(model, tokenizer, CODEBOOK, "bo")
    assert shifted.image_offset - vocab.image_offset == 17 and len(bo.tokens) == 17
    assert torch.equal(model.phi.get_input_embeddings().weight[shifted.image_offset + 7], image_row)
    assert torch.equal(model.phi.lm_head.weight[shifted.mask], head_row)
    assert tokenizer("<bo> is here",
                     add_special_tokens=False)["input_ids"][0] == tokenizer.convert_tokens_to_ids("<bo>")
    with torch.no_grad():
        rows = {k: torch.randn_like(v) for k, v in concept_rows(model, tokenizer, bo).items()}
        ids = tokenizer.convert_tokens_to_ids(bo.tokens)
        model.phi.get_input_embeddings().weight[ids] = rows["embed"]
        model.phi.lm_head.weight[ids] = rows["lm_head_weight"]
        model.phi.lm_head.bias[ids] = rows["lm_head_bias"]
    save_concept(model, tokenizer, bo, tmp_path / "bo.safetensors")

    fresh, _, fresh_tokenizer = tiny()
    tokens, _ = load_concept(fresh, fresh_tokenizer, CODEBOOK, tmp_path / "bo.safetensors")
    assert tokens == bo
    for key, value in concept_rows(fresh, fresh_tokenizer, tokens).items():
        assert torch.equal(value, rows[key]), key

    released = tmp_path / "saves" / "mam"
    released.mkdir(parents=True)
    for key, value in {"embed": torch.randn(17, 64), "lm_head_weight": torch.randn(17, 64),
                       "lm_head_bias": torch.randn(17)}.items():
        torch.save(value, released / f"epoch_15_{key}.pt")
    mam, both = load_released_concept(fresh, fresh_tokenizer, CODEBOOK, "mam", released, 15)
    assert both.image_offset == vocab.image_offset + 34  # two concepts in one model
    assert torch.equal(concept_rows(fresh, fresh_tokenizer, mam)["embed"],
                       torch.load(released / "epoch_15_embed.pt", weights_only=True))
    with pytest.raises(ValueError, match="already"):
        add_concept(fresh, fresh_tokenizer, CODEBOOK, "mam")
    with pytest.raises(FileNotFoundError, match="epoch_3_embed.pt"):
        load_released_concept(fresh, fresh_tokenizer, CODEBOOK, "x", released, 3)


def test_generate_then_decode_with_a_tiny_tokenizer() -> None:
    model, vocab, tokenizer = tiny(init_std=0.02)
    magvit = Magvit2Tokenizer(Magvit2Config(channels=32, encoder_multipliers=[1, 2], encoder_blocks=[1, 1],
                                            decoder_multipliers=[1, 2], decoder_blocks=[1, 1], z_channels=6)).eval()
    assert magvit.codebook_size == CODEBOOK
    prompts = encode_prompts(tokenizer, vocab, ["a photo of the cat"], max_text_len=16)
    codes, _ = MaskGitSampler(model, vocab).generate(prompts, 16, SamplerConfig(steps=4, guidance_scale=0.0),
                                                     generator=torch.Generator().manual_seed(0))
    images = magvit.decode(codes)
    assert images.shape == (1, 3, 8, 8)
    assert magvit.encode(images).shape == (1, 16)


def test_pipeline_on_the_tiny_checkpoint(tmp_path: Path) -> None:
    from PIL import Image

    from baselines.showo.pipeline import ShowoPipeline, build_tiny_checkpoint
    from unifybench_pp import MINI_SOURCE

    showo, magvit = build_tiny_checkpoint(tmp_path / "tiny")
    pipe = ShowoPipeline.from_pretrained(showo, magvit)
    assert pipe.image_size == 32 and pipe.vocab.codebook_size == 256
    bo = pipe.add_concept("bo")
    config = SamplerConfig(steps=3, guidance_scale=2.0)
    images = pipe.generate(["A photo of <bo>.", "a red hat"], seed=4, config=config)
    assert [i.size for i in images] == [(32, 32), (32, 32)]
    again = pipe.generate(["A photo of <bo>.", "a red hat"], seed=4, config=config)
    assert [i.tobytes() for i in images] == [i.tobytes() for i in again]
    _, codes, trajectory, *_ = pipe.generate(["a red hat"], seed=4, config=config, return_trajectory=True)
    assert len(trajectory.states) == 3 and codes.shape == (1, 64)
    photo = Image.open(MINI_SOURCE / "concept/test/ast/0.jpg")
    answers = pipe.understand([photo, photo], ["Is <bo> in this photo?", "hat"], [bo.system_prompt() + "\n"] * 2,
                              max_new_tokens=4)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    pipe.save_concept("bo", tmp_path / "bo.safetensors")
    other = ShowoPipeline.from_pretrained(showo, magvit)
    assert other.load_concept(tmp_path / "bo.safetensors") == bo and other.vocab == pipe.vocab


def test_pixels_truncate_as_show_o_or_round() -> None:
    from baselines.showo.pipeline import to_pixels

    decoded = torch.empty(2, 3, 16, 16).uniform_(-1.2, 1.2, generator=torch.Generator().manual_seed(0))
    x = decoded.permute(0, 2, 3, 1).numpy()
    # Show-o's scripts: clamp((x + 1) / 2, 0, 1) * 255 in float32, then numpy's astype(uint8), which truncates
    show_o = (np.clip((x + np.float32(1)) / np.float32(2), 0, 1) * np.float32(255)).astype(np.uint8)
    truncated, rounded = np.stack(to_pixels(decoded, "truncate")), np.stack(to_pixels(decoded, "round"))
    assert np.array_equal(truncated, show_o)
    step = rounded.astype(int) - truncated.astype(int)
    assert set(np.unique(step)) == {0, 1} and 0.3 < step.mean() < 0.7
    assert np.array_equal(rounded, np.clip(np.round((x + 1) * 127.5), 0, 255).astype(np.uint8))


def test_pipeline_and_adapter_options_default_to_show_o(tmp_path: Path) -> None:
    from baselines.base import ModelError
    from baselines.showo.adapter import syncr1
    from baselines.showo.pipeline import ShowoPipeline, build_tiny_checkpoint

    build_tiny_checkpoint(tmp_path / "bundle")
    default = syncr1(str(tmp_path / "bundle")).pipe
    assert (default.mmu_vocab, default.pixels) == ("full", "truncate")
    assert default.understander().mmu_vocab == "full" and default.understander("text").mmu_vocab == "text"
    strict = syncr1(str(tmp_path / "bundle"), mmu_vocab="text", pixels="round").pipe
    assert (strict.mmu_vocab, strict.pixels) == ("text", "round")
    codes = torch.randint(0, 256, (1, 64), generator=torch.Generator().manual_seed(0))
    truncated, rounded = (np.asarray(p.decode_images(codes)[0], dtype=int) for p in (default, strict))
    assert set(np.unique(rounded - truncated)) == {0, 1}
    with pytest.raises(ModelError, match="pixels"):
        syncr1(str(tmp_path / "bundle"), pixels="nearest")
    with pytest.raises(ValueError, match="mmu_vocab"):
        ShowoPipeline(default.model, default.tokenizer, default.magvit, mmu_vocab="words")


def _grpo_saved_state(base: dict[str, torch.Tensor], text_size: int, seed: int, rows: int = 25
                      ) -> dict[str, torch.Tensor]:
    """What the authors' grpo.py saves: the base with the concept's rows inserted after the text ids (their
    `_inject_personalized_weights`: the identifier, 16 stage-1 and 8 stage-2 tokens by default), every weight then
    moved by training."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in base.items():
        if key in ("showo.model.embed_tokens.weight", "showo.lm_head.weight", "showo.lm_head.bias"):
            value = torch.cat([value[:text_size], torch.zeros((rows, *value.shape[1:])), value[text_size:]])
        state[key] = value + 0.05 * torch.randn(value.shape, generator=generator)
    return state


def test_the_authors_sync_r1_weights_load_one_concept_at_a_time(tmp_path: Path) -> None:
    from baselines.base import GenerateRequest, ModelError
    from baselines.showo.adapter import showo_tp, syncr1, unictokens
    from baselines.showo.pipeline import ShowoPipeline, build_tiny_checkpoint
    from unifybench_pp.schema import Concept

    showo, magvit = build_tiny_checkpoint(tmp_path / "base")
    fresh = ShowoPipeline.from_pretrained(showo, magvit)
    base, text_size = fresh.model.state_dict(), len(fresh.tokenizer)
    root = tmp_path / "model_weights"
    saved = {}
    for concept, epochs in (("bo", (1, 9, 10)), ("mam", (10,))):
        (root / concept).mkdir(parents=True)
        for epoch in epochs:
            saved[concept, epoch] = _grpo_saved_state(base, text_size, seed=10 * epoch + len(concept))
            torch.save({"epoch": epoch, "model_state_dict": saved[concept, epoch], "optimizer_state_dict": None},
                       root / concept / f"model_epoch{epoch}.pt")

    def concept(cid: str) -> Concept:
        return Concept(cid, f"<{cid}>", "dog", "pet", "live_subject", "a dog", [], [], [])

    def drawn(model: object, cid: str) -> bytes:
        model.personalize(concept(cid), [])
        request = GenerateRequest(f"pure_gen/{cid}/0", "pure_gen", concept(cid), f"A photo of <{cid}>.", seed=3)
        return model.generate([request])[0].tobytes()

    def weights_are(model: object, cid: str, epoch: int) -> bool:
        state = model.pipe.model.state_dict()
        return all(torch.equal(state[k], v) for k, v in saved[cid, epoch].items())

    model = syncr1(showo, magvit=magvit, rl_weights=str(root), steps=3)
    first = drawn(model, "bo")  # every concept's latest is epoch 10: the default
    assert weights_are(model, "bo", 10) and not weights_are(model, "bo", 9) and list(model.pipe.concepts) == ["bo"]
    assert model.pipe.vocab.image_offset == fresh.vocab.image_offset + 25  # image ids after the concept rows
    tokens = model.pipe.concepts["bo"]
    # the harness's prompts: the system prompt lists the 16 stage-1 tokens, generation prompts all 24
    assert tokens.system_prompt() == "<bo> is " + "".join(f"<bo:token_{i}>" for i in range(16)) + "."
    assert tokens.in_prompt("A <bo>.", "<bo>") == "A " + "".join(f"<bo:token_{i}>" for i in range(24)) + " <bo>."
    drawn(model, "mam")  # a fresh base for the next concept: its file's rows, not bo's beside them
    assert weights_are(model, "mam", 10) and list(model.pipe.concepts) == ["mam"]
    assert drawn(model, "bo") == first and weights_are(model, "bo", 10)
    earlier = syncr1(showo, magvit=magvit, rl_weights=str(root), model_epoch=9, steps=3)
    assert drawn(earlier, "bo") != first and weights_are(earlier, "bo", 9)
    with pytest.raises(ModelError, match=r"model_epoch9\.pt \(epochs there: 10\)"):
        earlier.personalize(concept("mam"), [])
    with pytest.raises(ValueError, match="already holds bo"):
        earlier.pipe.add_trained_concept("mam", root / "mam" / "model_epoch10.pt")

    with pytest.raises(ModelError, match="Sync-R1 weights for cat not found"):
        syncr1(showo, magvit=magvit, rl_weights=str(root)).personalize(concept("cat"), [])
    (root / "odd").mkdir()
    torch.save({"epoch": 1, "state_dict": base}, root / "odd" / "model_epoch1.pt")
    with pytest.raises(ModelError, match=r"latest epochs differ .*\(bo 10, mam 10, odd 1\): pass model_epoch=N"):
        syncr1(showo, magvit=magvit, rl_weights=str(root))
    with pytest.raises(ModelError, match="no 'model_state_dict'"):
        syncr1(showo, magvit=magvit, rl_weights=str(root), model_epoch=1).personalize(concept("odd"), [])
    for epoch, state, error in ((2, base, "does not extend"),
                                (3, {k: v[..., :-1] if k.endswith("fc1.weight") else v
                                     for k, v in _grpo_saved_state(base, text_size, 0).items()}, "fc1.weight"),
                                (4, {"module." + k: v for k, v in base.items()}, "has no showo.model.embed_tokens")):
        torch.save({"epoch": epoch, "model_state_dict": state}, root / "odd" / f"model_epoch{epoch}.pt")
        refused = syncr1(showo, magvit=magvit, rl_weights=str(root), model_epoch=epoch)
        with pytest.raises(ModelError, match=error):
            refused.personalize(concept("odd"), [])
        assert not refused.pipe.concepts and refused.pipe.vocab == fresh.vocab  # a refused file changes nothing

    for factory, options, error in ((showo_tp, {"rl_weights": str(root)}, "takes no Sync-R1 weights"),
                                    (unictokens, {"rl_weights": str(root), "concepts": str(tmp_path), "epoch": 3},
                                     "drop concepts=, epoch="),
                                    (syncr1, {"rl_weights": str(root), "model_epoch": 0}, "--model unictokens"),
                                    (syncr1, {"rl_weights": str(tmp_path / "nowhere")}, "not found")):
        with pytest.raises(ModelError, match=error):
            factory(showo, magvit=magvit, **options)
    # Without rl_weights, model_epoch is only the epoch the harness's seeds name (0 unless given).
    assert syncr1(showo, magvit=magvit, model_epoch=3).model_epoch_of("bo") == 3
    assert (model.model_epoch_of("bo"), syncr1(showo, magvit=magvit).model_epoch_of("bo")) == (10, 0)
    (tmp_path / "per_concept" / "bo").mkdir(parents=True)
    shutil.copytree(tmp_path / "base", tmp_path / "per_concept" / "bo", dirs_exist_ok=True)
    with pytest.raises(ModelError, match="needs the base they were trained from"):
        syncr1(str(tmp_path / "per_concept"), rl_weights=str(root), model_epoch=10)


def test_an_image_is_the_same_pixels_whatever_its_batch() -> None:
    """Per-prompt seeds make the codes batch-independent; the decoder's rounding differs with the batch (~1e-6),
    which once flipped one 8-bit level of one pixel of the tiny base's first image: images are decoded one by one."""
    from baselines.showo.pipeline import ShowoPipeline
    from training.pretrain_tiny import ASSET

    pipe = ShowoPipeline.from_pretrained(ASSET / "showo", ASSET / "magvit")
    prompts, seeds, config = [f"A photo of a dog number {k}." for k in range(8)], list(range(100, 108)), \
        SamplerConfig(steps=8)
    with torch.inference_mode():
        together = pipe.generate(prompts, seed=seeds, config=config)
        alone = [pipe.generate([p], seed=[s], config=config)[0] for p, s in zip(prompts, seeds)]
    for a, b in zip(alone, together):
        assert np.array_equal(np.asarray(a), np.asarray(b))
