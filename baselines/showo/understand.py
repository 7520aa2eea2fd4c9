"""Show-o multimodal understanding: image tokens + question -> answer text, batched, with a KV cache.

The prompt is Show-o's: <|mmu|> <|soi|> image <|eoi|> <|sot|> "USER: {system}{question} ASSISTANT:".
Rows are left-padded; position ids skip the padding so a batched row computes
exactly what it would alone.

Which ids an answer may take (`mmu_vocab`):
- "full" (Show-o's `mmu_generate`, what the released models are evaluated
  with): the whole vocabulary, image codes and the mask token included; a code
  the model picks is fed back like any token, and the answer's text leaves it
  out (a tokenizer skips ids it does not know);
- "text": text ids only, so an answer is all words; what our trainer samples
  reasoning from, since it becomes part of a generation prompt.

What an answer's concept latent tokens read as (`latent_text`):
- "keep" (the harness: its tokenizer decodes the added tokens as text): each
  as the harness names it, `<token_3>` (ours are `<bo:token_3>`);
- "drop": left out, they are soft prompts, not words (ours; the trainer's).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal, get_args

import torch

from .attention import understanding_mask
from .concepts import harness_spelling
from .model import CACHE_ARG, Showo
from .vocab import Vocab

MmuVocab = Literal["full", "text"]
LatentText = Literal["keep", "drop"]


def encode_questions(tokenizer: Any, vocab: Vocab, codes: torch.Tensor, questions: list[str],
                     system_prompts: list[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, image_end): left-padded prompt ids and the index of each row's <|eoi|>."""
    rows = []
    for k, question in enumerate(questions):
        system = system_prompts[k] if system_prompts else ""
        text = tokenizer(f"USER: {system}{question} ASSISTANT:", add_special_tokens=False)["input_ids"]
        image = (codes[k] + vocab.image_offset).tolist()
        rows.append([vocab.mmu, vocab.soi, *image, vocab.eoi, vocab.bos, *text])
    width = max(len(r) for r in rows)
    ids = torch.tensor([[vocab.pad] * (width - len(r)) + r for r in rows], dtype=torch.long, device=codes.device)
    image_end = torch.tensor([width - len(r) + 2 + codes.shape[1] for r in rows], device=codes.device)
    return ids, image_end


