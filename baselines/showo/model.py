"""The Show-o transformer: transformers' Phi with Show-o's extended vocabulary, loaded as released.

Show-o's checkpoints (`showlab/show-o`, `showlab/show-o-512x512`, and the
UniCTokens / Sync-R1 bases built on them) hold a diffusers-style `config.json`
(`vocab_size`, `llm_vocab_size`, `llm_model_path`, `codebook_size`,
`num_vq_tokens`, ...) and weights whose keys are the Phi model's keys under
`showo.` (`showo.model.layers.N.self_attn.q_proj.weight`, `showo.lm_head.bias`,
...). `Showo.from_pretrained` reads exactly that, strictly. The Phi
architecture comes from `llm_model_path` (Phi-1.5) or, for offline and tiny
models, from an inline `llm_config`.

Show-o's Phi always normalises queries and keys per head (QK-LayerNorm): its
`PhiForCausalLM` sets `qk_layernorm = True` whatever the config says, so every
released checkpoint holds `showo.model.layers.N.self_attn.{q,k}_layernorm.{weight,bias}`
although Phi-1.5's own config has it off. We force it the same way.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers.models.phi.modeling_phi import PhiModel

from baselines.base import cache_keyword

from .checkpoints import read_state_dict, resolve

CACHE_ARG = cache_keyword(PhiModel.forward)

EMBEDDINGS = "showo.model.embed_tokens.weight"
VOCAB_KEYS = (EMBEDDINGS, "showo.lm_head.weight", "showo.lm_head.bias")
"""The tensors with a row per id: concept tokens add rows to these, nothing else changes shape."""
ROTARY = "rotary_emb.inv_freq"
"""A buffer some versions save and others do not: never compared."""


@dataclass
class ShowoConfig:
    vocab_size: int = 58498
    """All ids: text (incl. specials) + codebook + mask."""
    llm_vocab_size: int = 50295
    codebook_size: int = 8192
    num_vq_tokens: int = 256
    """Image tokens per image: 256 at 256 px, 1024 at 512 px."""
    llm_model_path: str = "microsoft/phi-1_5"
    w_clip_vit: bool = False
    llm_config: dict[str, Any] | None = None
    """Inline Phi config (ours): used instead of fetching `llm_model_path`'s config."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Fields of the released config we carry but do not use (`_class_name`, ...)."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShowoConfig:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "extra" and v is not None}
        return {"_class_name": "Showo", **self.extra, **data}


class Showo(nn.Module):
    def __init__(self, config: ShowoConfig) -> None:
        from transformers import AutoConfig, PhiConfig, PhiForCausalLM

        super().__init__()
        if config.w_clip_vit:
            raise NotImplementedError("Show-o's CLIP-ViT understanding variant is not supported; use the VQ models")
        self.config = config
        if config.llm_config is not None:
            phi_config = PhiConfig(**config.llm_config)
        else:
            phi_config = AutoConfig.from_pretrained(config.llm_model_path)
        phi_config.vocab_size = config.vocab_size
        phi_config.qk_layernorm = True  # as Show-o's Phi does unconditionally (see the module docstring)
        self.showo = PhiForCausalLM(phi_config)

    @property
    def phi(self) -> Any:
        return self.showo

    @classmethod
    def from_pretrained(cls, path_or_hub_id: str | Path, dtype: torch.dtype | None = None) -> Showo:
        from accelerate import init_empty_weights

        folder = resolve(path_or_hub_id)
        config = ShowoConfig.from_json(json.loads((folder / "config.json").read_text()))
        # the weights on the meta device: no random initialisation (12 s at Show-o's size), since every weight is
        # read; buffers (the rotary tables, which no file holds) are built as usual
        with init_empty_weights(include_buffers=False):
            model = cls(config)
        model.load_weights(read_state_dict(folder), str(path_or_hub_id), assign=True)
        if dtype is not None:
            model = model.to(dtype)
        return model.eval()

    def check_weights(self, state: dict[str, torch.Tensor], source: str, vocab_size: int | None = None) -> None:
        """Refuse a state that has not exactly this Show-o's keys and shapes (with `vocab_size` ids instead of its
        own, for a file that adds concept rows), before anything is changed."""
        expected = {k: tuple(v.shape) for k, v in self.state_dict().items() if not k.endswith(ROTARY)}
        if vocab_size is not None:
            expected.update({k: (vocab_size, *expected[k][1:]) for k in VOCAB_KEYS})
        keys = {k for k in state if not k.endswith(ROTARY)}
        missing, unexpected = sorted(expected.keys() - keys), sorted(keys - expected.keys())
        if missing or unexpected:
            raise ValueError(f"checkpoint {source} does not match Show-o: missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}")
        mismatched = [f"{k} {tuple(state[k].shape)} vs {shape}" for k, shape in expected.items()
                      if tuple(state[k].shape) != shape]
        if mismatched:
            raise ValueError(f"checkpoint {source} does not match this Show-o's shapes: {', '.join(mismatched[:3])}")

    def load_weights(self, state: dict[str, torch.Tensor], source: str, assign: bool = False) -> None:
        """Every Show-o key, strictly and in shape. `assign` (a model built with its weights on the meta device):
        the weights become copies of the state's tensors in the model's dtypes; copies, since a file's tensors
        may be its memory-mapped pages, which a later write over the file would change under the model."""
        self.check_weights(state, source)
        if not assign:
            self.load_state_dict({k: v for k, v in state.items() if not k.endswith(ROTARY)}, strict=False)
            return
        dtypes = {k: v.dtype for k, v in self.state_dict().items()}
        self.load_state_dict({k: v.to(dtypes[k], copy=True) for k, v in state.items() if not k.endswith(ROTARY)},
                             strict=False, assign=True)
        self.showo.tie_weights()  # as building does: nothing unless the config ties the embeddings
        left = [name for name, t in [*self.named_parameters(), *self.named_buffers()] if t.is_meta]
        if left:
            raise ValueError(f"checkpoint {source} left {', '.join(left[:3])} unread")

    def save_pretrained(self, path: Path) -> None:
        """Save in the released layout (config.json + safetensors with `showo.` keys)."""
        from safetensors.torch import save_file

        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(json.dumps(self.config.to_json(), indent=2) + "\n")
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(path / "model.safetensors"))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any) -> Any:
        return self.showo(input_ids=input_ids, attention_mask=attention_mask, **kwargs)


def tiny_llm_config(hidden_size: int = 64, layers: int = 2, heads: int = 4, init_std: float = 0.02) -> dict[str, Any]:
    """Phi-1.5's shape as Show-o runs it (partial rotary 0.5, gelu_new, LayerNorm, QK-LayerNorm), scaled down.

    Tests raise `init_std` so that a random tiny model's outputs depend on its input.
    """
    return {"initializer_range": init_std, "hidden_size": hidden_size, "intermediate_size": 4 * hidden_size,
            "num_hidden_layers": layers,
            "num_attention_heads": heads, "partial_rotary_factor": 0.5, "max_position_embeddings": 2048,
            "hidden_act": "gelu_new", "layer_norm_eps": 1e-5, "resid_pdrop": 0.0, "embd_pdrop": 0.0,
            "attention_dropout": 0.0, "tie_word_embeddings": False, "qk_layernorm": True}
