"""A tiny CLIP tokenizer's files (byte-level BPE in CLIP's format): what the tiny CLIPs of the tests and the
CLIP benchmark are built with."""

from __future__ import annotations

import json
from pathlib import Path


def write_clip_tokenizer_files(path: Path) -> None:
    """A byte-level BPE vocabulary in CLIP's format, covering lowercase letters and a few merges."""
    letters = list("abcdefghijklmnopqrstuvwxyz")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for token in letters + [c + "</w>" for c in letters] + list(".,<>'!?0123456789-") + ["th", "the</w>", "a</w>"]:
        vocab.setdefault(token, len(vocab))
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\nt h\nth e</w>\n")
