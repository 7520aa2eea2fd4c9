"""Learnable concept tokens (UniCTokens): an identifier such as `<bo>` plus latent tokens per concept.

The rows are inserted at the end of the text vocabulary, so every image id and
the mask id shift by the number of new tokens, in the embeddings and in the
output layer (weight and bias) alike. Released UniCTokens / Sync-R1 concept
checkpoints are three tensor files, `epoch_<N>_embed.pt`,
`epoch_<N>_lm_head_weight.pt` and `epoch_<N>_lm_head_bias.pt`, holding those
rows in order (identifier first); they are read with `weights_only=True`.
Ours are one safetensors file with the token strings in its metadata.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .model import Showo
from .vocab import Vocab

N_LATENT = 16
"""Latent tokens per concept we create; also the harness's `nums_new_token_i_stage_1`, the tokens its understanding
system prompt lists (its released concepts carry 8 stage-2 tokens more, 24 in all, which only generation prompts
spell out)."""


@dataclass(frozen=True)
class ConceptTokens:
    concept: str
    tokens: list[str]
    """Identifier first, then the latent tokens."""

    @property
    def identifier(self) -> str:
        return self.tokens[0]

    def system_prompt(self) -> str:
        """UniCTokens' personalization prefix: "<bo> is <bo:token_0>...<bo:token_15>." (the first N_LATENT latent
        tokens, as the harness's `build_showo_system_prompt`)."""
        return f"{self.identifier} is {''.join(self.tokens[1:1 + N_LATENT])}."

    def in_prompt(self, prompt: str, token: str) -> str:
        """A generation prompt with the benchmark's concept token (`<bo>`) spelled as latent tokens + identifier."""
        return prompt.replace(token, "".join(self.tokens[1:]) + " " + self.identifier)


_LATENT = re.compile(r"<[^<>]+:(token_\d+)>")


def harness_spelling(text: str) -> str:
    """Latent tokens written as the harness names them: `<bo:token_3>` -> `<token_3>` (its concepts are added to
    the tokenizer as `<token_0>`..., in the same order as ours)."""
    return _LATENT.sub(r"<\1>", text)


def concept_token_names(concept: str, n_latent: int = N_LATENT) -> list[str]:
    # Latent names carry the concept so several concepts can live in one model.
    return [f"<{concept}>"] + [f"<{concept}:token_{i}>" for i in range(n_latent)]


def _insert_rows(matrix: torch.Tensor, at: int, rows: torch.Tensor) -> torch.Tensor:
    return torch.cat([matrix[:at], rows.to(matrix.dtype), matrix[at:]], dim=0)


@torch.no_grad()
def add_concept(model: Showo, tokenizer: Any, codebook_size: int, concept: str, n_latent: int = N_LATENT,
                rows: dict[str, torch.Tensor] | None = None) -> tuple[ConceptTokens, Vocab]:
    """Append a concept's tokens to the text vocabulary; returns them and the new id layout.

    `rows` gives the new embedding / lm_head rows (`embed`, `lm_head_weight`,
    `lm_head_bias`); by default they start at the mean of the text rows.
    """
    names = concept_token_names(concept, n_latent)
    taken = [n for n in names if tokenizer.convert_tokens_to_ids(n) not in (None, tokenizer.unk_token_id)]
    if taken:
        raise ValueError(f"concept {concept!r} is already in the tokenizer ({taken[0]})")
    text_size = len(tokenizer)
    phi = model.phi
    embed, head = phi.get_input_embeddings(), phi.lm_head
    if rows is None:
        rows = {"embed": embed.weight[:text_size].mean(0).expand(len(names), -1),
                "lm_head_weight": head.weight[:text_size].mean(0).expand(len(names), -1),
                "lm_head_bias": head.bias[:text_size].mean().expand(len(names))}
    expected = (len(names), embed.weight.shape[1])
    for key in ("embed", "lm_head_weight"):
        if tuple(rows[key].shape) != expected:
            raise ValueError(f"{key} rows have shape {tuple(rows[key].shape)}, expected {expected}")
    if tuple(rows["lm_head_bias"].shape) != (len(names),):
        raise ValueError(f"lm_head_bias has shape {tuple(rows['lm_head_bias'].shape)}, expected ({len(names)},)")
    tokenizer.add_tokens(names)
    new_embed = torch.nn.Embedding.from_pretrained(_insert_rows(embed.weight, text_size, rows["embed"]), freeze=False)
    new_head = torch.nn.Linear(head.in_features, head.out_features + len(names), bias=True,
                               device=head.weight.device, dtype=head.weight.dtype)
    new_head.weight.copy_(_insert_rows(head.weight, text_size, rows["lm_head_weight"]))
    new_head.bias.copy_(_insert_rows(head.bias, text_size, rows["lm_head_bias"]))
    phi.set_input_embeddings(new_embed)
    phi.lm_head = new_head
    phi.config.vocab_size = model.config.vocab_size = new_embed.num_embeddings
    return ConceptTokens(concept, names), Vocab.from_tokenizer(tokenizer, codebook_size)


def concept_rows(model: Showo, tokenizer: Any, tokens: ConceptTokens) -> dict[str, torch.Tensor]:
    ids = tokenizer.convert_tokens_to_ids(tokens.tokens)
    phi = model.phi
    return {"embed": phi.get_input_embeddings().weight[ids].detach().clone(),
            "lm_head_weight": phi.lm_head.weight[ids].detach().clone(),
            "lm_head_bias": phi.lm_head.bias[ids].detach().clone()}


def load_released_concept(model: Showo, tokenizer: Any, codebook_size: int, concept: str, folder: Path,
                          epoch: int) -> tuple[ConceptTokens, Vocab]:
    """Add a concept from UniCTokens' files (`epoch_<N>_embed.pt`, `..._lm_head_weight.pt`, `..._lm_head_bias.pt`)."""
    files = {key: folder / f"epoch_{epoch}_{key}.pt" for key in ("embed", "lm_head_weight", "lm_head_bias")}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"concept checkpoint incomplete: {', '.join(missing)} not found")
    rows = {key: torch.load(path, map_location="cpu", weights_only=True) for key, path in files.items()}
    return add_concept(model, tokenizer, codebook_size, concept, rows["embed"].shape[0] - 1, rows)


def save_concept(model: Showo, tokenizer: Any, tokens: ConceptTokens, path: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(concept_rows(model, tokenizer, tokens), str(path),
              metadata={"concept": tokens.concept, "tokens": json.dumps(tokens.tokens)})


def load_concept(model: Showo, tokenizer: Any, codebook_size: int, path: Path) -> tuple[ConceptTokens, Vocab]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    tokens = json.loads(metadata["tokens"])
    concept = metadata["concept"]
    if tokens != concept_token_names(concept, len(tokens) - 1):
        raise ValueError(f"{path}: token names {tokens[:2]}... do not follow this version's naming")
    return add_concept(model, tokenizer, codebook_size, concept, len(tokens) - 1, load_file(str(path)))
