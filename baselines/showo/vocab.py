"""Show-o's token id layout: text tokens, Show-o's special tokens, concept tokens, image codes, mask.

    [0, text_size)                      text tokenizer incl. [PAD], <|soi|> ... <|lvg|> and concept tokens
    [text_size, text_size + codebook)   image code c has id text_size + c
    text_size + codebook                the mask token (the last id)

Show-o adds `[PAD]` and nine task tokens to the Phi-1.5 tokenizer, and uses
its `<|endoftext|>` as both start (<|sot|>) and end (<|eot|>) of text.
Concept tokens (UniCTokens) are appended to the text range, which shifts
every image id; `Vocab` is always derived from the tokenizer, so the shift
is never computed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ("<|soi|>", "<|eoi|>", "<|sov|>", "<|eov|>", "<|t2i|>", "<|mmu|>", "<|t2v|>", "<|v2v|>", "<|lvg|>")
PAD_TOKEN = "[PAD]"


@dataclass(frozen=True)
class Vocab:
    text_size: int
    codebook_size: int
    pad: int
    bos: int
    eos: int
    soi: int
    eoi: int
    t2i: int
    mmu: int

    @property
    def image_offset(self) -> int:
        return self.text_size

    @property
    def mask(self) -> int:
        return self.text_size + self.codebook_size

    @property
    def size(self) -> int:
        return self.text_size + self.codebook_size + 1

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, codebook_size: int = 8192) -> Vocab:
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (*SPECIAL_TOKENS, PAD_TOKEN)}
        missing = [t for t, i in ids.items() if i is None or i == tokenizer.unk_token_id]
        if missing:
            raise ValueError(f"tokenizer lacks Show-o's tokens {missing}: call prepare_tokenizer first")
        return cls(len(tokenizer), codebook_size, ids[PAD_TOKEN], tokenizer.bos_token_id, tokenizer.eos_token_id,
                   ids["<|soi|>"], ids["<|eoi|>"], ids["<|t2i|>"], ids["<|mmu|>"])


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Add [PAD] and the task tokens exactly as Show-o does (so ids match the released weights)."""
    if tokenizer.convert_tokens_to_ids(PAD_TOKEN) in (None, tokenizer.unk_token_id):
        tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    new = [t for t in SPECIAL_TOKENS if tokenizer.convert_tokens_to_ids(t) in (None, tokenizer.unk_token_id)]
    if new:
        tokenizer.add_tokens(new)
    return tokenizer


TINY_CORPUS = (
    "a photo of the cat dog rocket coffee cup coins astronaut man woman person pet object "
    "is in this photo yes no what colour does wear hold stand on sit near with her his its "
    "red blue green white black orange grey brown yellow silver favourite hat toy bowl case "
    "user assistant describe the image question answer 0 1 2 3 4 5 6 7 8 9 . , ? ! ' : < > _"
)


def build_tiny_tokenizer(path: Path | None = None, corpus: list[str] | None = None, vocab_size: int = 400) -> Any:
    """A small byte-level BPE tokenizer in Phi's format (bos = eos = <|endoftext|>), trained in code.

    It stands in for Phi-1.5's tokenizer in tests and in the offline tiny models
    (the pretrained tiny model learns its merges from its own training text, `corpus`);
    the same `prepare_tokenizer` then adds Show-o's tokens.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(corpus if corpus is not None else [TINY_CORPUS] * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<|endoftext|>",
                                        eos_token="<|endoftext|>", unk_token="<|endoftext|>")
    prepare_tokenizer(tokenizer)
    if path is not None:
        tokenizer.save_pretrained(path)
    return tokenizer