class Understander:
    def __init__(self, model: Showo, vocab: Vocab, tokenizer: Any, unspoken: Collection[int] = (),
                 mmu_vocab: MmuVocab = "full", latent_text: LatentText = "drop") -> None:
        if mmu_vocab not in get_args(MmuVocab):
            raise ValueError(f"mmu_vocab must be one of {get_args(MmuVocab)}, not {mmu_vocab!r}")
        if latent_text not in get_args(LatentText):
            raise ValueError(f"latent_text must be one of {get_args(LatentText)}, not {latent_text!r}")
        self.latent_text = latent_text
        self.model = model
        self.vocab = vocab
        self.tokenizer = tokenizer
        self.unspoken = frozenset(unspoken)
        """Ids left out of the text an answer reads as: concept latent tokens are soft prompts, not words."""
        self.mmu_vocab = mmu_vocab

    @property
    def answer_ids(self) -> slice:
        """The ids an answer token is chosen from (see the module docstring)."""
        return slice(None) if self.mmu_vocab == "full" else slice(0, self.vocab.text_size)

    def text(self, ids: list[int]) -> str:
        """An answer as a reader (a judge, a reward) sees it: no special tokens or image codes; latent concept
        tokens per `latent_text`."""
        keep = self.latent_text == "keep"
        words = [i for i in ids if i < self.vocab.text_size and (keep or i not in self.unspoken)]
        text = self.tokenizer.decode(words, skip_special_tokens=True)
        return (harness_spelling(text) if keep else text).strip()

    @torch.inference_mode()
    def generate_ids(self, ids: torch.Tensor, image_end: torch.Tensor, max_new_tokens: int = 100,
                     temperature: float = 0.0, top_k: int | None = None,
                     generator: torch.Generator | list[torch.Generator] | None = None) -> list[list[int]]:
        """Greedy (temperature 0) or sampled continuation of each row until <|eot|>.

        A list of generators (one per row) makes each row's sample independent of its batch.
        """
        from transformers import DynamicCache

        vocab, phi = self.vocab, self.model.phi
        is_pad = ids == vocab.pad
        positions = ((~is_pad).cumsum(1) - 1).clamp_min(0)
        cache = DynamicCache()
        logits = phi(input_ids=ids, attention_mask=understanding_mask(is_pad, image_end), position_ids=positions,
                     use_cache=True, logits_to_keep=1, **{CACHE_ARG: cache}).logits[:, -1]
        keys_valid = ~is_pad
        last = positions[:, -1]
        outputs: list[list[int]] = [[] for _ in range(ids.shape[0])]
        done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
        for _ in range(max_new_tokens):
            token = self._choose(logits[:, self.answer_ids].float(), temperature, top_k, generator)
            for row in torch.nonzero(~done).flatten().tolist():
                if int(token[row]) == vocab.eos:
                    done[row] = True
                else:
                    outputs[row].append(int(token[row]))
            if bool(done.all()):
                break
            keys_valid = torch.cat([keys_valid, torch.ones_like(done)[:, None]], dim=1)
            last = last + 1
            logits = phi(input_ids=token[:, None], attention_mask=keys_valid[:, None, None, :],
                         position_ids=last[:, None], use_cache=True, **{CACHE_ARG: cache}).logits[:, -1]
        return outputs

    @staticmethod
    def _choose(logits: torch.Tensor, temperature: float, top_k: int | None,
                generator: torch.Generator | list[torch.Generator] | None) -> torch.Tensor:
        if temperature <= 0:
            return logits.argmax(-1)
        if top_k is not None:
            kth = logits.topk(top_k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = (logits / temperature).softmax(-1)
        if isinstance(generator, list):
            return torch.cat([torch.multinomial(probs[k : k + 1], 1, generator=g)[:, 0]
                              for k, g in enumerate(generator)])
        return torch.multinomial(probs, 1, generator=generator)[:, 0]

    def answer_logprobs(self, ids: torch.Tensor, image_end: torch.Tensor, answers: list[list[int]],
                        temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) log-probs of each answer's tokens after its prompt, and the (B, T) mask of real tokens.

        Differentiable (the trainer's policy ratio over reasoning tokens); the
        distribution is the one `generate_ids` samples from: the `answer_ids`,
        logits divided by the temperature.
        """
        vocab = self.vocab
        width = max(1, max(len(a) for a in answers))
        tail = torch.full((ids.shape[0], width), vocab.pad, dtype=ids.dtype, device=ids.device)
        for row, answer in enumerate(answers):
            tail[row, : len(answer)] = torch.tensor(answer, dtype=ids.dtype)
        lengths = torch.tensor([len(a) for a in answers], device=ids.device)
        mask = torch.arange(width, device=ids.device)[None] < lengths[:, None]
        sequence = torch.cat([ids, tail], dim=1)
        is_pad = torch.cat([ids == vocab.pad, ~mask], dim=1)  # a sampled [PAD] is still a real token
        positions = ((~is_pad).cumsum(1) - 1).clamp_min(0)
        hidden = self.model.phi.model(input_ids=sequence, attention_mask=understanding_mask(is_pad, image_end),
                                      position_ids=positions, use_cache=False).last_hidden_state
        head, rows = self.model.phi.lm_head, self.answer_ids
        logits = torch.nn.functional.linear(hidden[:, ids.shape[1] - 1 : -1], head.weight[rows],
                                            None if head.bias is None else head.bias[rows])
        logp = (logits.float() / max(temperature, 1e-6)).log_softmax(-1).gather(-1, tail[..., None]).squeeze(-1)
        return logp * mask, mask

    def answer(self, codes: torch.Tensor, questions: list[str], system_prompts: list[str] | None = None,
               **options: Any) -> list[str]:
        ids, image_end = encode_questions(self.tokenizer, self.vocab, codes, questions, system_prompts)
        return [self.text(row) for row in self.generate_ids(ids, image_end, **options)]
