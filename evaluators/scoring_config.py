"""Scoring settings and the scorer models' defaults, in a module that imports no model library.

`cli.py` declares its scoring options from `ScoringConfig`'s fields when it starts; kept here, apart from the
scorers (torch, transformers) and the scoring loop, so `ubpp build-dataset` or `ubpp --help` does not load torch.
The scorers and the trainer's reward settings read their defaults from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from unifybench_pp.openai_transport import GPT4O

from .text_metrics import Protocol

DEFAULT_CLIP = "open_clip:ViT-B-32-quickgelu/openai"
"""OpenAI's ViT-B/32 as the authors' harness builds it (QuickGELU; see evaluators/scorers/clip.py)."""
DEFAULT_TEXT_EMBEDDER = "minilm"
DEFAULT_DINOV2 = "facebook/dinov2-base"
DEFAULT_BLIP2 = "Salesforce/blip2-itm-vit-g"
DEFAULT_JUDGE_MODEL = GPT4O


@dataclass
class ScoringConfig:
    protocol: Protocol = "syncr1"
    clip: str = DEFAULT_CLIP
    clip_trusted_file: bool = False
    """Allow `clip` to name a TorchScript archive (OpenAI's ViT-B-32.pt): torch.jit.load cannot be limited to
    tensors."""
    judge_model: str = DEFAULT_JUDGE_MODEL
    judge_base_url: str | None = None
    judge_cache: Path = Path.home() / ".cache" / "ubpp" / "judge.sqlite"
    judge_concurrency: int = 8
    judge_timeout: float = 60.0
    """Seconds one judge call may take; a timed-out call is retried like a lost connection."""
    judge_retries: int = 5
    """Retries of a transient judge failure (429, 5xx, timeout, lost connection), with exponential backoff."""
    text_embedder: str = DEFAULT_TEXT_EMBEDDER
    dinov2: str = DEFAULT_DINOV2
    blip2: str = DEFAULT_BLIP2
    facenet: str | None = None
    """FaceNet weights (`vggface2` to download, or a state-dict file); MTCNN ships with the package."""
    device: str | None = None
    batch_size: int = 32
    judge_repeats: int = 1
    """Ask the judge this many times per output (separate cache entries): measures the judge's own variance."""
