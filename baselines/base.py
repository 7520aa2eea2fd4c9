"""The protocol every model adapter implements, and the requests the runner sends it.

Adapters are batched (a list of requests in, a list of outputs out, same
order), seeded per request, and keep no global state: everything a request
needs is in it.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import shorten
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from PIL import Image

from unifybench_pp.errors import UbppError
from unifybench_pp.hub import go_offline_if_hub_unreachable, offline_by_setting
from unifybench_pp.schema import Concept

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class UnderstandRequest:
    item_id: str
    task: str
    concept: Concept
    prompt: str
    """The question, or the whole rewrite instruction (Rea., Dense Rea.), with the concept token (e.g. `<bo>`)."""
    image: Path
    """The image the harness gives: the photo (Rec., VQA), the release's image of a text-only question (QA),
    the black image (Rea., Dense Rea.)."""
    seed: int = 0


@dataclass(frozen=True)
class GenerateRequest:
    item_id: str
    task: str
    concept: Concept
    prompt: str
    """Generation prompt with the concept token (for Rea. Gen. / Dense Rea. Gen.: the model's own rewrite,
    or the implicit / explicit prompt, per the run's reasoning input)."""
    references: tuple[Path, ...] = field(default=())
    """The concept's training photos (for image-prompted models and the real-images row)."""
    seed: int = 0


@runtime_checkable
class Model(Protocol):
    name: str
    capabilities: set[str]

    def personalize(self, concept: Concept, train_images: list[Path]) -> None: ...

    def understand(self, requests: list[UnderstandRequest]) -> list[str]: ...

    def generate(self, requests: list[GenerateRequest]) -> list[Image.Image]: ...


# An adapter may state how it samples as `recipe: dict` (resolution, guidance, temperature, top-k/p, seeds,
# precision): it is recorded in run.json and is part of the run's config hash.
# An adapter that reproduces a harness's seeding also defines
#     request_seed(base_seed: int, task: str, concept: str, item_id: str) -> int
# and the runner seeds each request with it (see evaluators.runner.seed_for).
# A sanity baseline (a trivial answer that checks each metric can tell a model from it) states `sanity = True`:
# run.json records it, and the leaderboard tags its row and never ranks it or compares other rows with it by default.


def open_rgb(path: Path) -> Image.Image:
    """An image file as an RGB image in memory, the file closed: what every adapter hands its model."""
    with Image.open(path) as image:
        return image.convert("RGB")


def model_dtype(name: str, device: str, adapter: str) -> torch.dtype:
    """A `dtype` option as torch's; "auto" is what the unified models' own code picks: bfloat16 on a GPU that has
    it, else float16 on a GPU, float32 on a CPU."""
    import torch  # here, so that listing adapters needs no torch

    if name != "auto":
        chosen = getattr(torch, name, None)
        if not isinstance(chosen, torch.dtype):
            raise ModelError(f"{adapter}: unknown dtype {name!r} (auto, float32, bfloat16, float16)")
        return chosen
    if not str(device).startswith("cuda"):
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def default_device() -> str:
    """Where a model or scorer runs when no device is given: the GPU when one is visible (a 7B model left on the
    CPU of a GPU machine would take days), else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def checked_device(name: str, option: Callable[[str], str] = lambda value: f"--device {value}") -> str:
    """`name` when torch can run a model there on this machine, else ModelError saying why: a typo, a GPU that is
    not here, a GPU index past the last one (torch would fail later, mid-run, with a traceback). `option` words
    the setting with a value (training's: `--set device=cpu`)."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ModelError(f"{option(repr(name))} is not a device; e.g. cpu, cuda, cuda:1, mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"{option(name)}: no CUDA GPU is visible here; use {option('cpu')}")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ModelError(f"{option(name)}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                         f"numbered from 0")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ModelError(f"{option(name)}: Apple's MPS is not available here; use {option('cpu')}")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ModelError(f"{option(name)}: models run on cpu, cuda or mps")
    return name


def cache_keyword(forward: Callable[..., object]) -> str:
    """The key-value cache's keyword of a transformers model's `forward`: `cache` since 5.x renamed it (the old
    `past_key_values` warns and goes in 5.40), `past_key_values` before."""
    return "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"


class ModelError(UbppError):
    """A user-facing problem with a model (missing weights, bad option): printed as one line, exit code 2."""


def size_label(parameters: int) -> str:
    """A parameter count as a leaderboard's size column prints it (1.3B, 350.0M, 211.8K), the form `--model-size`
    takes: the largest unit it holds at least one of once rounded, so a test-sized model keeps its digits."""
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if round(parameters / scale, 1) >= 1:
            return f"{parameters / scale:.1f}{unit}"
    return str(parameters)


def weights_not_found(adapter: str, checkpoint: str | Path, error: Exception,
                      fix: str = "pass --checkpoint PATH or a hub id") -> ModelError:
    """Every adapter's one line for weights that did not load. A path that names nothing says so: the loaders
    read such a path as a hub id and quote the hub's rules for repository names, which it was never meant to be.
    A hub id with the Hub out of reach says that, rather than each library's own long wording of it."""
    text = str(checkpoint)
    path = Path(text)
    if text.startswith("~"):  # a shell leaves it as it is after `=` (--checkpoint=~/x), and the loaders too
        reason = "a leading ~ is not expanded here: give the whole path"
    elif path.is_file():
        reason = "a file: give the folder that holds it"
    elif not path.exists() and (path.is_absolute() or text.startswith(".") or len(re.split(r"[\\/]", text)) > 2):
        reason = "no such file or folder"
    elif not path.exists() and isinstance(error, OSError) and go_offline_if_hub_unreachable():  # files not found
        reason = "not in the local Hugging Face cache, and " + (
            "HF_HUB_OFFLINE is set" if offline_by_setting() else "the Hub cannot be reached from here")
    else:
        reason = shorten(str(error).splitlines()[0], 160, placeholder=" ...")
    return ModelError(f"weights for {adapter} not found at {text!r} ({reason}): {fix}")


def checked_number(adapter: str, option: str, value: object, *, whole: bool = False, least: float = 0.0
                   ) -> float:
    """An `--option` value as the number it must be (a whole one where `whole`, finite, at least `least`): a
    sampler given `steps=abc` or `steps=0` would otherwise fail mid-run, after writing part of it."""
    kind = "a whole number" if whole else "a number"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or (whole and not number.is_integer()) \
            or number < least:
        raise ModelError(f"{adapter}: {option} must be {kind} >= {least:g}, not {value!r}")
    if whole:
        return int(number)
    return value if isinstance(value, (int, float)) else number  # as given: 5 and 5.0 hash apart in run folders

