"""Adapters by name: the built-in ones and any package's, through the `ubpp.models` entry-point group.

A third-party package registers `name = "pkg.module:factory"` under
`[project.entry-points."ubpp.models"]`; the factory is called like ours:
`factory(checkpoint=..., device=..., **options)` and returns a `Model`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from .base import Model, ModelError


@dataclass(frozen=True)
class AdapterSpec:
    name: str
    target: str
    """`module:callable` building the model."""
    capabilities: tuple[str, ...]
    description: str
    source: str = "built-in"
    model_type: str = "Unified Model"
    """Leaderboard group: Upper Bound, Und. Only, Gen. Only or Unified Model."""
    model_size: str = "-"
    display_name: str = ""
    protocol_options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    """Per scoring protocol, the options that make the model behave as that protocol defines (user options win)."""

    def options_for(self, protocol: str) -> dict[str, Any]:
        return dict(dict(self.protocol_options).get(protocol, ()))

    def load(self) -> Callable[..., Model]:
        module, _, attr = self.target.partition(":")
        return getattr(import_module(module), attr)


#: `strict` decodes Show-o's answers over text ids and rounds pixels; `syncr1` keeps the official behaviour.
SHOWO_PROTOCOL_OPTIONS = (("strict", (("mmu_vocab", "text"), ("pixels", "round"), ("flip", "none"),
                                       ("latent_text", "drop"), ("pure_gen_names", "token"))),)

#: `strict` keeps Janus's whole answer where the harness cuts a long answer to a short prompt.
JANUS_PROTOCOL_OPTIONS = (("strict", (("answers", "whole"),)),)

BUILTIN = [
    AdapterSpec("syncr1", "baselines.showo.adapter:syncr1", ("understand", "generate"),
                "Sync-R1 (Show-o 1.3B + concept tokens trained with Sync-GRPO)", model_size="1.3B",
                display_name="Sync-R1", protocol_options=SHOWO_PROTOCOL_OPTIONS),
    AdapterSpec("unictokens", "baselines.showo.adapter:unictokens", ("understand", "generate"),
                "UniCTokens (Show-o 1.3B + unified concept tokens)", model_size="1.3B", display_name="UniCTokens",
                protocol_options=SHOWO_PROTOCOL_OPTIONS),
    AdapterSpec("showo-tp", "baselines.showo.adapter:showo_tp", ("understand", "generate"),
                "Show-o + text prompt: the concept described in words", model_size="1.3B",
                display_name="Show-o+TP", protocol_options=SHOWO_PROTOCOL_OPTIONS),
    AdapterSpec("gpt-4o-tp", "baselines.openai_models:gpt4o_tp", ("understand", "generate"),
                "GPT-4o, concept described in text (any OpenAI-compatible API)", model_type="Upper Bound",
                model_size="200B", display_name="GPT-4o+TP"),
    AdapterSpec("gpt-4o-ip", "baselines.openai_models:gpt4o_ip", ("understand", "generate"),
                "GPT-4o, concept's reference photos in the prompt", model_type="Upper Bound", model_size="200B",
                display_name="GPT-4o+IP"),
    AdapterSpec("janus-tp", "baselines.janus:janus_tp", ("understand", "generate"),
                "Janus / Janus-Pro (transformers checkpoint), concept described in text, the Sync-R1 harness's "
                "inputs", display_name="Janus-Pro+TP", protocol_options=JANUS_PROTOCOL_OPTIONS),
    AdapterSpec("janus-ip", "baselines.janus:janus_ip", ("understand", "generate"),
                "Janus / Janus-Pro, the concept's first training photo shown (generation: its own caption of it)",
                display_name="Janus-Pro+IP", protocol_options=JANUS_PROTOCOL_OPTIONS),
    AdapterSpec("bagel-tp", "baselines.bagel:bagel_tp", ("understand", "generate"),
                "BAGEL-7B-MoT through a checkout of its repository (--option code_root=), concept described in text, "
                "the Sync-R1 harness's inputs; CUDA only", model_size="7B", display_name="BAGEL+TP"),
    AdapterSpec("bagel-ip", "baselines.bagel:bagel_ip", ("understand", "generate"),
                "BAGEL-7B-MoT, the concept's first training photo shown; CUDA only", model_size="7B",
                display_name="BAGEL+IP"),
    AdapterSpec("omnigen-ip", "baselines.omnigen:omnigen_ip", ("generate",),
                "OmniGen v1 (diffusers), zero-shot: the concept's first training photo in the prompt",
                model_type="Gen. Only", model_size="3.8B", display_name="OmniGen+IP"),
    AdapterSpec("hf-vlm", "baselines.hf_vlm:hf_vlm", ("understand",),
                "Any transformers image-text-to-text model (Qwen2.5-VL, LLaVA, Chameleon); option mode=tp|ip",
                model_type="Und. Only"),
    AdapterSpec("diffusers-t2i", "baselines.diffusers_t2i:diffusers_t2i", ("generate",),
                "Stable Diffusion with per-concept DreamBooth checkpoints or Textual Inversion embeddings",
                model_type="Gen. Only", model_size="1.0B"),
    AdapterSpec("real-images", "baselines.sanity:real_images", ("generate",),
                "Real Images reference row: a held-out real photo of the concept", model_type="Upper Bound",
                display_name="Real Images"),
    AdapterSpec("always-yes", "baselines.sanity:always_yes", ("understand",),
                "Sanity baseline: answers 'Yes' to everything (Rec. weight 0.5)", model_type="Und. Only",
                model_size="0", display_name="always-yes"),
    AdapterSpec("text-echo", "baselines.sanity:text_echo", ("understand",),
                "Sanity baseline: echoes the prompt back", model_type="Und. Only", model_size="0",
                display_name="text-echo"),
]


def adapters() -> dict[str, AdapterSpec]:
    """Built-in adapters plus those installed packages register under `ubpp.models`."""
    found = {spec.name: spec for spec in BUILTIN}
    for entry in entry_points(group="ubpp.models"):
        if entry.name not in found:
            found[entry.name] = AdapterSpec(entry.name, entry.value, ("understand", "generate"),
                                            f"from {entry.dist.name if entry.dist else 'a plugin'}", "entry point")
    return found


def create(name: str, checkpoint: str | None = None, device: str = "cpu", **options: Any) -> Model:
    specs = adapters()
    if name not in specs:
        raise ModelError(f"unknown model {name!r}; `ubpp models` lists the {len(specs)} available")
    try:
        model = specs[name].load()(checkpoint=checkpoint, device=device, **options)
    except TypeError as error:
        if "unexpected keyword argument" not in str(error):
            raise
        raise ModelError(f"{name}: unknown option ({error})") from None
    if not isinstance(model, Model):
        raise ModelError(f"adapter {name!r} did not return a Model (see baselines/base.py)")
    return model
