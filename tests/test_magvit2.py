"""MAGVIT-v2 tokenizer: the released key layout, the quantizer's arithmetic, encode/decode, loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from baselines.showo.magvit2 import AttnBlock, Magvit2Config, Magvit2Tokenizer

TINY = Magvit2Config(channels=32, encoder_multipliers=[1, 2], encoder_blocks=[1, 1],
                     decoder_multipliers=[1, 2], decoder_blocks=[1, 2], z_channels=13)

# Keys and shapes of Show-o's released tokenizer, read off its module definitions
# (VQGANEncoder ch=128 ch_mult [1,2,2,4,4] blocks [4,3,4,3,4]; VQGANDecoder ch_mult [1,1,2,2,4] blocks [4,4,3,4,3]).
RELEASED = {
    "encoder.conv_in.weight": (128, 3, 3, 3),
    "encoder.down.0.block.3.conv2.weight": (128, 128, 3, 3),
    "encoder.down.1.block.0.nin_shortcut.weight": (256, 128, 1, 1),
    "encoder.down.1.block.2.norm2.bias": (256,),
    "encoder.down.3.block.0.nin_shortcut.weight": (512, 256, 1, 1),
    "encoder.down.3.downsample.conv.weight": (512, 512, 3, 3),
    "encoder.down.4.block.3.conv1.weight": (512, 512, 3, 3),
    "encoder.mid.attn_1.q.weight": (512, 512, 1, 1),
    "encoder.mid.block_2.norm1.weight": (512,),
    "encoder.conv_out.weight": (13, 512, 3, 3),
    "encoder.quant_conv.weight": (13, 13, 1, 1),
    "decoder.post_quant_conv.weight": (13, 13, 1, 1),
    "decoder.conv_in.weight": (512, 13, 3, 3),
    "decoder.mid.attn_1.proj_out.weight": (512, 512, 1, 1),
    "decoder.up.4.block.2.conv2.weight": (512, 512, 3, 3),
    "decoder.up.4.upsample.conv.weight": (512, 512, 3, 3),
    "decoder.up.3.block.0.nin_shortcut.weight": (256, 512, 1, 1),
    "decoder.up.1.block.0.nin_shortcut.weight": (128, 256, 1, 1),
    "decoder.up.1.upsample.conv.weight": (128, 128, 3, 3),
    "decoder.up.0.block.3.conv1.weight": (128, 128, 3, 3),
    "decoder.conv_out.weight": (3, 128, 3, 3),
    "quantize.embedding": (8192, 13),
    "quantize.power_vals": (13,),
}
ABSENT = ["encoder.down.4.downsample.conv.weight", "decoder.up.0.upsample.conv.weight",
          "decoder.up.0.block.0.nin_shortcut.weight", "encoder.down.0.block.0.nin_shortcut.weight"]


def test_full_size_model_has_the_released_keys() -> None:
    with torch.device("meta"):
        state = Magvit2Tokenizer().state_dict()
    for key, shape in RELEASED.items():
        assert tuple(state[key].shape) == shape, key
    for key in ABSENT:
        assert key not in state
    assert not any(".attn.0." in key for key in state)  # attention only in the middle blocks
    assert Magvit2Config().downsample_factor == 16  # 256 px -> 16x16 = 256 tokens, 512 px -> 1024


def test_attention_block_matches_the_bmm_formulation() -> None:
    torch.manual_seed(0)
    block = AttnBlock(32).eval()
    x = torch.randn(2, 32, 4, 5)
    with torch.no_grad():
        h = block.norm(x)
        q, k, v = block.q(h).reshape(2, 32, 20), block.k(h).reshape(2, 32, 20), block.v(h).reshape(2, 32, 20)
        weights = torch.softmax(torch.bmm(q.permute(0, 2, 1), k) * 32**-0.5, dim=2)
        expected = x + block.proj_out(torch.bmm(v, weights.permute(0, 2, 1)).reshape(2, 32, 4, 5))
        assert torch.allclose(block(x), expected, atol=1e-5)


def test_codes_are_the_sign_bits_of_the_latents() -> None:
    torch.manual_seed(1)
    model = Magvit2Tokenizer(TINY).eval()
    images = torch.rand(3, 3, 16, 16) * 2 - 1
    codes = model.encode(images)
    assert codes.shape == (3, 64) and codes.dtype == torch.long
    assert int(codes.min()) >= 0 and int(codes.max()) < 8192
    with torch.no_grad():
        latents = model.encoder(images)  # (3, 13, 8, 8)
    bits = (latents > 0).long().permute(0, 2, 3, 1).reshape(3, 64, 13)
    expected = sum(bits[..., i] << (12 - i) for i in range(13))
    assert torch.equal(codes, expected)
    signs = model.quantize.latents(codes, 8, 8)
    assert torch.equal(signs, torch.where(latents > 0, 1.0, -1.0))


def test_decode_shapes_and_range() -> None:
    torch.manual_seed(2)
    model = Magvit2Tokenizer(TINY).eval()
    codes = torch.randint(0, 8192, (2, 64))
    images = model.decode(codes)
    assert images.shape == (2, 3, 16, 16)
    assert float(images.min()) >= -1 and float(images.max()) <= 1
    assert torch.equal(images, model.decode(codes))
    with pytest.raises(ValueError, match="square grid"):
        model.decode(torch.zeros(1, 10, dtype=torch.long))


def test_loads_the_released_bin_layout_and_our_safetensors(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = Magvit2Tokenizer(TINY).eval()
    released = tmp_path / "released"
    released.mkdir()
    torch.save(model.state_dict(), released / "pytorch_model.bin")
    (released / "config.json").write_text(json.dumps({"_class_name": "MAGVITv2"}))
    (released / "ubpp_magvit2.json").write_text(json.dumps(TINY.__dict__))
    images = torch.rand(1, 3, 16, 16) * 2 - 1
    loaded = Magvit2Tokenizer.from_pretrained(released)
    assert torch.equal(loaded.encode(images), model.encode(images))
    model.save_pretrained(tmp_path / "ours")
    again = Magvit2Tokenizer.from_pretrained(tmp_path / "ours")
    for key, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key
    broken = model.state_dict()
    broken["encoder.extra.weight"] = torch.zeros(1)
    torch.save(broken, released / "pytorch_model.bin")
    with pytest.raises(RuntimeError, match="Unexpected key"):
        Magvit2Tokenizer.from_pretrained(released)
