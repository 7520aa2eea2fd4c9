"""Adapters by name: the built-in ones and any package's, through the `ubpp.models` entry-point group.

A third-party package registers `name = "pkg.module:factory"` under
`[project.entry-points."ubpp.models"]`; the factory is called like ours:
`factory(checkpoint=..., device=..., **options)` and returns a `Model`.
"""

from __future__ import annotations

import difflib
import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module, metadata
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from unifybench_pp.hub import go_offline_if_hub_unreachable

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
    extra: str = ""
    """The `pyproject.toml` extra with the libraries it needs beyond the core: `pip install unifybench-pp[extra]`."""
    needs: str = "weights by --checkpoint"
    """What else it needs to run: weights, a GPU, a code checkout, an API."""

    @property
    def install(self) -> str:
        """The command that installs its extra ("" when it needs none)."""
        return f"pip install 'unifybench-pp[{self.extra}]'" if self.extra else ""

    def missing(self) -> list[str]:
        """Requirements of its extra that the installed packages do not meet (read from our metadata, so the
        extra is defined once, in `pyproject.toml`)."""
        if not self.extra:
            return []
        try:
            declared = [Requirement(r) for r in metadata.requires("unifybench-pp") or ()]
        except metadata.PackageNotFoundError:
            return [f"the unifybench-pp package itself (pip install -e '.[{self.extra}]')"]
        wanted = [r for r in declared if r.marker and r.marker.evaluate({"extra": self.extra})]
        return [f"{r.name}{r.specifier}" for r in wanted if not _installed(r)]

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

JANUS_NEEDS = "a transformers Janus checkpoint by --checkpoint (deepseek-community/Janus-Pro-7B); a GPU for 7B"
BAGEL_NEEDS = ("a CUDA GPU, flash-attn, a BAGEL checkout (--option code_root=), ByteDance-Seed/BAGEL-7B-MoT "
               "(--checkpoint)")

BUILTIN = [
    AdapterSpec("syncr1", "baselines.showo.adapter:syncr1", ("understand", "generate"),
                "Sync-R1 (Show-o 1.3B + concept tokens trained with Sync-GRPO)", model_size="1.3B",
                display_name="Sync-R1", protocol_options=SHOWO_PROTOCOL_OPTIONS,
                needs="a Show-o bundle with the concepts' tokens by --checkpoint (docs/models.md: The Show-o family)"),
    AdapterSpec("unictokens", "baselines.showo.adapter:unictokens", ("understand", "generate"),
                "UniCTokens (Show-o 1.3B + unified concept tokens)", model_size="1.3B", display_name="UniCTokens",
                protocol_options=SHOWO_PROTOCOL_OPTIONS,
                needs="a Show-o bundle with UniCTokens' concept tokens by --checkpoint"),
    AdapterSpec("showo-tp", "baselines.showo.adapter:showo_tp", ("understand", "generate"),
                "Show-o + text prompt: the concept described in words", model_size="1.3B",
                display_name="Show-o+TP", protocol_options=SHOWO_PROTOCOL_OPTIONS,
                needs="a Show-o bundle by --checkpoint"),
    AdapterSpec("gpt-4o-tp", "baselines.openai_models:gpt4o_tp", ("understand", "generate"),
                "GPT-4o, concept described in text (any OpenAI-compatible API)", model_type="Upper Bound",
                model_size="200B", display_name="GPT-4o+TP",
                needs="an OpenAI-compatible API: --option base_url=, the key in OPENAI_API_KEY"),
    AdapterSpec("gpt-4o-ip", "baselines.openai_models:gpt4o_ip", ("understand", "generate"),
                "GPT-4o, concept's reference photos in the prompt", model_type="Upper Bound", model_size="200B",
                display_name="GPT-4o+IP",
                needs="an OpenAI-compatible API: --option base_url=, the key in OPENAI_API_KEY"),
    AdapterSpec("janus-tp", "baselines.janus:janus_tp", ("understand", "generate"),
                "Janus / Janus-Pro (transformers checkpoint), concept described in text, the Sync-R1 harness's "
                "inputs", display_name="Janus-Pro+TP", protocol_options=JANUS_PROTOCOL_OPTIONS,
                needs=JANUS_NEEDS),
    AdapterSpec("janus-ip", "baselines.janus:janus_ip", ("understand", "generate"),
                "Janus / Janus-Pro, the concept's first training photo shown (generation: its own caption of it)",
                display_name="Janus-Pro+IP", protocol_options=JANUS_PROTOCOL_OPTIONS,
                needs=JANUS_NEEDS),
    AdapterSpec("bagel-tp", "baselines.bagel:bagel_tp", ("understand", "generate"),
                "BAGEL-7B-MoT through a checkout of its repository (--option code_root=), concept described in text, "
                "the Sync-R1 harness's inputs; CUDA only", model_size="7B", display_name="BAGEL+TP", extra="bagel",
                needs=BAGEL_NEEDS),
    AdapterSpec("bagel-ip", "baselines.bagel:bagel_ip", ("understand", "generate"),
                "BAGEL-7B-MoT, the concept's first training photo shown; CUDA only", model_size="7B",
                display_name="BAGEL+IP", extra="bagel",
                needs=BAGEL_NEEDS),
    AdapterSpec("emu3-tp", "baselines.emu3:emu3_tp", ("understand", "generate"),
                "Emu3 (transformers): Emu3-Chat answers (--checkpoint), Emu3-Gen draws (--option gen=), concept "
                "described in text", model_size="8B", display_name="Emu3+TP",
                needs="BAAI/Emu3-Chat-hf (--checkpoint) and BAAI/Emu3-Gen-hf (--option gen=), both loaded: a GPU"),
    AdapterSpec("omnigen-ip", "baselines.omnigen:omnigen_ip", ("generate",),
                "OmniGen v1 (diffusers), zero-shot: the concept's first training photo in the prompt",
                model_type="Gen. Only", model_size="3.8B", display_name="OmniGen+IP", extra="omnigen",
                needs="Shitao/OmniGen-v1-diffusers by --checkpoint; a GPU"),
    AdapterSpec("hf-vlm", "baselines.hf_vlm:hf_vlm", ("understand",),
                "Any transformers image-text-to-text model (Qwen2.5-VL, LLaVA, Chameleon); option mode=tp|ip",
                model_type="Und. Only",
                needs="an image-text-to-text checkpoint by --checkpoint"),
    AdapterSpec("diffusers-t2i", "baselines.diffusers_t2i:diffusers_t2i", ("generate",),
                "Stable Diffusion with per-concept DreamBooth checkpoints or Textual Inversion embeddings",
                model_type="Gen. Only", model_size="1.0B",
                needs="per-concept DreamBooth checkpoints or Textual Inversion embeddings (--option)"),
    AdapterSpec("real-images", "baselines.sanity:real_images", ("generate",),
                "Real Images reference row: a held-out real photo of the concept", model_type="Upper Bound",
                display_name="Real Images",
                needs="nothing"),
    AdapterSpec("always-yes", "baselines.sanity:always_yes", ("understand",),
                "Sanity baseline (tagged, never ranked): answers 'Yes' to everything (Rec. weight 0.5)",
                model_type="Und. Only", model_size="0", display_name="always-yes",
                needs="nothing"),
    AdapterSpec("text-echo", "baselines.sanity:text_echo", ("understand",),
                "Sanity baseline (tagged, never ranked): echoes the prompt back", model_type="Und. Only",
                model_size="0", display_name="text-echo",
                needs="nothing"),
]


