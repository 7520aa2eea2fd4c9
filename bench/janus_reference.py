"""The authors' Janus image loop restated (`janus_base.py` `_run_generation_batch`), and a random Janus of any
size: the reference `janus-tp` / `janus-ip` are measured against, in tests and in `bench.janus_generation`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from baselines.base import cache_keyword
from baselines.janus import Janus


def random_janus(path: Path, width: int, layers: int, image: int, patch: int = 16, codes: int = 1024,
                 seed: int = 0) -> Path:
    """A random Janus of the given width, depth, image size, patch (16 in the real one) and codebook, with its
    processor. The tokenizer declares Janus's image tokens at construction (they would not survive
    `save_pretrained` otherwise); the VQ's channels are multiples of 32 (GroupNorm(32)) and its downsampling
    equals the vision patch size."""
    from transformers import (
        JanusConfig,
        JanusForConditionalGeneration,
        JanusImageProcessor,
        JanusProcessor,
        PreTrainedTokenizerFast,
    )

    from baselines.showo.vocab import build_tiny_tokenizer

    specials = {"image_token": "<image_placeholder>", "boi_token": "<begin_of_image>", "eoi_token": "<end_of_image>"}
    core = build_tiny_tokenizer()
    core.add_special_tokens({"additional_special_tokens": [*specials.values(), "<|User|>", "<|Assistant|>"]})
    core.save_pretrained(path)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(path, extra_special_tokens=specials,
                                                        pad_token="<|endoftext|>")
    tokens = (image // patch) ** 2
    levels = patch.bit_length()  # downsampling 2 ** (levels - 1) == patch
    config = JanusConfig(
        text_config={"model_type": "llama", "hidden_size": width, "intermediate_size": 4 * width,
                     "num_hidden_layers": layers, "num_attention_heads": 4, "num_key_value_heads": 4,
                     "vocab_size": len(tokenizer), "max_position_embeddings": 2048,
                     "pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
                     "eos_token_id": tokenizer.eos_token_id},
        vision_config={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": image,
                       "patch_size": patch, "projection_dim": width, "num_image_tokens": tokens, "depth": 1},
        vq_config={"embed_dim": 8, "num_embeddings": codes, "latent_channels": 32, "base_channels": 32,
                   "channel_multiplier": [1] * levels, "num_res_blocks": 1, "num_patches": image // patch,
                   "projection_dim": width, "image_token_embed_dim": width, "num_hidden_layers": 1},
        image_token_id=tokenizer.convert_tokens_to_ids(specials["image_token"]))
    torch.manual_seed(seed)
    JanusForConditionalGeneration(config).eval().save_pretrained(path)
    JanusProcessor(image_processor=JanusImageProcessor(size={"height": image, "width": image}), tokenizer=tokenizer,
                   num_image_tokens=tokens).save_pretrained(path)
    return path


@torch.inference_mode()
def harness_image(janus: Janus, prompt: str, seed: int) -> np.ndarray:
    """The harness's sampling loop for one image: interleaved cond/uncond rows, the uncond prompt padded but for
    its first and last token, CFG on the generation head's raw logits, softmax sampling, then decode."""
    core = janus.model.model
    ids = janus.processor.tokenizer(prompt + janus.processor.tokenizer.boi_token, return_tensors="pt")["input_ids"][0]
    rows = torch.stack([ids, ids.clone()])
    rows[1, 1:-1] = janus.pad_token_id
    embeds = janus.model.get_input_embeddings()(rows)
    generated, past, cache_arg = [], None, cache_keyword(core.language_model.forward)  # the harness's past_key_values
    torch.manual_seed(seed)
    for _ in range(janus.recipe["image_tokens"]):
        out = core.language_model(inputs_embeds=embeds, use_cache=True, **{cache_arg: past})
        past = getattr(out, cache_arg)
        logits = core.generation_head(out.last_hidden_state[:, -1, :])
        guided = logits[1] + janus.cfg_weight * (logits[0] - logits[1])
        token = torch.multinomial(torch.softmax(guided / janus.temperature, dim=-1), num_samples=1)
        generated.append(token)
        embeds = janus.model.prepare_embeddings_for_image_generation(torch.cat([token, token])).unsqueeze(1)
    pixels = janus.model.decode_image_tokens(torch.cat(generated)[None]).float().numpy()[0]
    return np.clip((pixels + 1.0) / 2.0 * 255.0, 0, 255).astype(np.uint8)
