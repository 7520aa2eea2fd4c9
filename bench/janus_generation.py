"""Janus image generation: the harness's loop (one prompt at a time, its own token loop over the model's modules,
as `janus_base.py` `_run_generation_batch` runs it) against `janus-tp` one request at a time (the default: the
harness's seeds) and with `prompt_batch=N`, side by side in one run on one random Janus.

Reports seconds per image for each and the ratios, and whether the default's images equal the harness loop's
(they must: same prompt, seed, guidance and sampling).

    python -m bench.janus_generation [--prompts 8] [--width 256] [--layers 4] [--image 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from baselines.base import GenerateRequest
from baselines.harness_seeds import stable_seed
from baselines.janus import Janus
from unifybench_pp.schema import Concept


def random_janus(path: Path, width: int, layers: int, image: int) -> Path:
    """A random Janus of the given width, depth and image size (patch 16 like the real one), with its processor."""
    from transformers import (JanusConfig, JanusForConditionalGeneration, JanusImageProcessor, JanusProcessor,
                              PreTrainedTokenizerFast)

    from baselines.showo.vocab import build_tiny_tokenizer

    specials = {"image_token": "<image_placeholder>", "boi_token": "<begin_of_image>", "eoi_token": "<end_of_image>"}
    core = build_tiny_tokenizer()
    core.add_special_tokens({"additional_special_tokens": [*specials.values(), "<|User|>", "<|Assistant|>"]})
    core.save_pretrained(path)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(path, extra_special_tokens=specials,
                                                        pad_token="<|endoftext|>")
    tokens = (image // 16) ** 2
    config = JanusConfig(
        text_config={"model_type": "llama", "hidden_size": width, "intermediate_size": 4 * width,
                     "num_hidden_layers": layers, "num_attention_heads": 4, "num_key_value_heads": 4,
                     "vocab_size": len(tokenizer), "max_position_embeddings": 2048,
                     "pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
                     "eos_token_id": tokenizer.eos_token_id},
        vision_config={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": image,
                       "patch_size": 16, "projection_dim": width, "num_image_tokens": tokens, "depth": 1},
        vq_config={"embed_dim": 8, "num_embeddings": 1024, "latent_channels": 32, "base_channels": 32,
                   "channel_multiplier": [1, 1, 1, 1, 1], "num_res_blocks": 1, "num_patches": image // 16,
                   "projection_dim": width, "image_token_embed_dim": width, "num_hidden_layers": 1},
        image_token_id=tokenizer.convert_tokens_to_ids(specials["image_token"]))
    torch.manual_seed(0)
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
    generated, past = [], None
    torch.manual_seed(seed)
    for _ in range(janus.recipe["image_tokens"]):
        out = core.language_model(inputs_embeds=embeds, use_cache=True, past_key_values=past)
        past = out.past_key_values
        logits = core.generation_head(out.last_hidden_state[:, -1, :])
        guided = logits[1] + janus.cfg_weight * (logits[0] - logits[1])
        token = torch.multinomial(torch.softmax(guided / janus.temperature, dim=-1), num_samples=1)
        generated.append(token)
        embeds = janus.model.prepare_embeddings_for_image_generation(torch.cat([token, token])).unsqueeze(1)
    pixels = janus.model.decode_image_tokens(torch.cat(generated)[None]).float().numpy()[0]
    return np.clip((pixels + 1.0) / 2.0 * 255.0, 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--image", type=int, default=64, help="pixels (a multiple of 16)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = random_janus(Path(folder) / "janus", args.width, args.layers, args.image)
        default = Janus(str(checkpoint), mode="tp")
        batched = Janus(str(checkpoint), mode="tp", prompt_batch=args.prompts)
        concept = Concept(id="bo", token="<bo>", class_noun="dog", category="pet", generation_type="live_subject",
                          info="<bo> is a corgi.", extra_info=[], train_images=[], test_images=[])
        requests = [GenerateRequest(f"dense_gen/bo/{k:03d}", "dense_gen", concept,
                                    f"a photo of <bo> on a beach, with a red ball number {k}", seed=1000 + k)
                    for k in range(args.prompts)]
        started = time.perf_counter()
        reference = [harness_image(default, default.generation_prompt(r), stable_seed(r.seed, "janus_image_batch", 0))
                     for r in requests]
        times = {"harness loop": time.perf_counter() - started}
        started = time.perf_counter()
        ours = default.generate(requests)
        times["janus-tp (one request at a time)"] = time.perf_counter() - started
        started = time.perf_counter()
        batched.generate(requests)
        times[f"janus-tp prompt_batch={args.prompts}"] = time.perf_counter() - started
    same = all(np.array_equal(np.asarray(a), b) for a, b in zip(ours, reference))
    print(f"{args.prompts} prompts, width {args.width}, {args.layers} layers, {args.image} px "
          f"({(args.image // 16) ** 2} image tokens), torch threads {torch.get_num_threads()}")
    base = times["harness loop"]
    for name, seconds in times.items():
        print(f"{name:40s} {seconds / args.prompts:7.3f} s/image   x{base / seconds:5.2f} vs the harness loop")
    print(f"default images equal the harness loop's: {same}")


if __name__ == "__main__":
    main()
