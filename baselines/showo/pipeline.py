"""One object for a Show-o family checkpoint: tokenizer, transformer, MAGVIT-v2, sampler and understanding.

    pipe = ShowoPipeline.from_pretrained("showlab/show-o-512x512", "showlab/magvitv2")
    pipe.add_released_concept("bo", Path("saves/bo/example"), epoch=15)   # UniCTokens / Sync-R1 concept
    images = pipe.generate(["A photo of <bo>."], seed=0)
    answers = pipe.understand(images, ["Is <bo> in this photo?"])

`build_tiny_checkpoint` writes a few-layer model, a small tokenizer built in
code and a tiny MAGVIT-v2 in the same layouts, for tests and the offline default.

Two choices change numbers against the authors' evaluation code; the defaults are theirs:
- `mmu_vocab`: "full" answers over the whole vocabulary as Show-o's
  `mmu_generate` does (a greedy answer can pick image codes, which its text
  drops), "text" over text ids only (see `understand`);
- `pixels`: "truncate" turns decoded images into 8-bit as Show-o's scripts do,
  `(clamp((x + 1) / 2, 0, 1) * 255).astype(uint8)`, i.e. rounding down;
  "round" rounds to the nearest level (about half the pixels one level higher).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch
from PIL import Image

from unifybench_pp.paths import path_component

from .bundle import ShowoBundle
from .checkpoints import epochs_in, read_sync_r1_model, resolve
from .concepts import ConceptTokens, add_concept, load_concept, load_released_concept, save_concept
from .magvit2 import Magvit2Config, Magvit2Tokenizer
from .model import EMBEDDINGS, Showo, ShowoConfig, tiny_llm_config
from .sampler import MAX_TEXT_LEN, MaskGitSampler, SamplerConfig, encode_prompts
from .understand import LatentText, MmuVocab, Understander
from .vocab import Vocab, build_tiny_tokenizer, prepare_tokenizer

Pixels = Literal["truncate", "round"]


def harness_flip(seed: int) -> bool:
    """Whether the harness flips the test image of an understanding request seeded with `seed`.

    Its transform (`pdata.image_transform`, flip_augmentation on by default) runs right after the request's
    `set_global_seed`: `if torch.rand(1) < 0.5: RandomHorizontalFlip()(image)`, and the flip draws once more
    with p = 0.5, so a quarter of the images are mirrored. The same two draws from a generator seeded alike.
    """
    generator = torch.Generator().manual_seed(seed)
    return bool(torch.rand(1, generator=generator) < 0.5) and bool(torch.rand(1, generator=generator) < 0.5)


def check_options(mmu_vocab: str, pixels: str) -> None:
    """Refuse a misspelt choice before anything is loaded."""
    if mmu_vocab not in get_args(MmuVocab) or pixels not in get_args(Pixels):
        raise ValueError(f"mmu_vocab must be one of {get_args(MmuVocab)} and pixels one of {get_args(Pixels)}, "
                         f"not {mmu_vocab!r} and {pixels!r}")


def to_pixels(images: torch.Tensor, pixels: Pixels) -> list[np.ndarray]:
    """(B, 3, H, W) decoder output in [-1, 1] -> B (H, W, 3) uint8 arrays, by truncation or rounding (see above)."""
    if pixels == "truncate":
        levels = (torch.clamp((images + 1.0) / 2.0, min=0.0, max=1.0) * 255.0).to(torch.uint8)
    else:
        levels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return [p.permute(1, 2, 0).cpu().numpy() for p in levels]


class ShowoPipeline:
    def __init__(self, model: Showo, tokenizer: Any, magvit: Magvit2Tokenizer, device: str | torch.device = "cpu",
                 *, mmu_vocab: MmuVocab = "full", pixels: Pixels = "truncate"):
        check_options(mmu_vocab, pixels)
        self.mmu_vocab = mmu_vocab
        self.pixels = pixels
        self.model = model.to(device).eval()
        self.magvit = magvit.to(device).eval()
        self.tokenizer = prepare_tokenizer(tokenizer)
        self.device = torch.device(device)
        self.concepts: dict[str, ConceptTokens] = {}
        self.vocab = Vocab.from_tokenizer(self.tokenizer, magvit.codebook_size)
        if self.vocab.size != model.config.vocab_size:
            raise ValueError(f"tokenizer ({len(self.tokenizer)} text ids) and model ({model.config.vocab_size} ids) "
                             f"disagree on the vocabulary for a {magvit.codebook_size}-code tokenizer")

    @classmethod
    def from_pretrained(cls, showo: str | Path, magvit: str | Path, tokenizer: str | Path | None = None,
                        device: str | torch.device = "cpu", dtype: torch.dtype | None = None, *,
                        mmu_vocab: MmuVocab = "full", pixels: Pixels = "truncate") -> ShowoPipeline:
        """Load by local path or hub id; the tokenizer comes from the checkpoint folder or `llm_model_path`."""
        from transformers import AutoTokenizer

        check_options(mmu_vocab, pixels)
        model = Showo.from_pretrained(showo, dtype=dtype)
        folder = resolve(showo)
        source = tokenizer or (folder if (folder / "tokenizer_config.json").exists() else model.config.llm_model_path)
        return cls(model, AutoTokenizer.from_pretrained(source), Magvit2Tokenizer.from_pretrained(magvit), device,
                   mmu_vocab=mmu_vocab, pixels=pixels)

    @property
    def image_size(self) -> int:
        return self.magvit.config.downsample_factor * int(round(self.model.config.num_vq_tokens ** 0.5))

    def _refresh(self, tokens: ConceptTokens, vocab: Vocab) -> ConceptTokens:
        self.vocab = vocab
        self.concepts[tokens.concept] = tokens
        return tokens

    def add_concept(self, concept: str) -> ConceptTokens:
        return self._refresh(*add_concept(self.model, self.tokenizer, self.vocab.codebook_size, concept))

    def add_released_concept(self, concept: str, folder: Path, epoch: int) -> ConceptTokens:
        return self._refresh(*load_released_concept(self.model, self.tokenizer, self.vocab.codebook_size, concept,
                                                    folder, epoch))

    def add_concept_from(self, folder: Path, concept: str, run_name: str | None = None,
                         epoch: int | None = None) -> ConceptTokens:
        """A concept from `folder/<concept>.safetensors` (ours) or UniCTokens' `folder/<concept>[/<run>]/epoch_<N>_*.pt`
        (the highest epoch unless `epoch` is given)."""
        name = path_component(concept, "concept")
        ours = folder / f"{name}.safetensors"
        if ours.is_file():
            return self.load_concept(ours)
        released = folder / name / run_name if run_name else folder / name
        epochs = epochs_in(released, r"epoch_(\d+)_embed\.pt")
        if not epochs:
            raise FileNotFoundError(f"concept weights for {concept} not found: expected {ours} or "
                                    f"{released}/epoch_<N>_embed.pt")
        return self.add_released_concept(concept, released, epoch if epoch is not None else epochs[-1])

    def add_trained_concept(self, concept: str, path: Path) -> ConceptTokens:
        """A concept as the authors' Sync-R1 training left it, `model_epoch<N>.pt`: the whole Show-o, concept rows
        included, replaces this one's weights (their harness injects the concept's tokens, then loads the file).
        A refused file leaves the pipeline as it was."""
        if self.concepts:
            raise ValueError(f"{path} holds a model for one concept; this pipeline already holds "
                             f"{', '.join(self.concepts)}")
        state = read_sync_r1_model(path)
        if EMBEDDINGS not in state:
            raise ValueError(f"{path} has no {EMBEDDINGS} (its first key: {next(iter(state), 'none')})")
        ids, base = state[EMBEDDINGS].shape[0], self.model.config.vocab_size
        if ids - base < 2:
            raise ValueError(f"{path} has {ids} ids: it does not extend this base's {base} "
                             f"by a concept's tokens (an identifier and latent tokens)")
        self.model.check_weights(state, str(path), vocab_size=ids)
        tokens = self._refresh(*add_concept(self.model, self.tokenizer, self.vocab.codebook_size, concept,
                                            ids - base - 1))
        self.model.load_weights(state, str(path))
        return tokens

    def load_concept(self, path: Path) -> ConceptTokens:
        return self._refresh(*load_concept(self.model, self.tokenizer, self.vocab.codebook_size, path))

    def save_concept(self, concept: str, path: Path) -> None:
        save_concept(self.model, self.tokenizer, self.concepts[concept], path)

    def preprocess(self, images: list[Image.Image], flips: list[bool] | None = None) -> torch.Tensor:
        """Show-o's transform: resize the short side, centre crop, mirror where `flips` says (after the crop, as
        the harness), scale to [-1, 1]."""
        from torchvision.transforms import functional as TF

        size = self.image_size
        tensors = []
        for k, image in enumerate(images):
            image = TF.center_crop(TF.resize(image.convert("RGB"), size, TF.InterpolationMode.BICUBIC), size)
            tensor = TF.to_tensor(image)
            tensors.append((tensor.flip(-1) if flips and flips[k] else tensor) * 2 - 1)
        return torch.stack(tensors).to(self.device)

    @torch.inference_mode()
    def encode_images(self, images: list[Image.Image], flips: list[bool] | None = None) -> torch.Tensor:
        return self.magvit.encode(self.preprocess(images, flips))

    @torch.inference_mode()
    def decode_images(self, codes: torch.Tensor) -> list[Image.Image]:
        """One image at a time: the decoder's float rounding differs with the batch (~1e-6), which flipped an 8-bit
        level of a pixel now and then, so an image depended on its batch though its codes did not."""
        return [Image.fromarray(to_pixels(self.magvit.decode(row[None]), self.pixels)[0]) for row in codes]

    def concept_ids(self, identifiers: bool = True) -> list[int]:
        """Token ids of every loaded concept: identifiers and latent tokens, or the latent tokens alone."""
        first = 0 if identifiers else 1
        return [i for tokens in self.concepts.values()
                for i in self.tokenizer.convert_tokens_to_ids(tokens.tokens[first:])]

    def understander(self, mmu_vocab: MmuVocab | None = None, latent_text: LatentText = "drop") -> Understander:
        """Understanding over the pipeline's `mmu_vocab`, or the one given (the trainer wants text only)."""
        return Understander(self.model, self.vocab, self.tokenizer, self.concept_ids(identifiers=False),
                            mmu_vocab or self.mmu_vocab, latent_text)

    def understand(self, images: list[Image.Image], questions: list[str], system_prompts: list[str] | None = None,
                   flips: list[bool] | None = None, latent_text: LatentText = "drop", **options: Any) -> list[str]:
        return self.understander(latent_text=latent_text).answer(self.encode_images(images, flips), questions,
                                                                 system_prompts, **options)

    def generate(self, prompts: list[str], seed: int | list[int] = 0, config: SamplerConfig = SamplerConfig(),
                 return_trajectory: bool = False) -> Any:
        """Images for the prompts; with `return_trajectory`, (images, codes, trajectory, prompt ids, uncond ids).

        One seed draws for the batch; a list (one per prompt) makes each image independent of its batch.
        """
        prompt_ids = encode_prompts(self.tokenizer, self.vocab, prompts, MAX_TEXT_LEN).to(self.device)
        uncond_ids = encode_prompts(self.tokenizer, self.vocab, [""] * len(prompts), MAX_TEXT_LEN).to(self.device)
        if isinstance(seed, list):
            generator: Any = [torch.Generator(device=self.device).manual_seed(s) for s in seed]
        else:
            generator = torch.Generator(device=self.device).manual_seed(seed)
        sampler = MaskGitSampler(self.model, self.vocab)
        codes, trajectory = sampler.generate(prompt_ids, self.model.config.num_vq_tokens, config, uncond_ids,
                                             generator, return_trajectory)
        images = self.decode_images(codes)
        return (images, codes, trajectory, prompt_ids, uncond_ids) if return_trajectory else images


