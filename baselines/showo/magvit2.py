"""MAGVIT-v2 image tokenizer as Show-o uses it: a VQGAN-style encoder/decoder with a lookup-free quantizer.

The module tree (and so every state-dict key) follows Show-o's released
tokenizer (`showlab/magvitv2`): `encoder.{conv_in, down.L.block.B.*,
down.L.downsample.conv, mid.{block_1, attn_1, block_2}, norm_out, conv_out,
quant_conv}`, `decoder.{post_quant_conv, conv_in, mid.*, up.L.block.B.*,
up.L.upsample.conv, norm_out, conv_out}` and the buffers
`quantize.{embedding, power_vals}`. Images go in as [-1, 1] tensors; each
code is the integer whose bits are the signs of the 13 latent channels, so the
codebook has 2**13 = 8192 entries. The code is ours; only the layout and the
arithmetic match.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import read_state_dict, resolve


@dataclass
class Magvit2Config:
    channels: int = 128
    encoder_multipliers: list[int] = field(default_factory=lambda: [1, 2, 2, 4, 4])
    encoder_blocks: list[int] = field(default_factory=lambda: [4, 3, 4, 3, 4])
    decoder_multipliers: list[int] = field(default_factory=lambda: [1, 1, 2, 2, 4])
    decoder_blocks: list[int] = field(default_factory=lambda: [4, 4, 3, 4, 3])
    z_channels: int = 13
    """Latent channels = bits per code: the codebook has 2**z_channels entries."""

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.encoder_multipliers) - 1)

    @classmethod
    def of_folder(cls, folder: Path) -> Magvit2Config:
        """Our folders record their config; Show-o's released one (`showlab/magvitv2`) is the default."""
        config_file = folder / "ubpp_magvit2.json"
        return cls(**json.loads(config_file.read_text())) if config_file.exists() else cls()


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm1 = _norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        shortcut = self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x
        return shortcut + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all spatial positions (1x1 convolutions for q, k, v, out)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = _norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        normed = self.norm(x)
        q, k, v = (conv(normed).reshape(b, 1, c, h * w).transpose(2, 3) for conv in (self.q, self.k, self.v))
        attended = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(c)) v
        return x + self.proj_out(attended.transpose(2, 3).reshape(b, c, h, w))


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # asymmetric padding, as the released weights expect


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Middle(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels)
        self.attn_1 = AttnBlock(channels)
        self.block_2 = ResnetBlock(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class _Level(nn.Module):
    """One resolution level: residual blocks, then a resampler (absent at the last level)."""

    def __init__(self, in_channels: int, out_channels: int, blocks: int, resample: str | None) -> None:
        super().__init__()
        self.block = nn.ModuleList(ResnetBlock(in_channels if i == 0 else out_channels, out_channels)
                                   for i in range(blocks))
        self.attn = nn.ModuleList()  # the released configs attend only in the middle block
        if resample == "down":
            self.downsample = Downsample(out_channels)
        elif resample == "up":
            self.upsample = Upsample(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.block:
            x = block(x)
        if hasattr(self, "downsample"):
            x = self.downsample(x)
        if hasattr(self, "upsample"):
            x = self.upsample(x)
        return x


class Encoder(nn.Module):
    def __init__(self, config: Magvit2Config) -> None:
        super().__init__()
        ch, mults = config.channels, config.encoder_multipliers
        self.conv_in = nn.Conv2d(3, ch, 3, padding=1)
        widths = [ch] + [ch * m for m in mults]
        last = len(mults) - 1
        self.down = nn.ModuleList(
            _Level(widths[i], widths[i + 1], config.encoder_blocks[i], "down" if i != last else None)
            for i in range(len(mults))
        )
        self.mid = _Middle(widths[-1])
        self.norm_out = _norm(widths[-1])
        self.conv_out = nn.Conv2d(widths[-1], config.z_channels, 3, padding=1)
        self.quant_conv = nn.Conv2d(config.z_channels, config.z_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        h = self.conv_out(F.silu(self.norm_out(self.mid(h))))
        return self.quant_conv(h)


class Decoder(nn.Module):
    def __init__(self, config: Magvit2Config) -> None:
        super().__init__()
        ch, mults = config.channels, config.decoder_multipliers
        top = ch * mults[-1]
        self.post_quant_conv = nn.Conv2d(config.z_channels, config.z_channels, 1)
        self.conv_in = nn.Conv2d(config.z_channels, top, 3, padding=1)
        self.mid = _Middle(top)
        # Levels are stored low-to-high resolution index (up.0 is the finest) but run from the coarsest.
        levels: list[_Level] = []
        width = top
        for i in reversed(range(len(mults))):
            levels.insert(0, _Level(width, ch * mults[i], config.decoder_blocks[i], "up" if i != 0 else None))
            width = ch * mults[i]
        self.up = nn.ModuleList(levels)
        self.norm_out = _norm(width)
        self.conv_out = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(self.post_quant_conv(z)))
        for level in reversed(self.up):
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class LookupFreeQuantizer(nn.Module):
    def __init__(self, bits: int) -> None:
        super().__init__()
        codes = torch.arange(2**bits)
        bit_values = (codes.unsqueeze(1) >> torch.arange(bits - 1, -1, -1)) & 1
        self.register_buffer("embedding", bit_values.float() * 2 - 1)  # code -> its ±1 latent
        self.register_buffer("power_vals", 2 ** torch.arange(bits - 1, -1, -1))

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """(B, bits, H, W) latents -> (B, H*W) codes: the bits are the signs (> 0 is 1), MSB first."""
        bits = (z > 0).long()
        return (bits * self.power_vals.view(1, -1, 1, 1)).sum(1).flatten(1)

    def latents(self, codes: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """(B, H*W) codes -> (B, bits, H, W) ±1 latents."""
        return self.embedding[codes].view(codes.shape[0], height, width, -1).permute(0, 3, 1, 2).contiguous()


class Magvit2Tokenizer(nn.Module):
    """`encode(images) -> codes` and `decode(codes) -> images`, images in [-1, 1], codes in [0, 8192)."""

    def __init__(self, config: Magvit2Config | None = None) -> None:
        super().__init__()
        self.config = config or Magvit2Config()
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)
        self.quantize = LookupFreeQuantizer(self.config.z_channels)

    @property
    def codebook_size(self) -> int:
        return 2**self.config.z_channels

    @torch.inference_mode()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.quantize.codes(self.encoder(images))

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        side = int(round(codes.shape[1] ** 0.5))
        if side * side != codes.shape[1]:
            raise ValueError(f"{codes.shape[1]} codes do not form a square grid")
        return self.decoder(self.quantize.latents(codes, side, side)).clamp(-1.0, 1.0)

    def save_pretrained(self, path: Path) -> None:
        from safetensors.torch import save_file

        path.mkdir(parents=True, exist_ok=True)
        (path / "ubpp_magvit2.json").write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(path / "model.safetensors"))

    @classmethod
    def from_pretrained(cls, path_or_hub_id: str | Path) -> Magvit2Tokenizer:
        """Load our folders or Show-o's released one (`showlab/magvitv2`): same keys, strict load."""
        folder = resolve(path_or_hub_id)
        model = cls(Magvit2Config.of_folder(folder))
        model.load_state_dict(read_state_dict(folder), strict=True)
        return model.eval()