def _installed(requirement: Requirement) -> bool:
    try:
        return requirement.specifier.contains(metadata.version(requirement.name), prereleases=True)
    except metadata.PackageNotFoundError:
        return False


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
    factory = specs[name].load()
    if checkpoint is None or not Path(checkpoint).exists():
        go_offline_if_hub_unreachable()  # else a hub id retries downloads for minutes before failing
    try:
        model = factory(checkpoint=checkpoint, device=device, **options)
    except TypeError as error:  # translated only when it names an option the user gave
        unknown = re.search(r"unexpected keyword argument '(.+?)'", str(error))
        fixed = re.search(r"got multiple values for (?:keyword )?argument '(.+?)'", str(error))
        if fixed and fixed.group(1) in options:
            raise ModelError(f"{name}: option {fixed.group(1)!r} is set by the adapter itself") from None
        if unknown and unknown.group(1) in options:
            raise _unknown_option(name, unknown.group(1), option_names(factory)) from None
        raise
    if not isinstance(model, Model):
        raise ModelError(f"adapter {name!r} did not return a Model (see baselines/base.py)")
    return model


def option_names(factory: Callable[..., Model]) -> list[str]:
    """The `--option` names an adapter takes: its factory's own keywords, and, where the factory passes the rest
    on (`**options`), the keywords with defaults of the class it returns (its return annotation)."""
    names: set[str] = set()
    forwarded = False
    for parameter in inspect.signature(factory).parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            forwarded = True
        elif parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            names.add(parameter.name)
    try:
        target = typing.get_type_hints(factory).get("return") if forwarded else None
    except (NameError, TypeError):  # an annotation that does not resolve names no class
        target = None
    if inspect.isclass(target):
        names |= {p.name for p in inspect.signature(target).parameters.values()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty}
    return sorted(names - {"checkpoint", "device"})


def _unknown_option(adapter: str, given: str, known: list[str]) -> ModelError:
    """One line naming the option, the nearest known one and all of them (where they can be read off the
    adapter's signatures), instead of Python's TypeError."""
    near = difflib.get_close_matches(given, known, n=1, cutoff=0.7)
    return ModelError(f"{adapter}: unknown option {given!r}" + (f" (did you mean {near[0]!r}?)" if near else "")
                      + (f"; it takes {', '.join(known)}" if known else ""))