def build_tiny_checkpoint(folder: Path, seed: int = 0, image_tokens: int = 64) -> tuple[Path, Path]:
    """A few-layer Show-o (with its tokenizer) and a tiny MAGVIT-v2 (256 codes) in the released layouts.

    Returns the (showo, magvit) folders for `ShowoPipeline.from_pretrained`.
    """
    torch.manual_seed(seed)
    magvit_config = Magvit2Config(channels=32, encoder_multipliers=[1, 2, 2], encoder_blocks=[1, 1, 1],
                                  decoder_multipliers=[1, 2, 2], decoder_blocks=[1, 1, 1], z_channels=8)
    magvit = Magvit2Tokenizer(magvit_config)
    bundle = ShowoBundle(folder)
    magvit.save_pretrained(bundle.magvit)
    tokenizer = build_tiny_tokenizer(bundle.showo)
    vocab = Vocab.from_tokenizer(tokenizer, magvit.codebook_size)
    config = ShowoConfig(vocab_size=vocab.size, llm_vocab_size=vocab.text_size - 10,
                         codebook_size=magvit.codebook_size, num_vq_tokens=image_tokens,
                         llm_model_path="(tiny, inline llm_config)", llm_config=tiny_llm_config())
    Showo(config).save_pretrained(bundle.showo)
    return bundle.showo, bundle.magvit
