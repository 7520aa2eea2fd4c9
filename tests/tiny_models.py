"""Tiny random models saved in their libraries' released layouts, for loading through our real code."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from bench.clip_tokenizer import write_clip_tokenizer_files


def make_tiny_clip(path: Path, seed: int = 0) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    torch.manual_seed(seed)
    path.mkdir(parents=True, exist_ok=True)
    write_clip_tokenizer_files(path)
    tokenizer = CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"))
    config = CLIPConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 77,
                     "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    CLIPModel(config).eval().save_pretrained(path)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)
    return path


def make_tiny_llava(path: Path, seed: int = 0) -> Path:
    """A 1-layer LLaVA (CLIP vision tower + Llama) with a chat template, saved with its processor."""
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    from baselines.showo.vocab import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    config = LlavaConfig(
        vision_config={"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                       "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        text_config={"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": len(tokenizer),
                     "max_position_embeddings": 1024, "pad_token_id": tokenizer.pad_token_id,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id},
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"), vision_feature_layer=-1,
        vision_feature_select_strategy="default")
    torch.manual_seed(seed)
    LlavaForConditionalGeneration(config).save_pretrained(path)
    template = ("{% for m in messages %}{{ m['role'] }}: {% for c in m['content'] %}"
                "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
                "{% endfor %}{% if add_generation_prompt %} assistant:{% endif %}")
    LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32,
                                                                                             "width": 32}),
                   tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="default",
                   num_additional_image_tokens=1, chat_template=template).save_pretrained(path)
    return path


def make_tiny_stable_diffusion(path: Path, seed: int = 0) -> Path:
    """A Stable Diffusion pipeline of tiny random parts (UNet, VAE, CLIP text encoder), saved as diffusers does."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    path.mkdir(parents=True, exist_ok=True)
    write_clip_tokenizer_files(path)
    tokenizer = CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"), model_max_length=77)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                                num_hidden_layers=1, num_attention_heads=2,
                                                max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                                                pad_token_id=1))
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=4, norm_num_groups=8)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(32, 32),
                        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=8, sample_size=16)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=DDIMScheduler(), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(path / "pipeline")
    return path / "pipeline"


OPENAI_CLIP_TINY = {"embed_dim": 16, "width": 64, "layers": 2, "image_size": 32, "patch_size": 8}
"""A CLIP with OpenAI's layout (49408-token BPE, 77 positions, 64-wide heads), small enough for a test."""


def make_tiny_openai_clip(seed: int = 0) -> dict:
    """Random float16-valued weights in OpenAI's CLIP layout (open_clip's `CLIP`, QuickGELU), as a state dict."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(seed)
    d = OPENAI_CLIP_TINY
    model = CLIP(d["embed_dim"], CLIPVisionCfg(layers=d["layers"], width=d["width"], patch_size=d["patch_size"],
                                               image_size=d["image_size"]),
                 CLIPTextCfg(width=d["width"], heads=d["width"] // 64, layers=d["layers"]), quick_gelu=True)
    with torch.no_grad():  # weights of a trained model's scale, so the activation's shape matters
        for name, parameter in model.named_parameters():
            if parameter.ndim > 1 and "embedding" not in name:
                parameter.normal_(0.0, 1.5 / parameter.shape[-1] ** 0.5)
    # OpenAI's published weights are float16 values (their loader rounds to float16 too)
    return {k: v.detach().half().float() for k, v in model.state_dict().items()}


def save_openai_torchscript(state: dict, path: Path) -> Path:
    """The state in OpenAI's published format: a TorchScript archive of the traced model (what `clip.load` reads)."""
    from open_clip.model import build_model_from_openai_state_dict

    model = build_model_from_openai_state_dict(dict(state), quick_gelu=True, cast_dtype=None).float().eval()
    size = OPENAI_CLIP_TINY["image_size"]
    images, text = torch.ones(1, 3, size, size), torch.zeros(1, model.context_length, dtype=torch.int)
    traced = torch.jit.trace_module(model, {"forward": (images, text), "encode_image": (images,),
                                            "encode_text": (text,)})
    torch.jit.save(traced, str(path))
    return path


def save_open_clip_dir(state: dict, folder: Path, quick_gelu: bool) -> Path:
    """The state in open_clip's folder layout (`open_clip_config.json` + weights), with the activation given."""
    from safetensors.torch import save_file

    d = OPENAI_CLIP_TINY
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": {"embed_dim": d["embed_dim"], "quick_gelu": quick_gelu,
                            "vision_cfg": {"layers": d["layers"], "width": d["width"], "patch_size": d["patch_size"],
                                           "image_size": d["image_size"]},
                            "text_cfg": {"width": d["width"], "heads": d["width"] // 64, "layers": d["layers"]}},
              "preprocess_cfg": {}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "open_clip_model.safetensors"))
    return folder


def write_openai_bpe_tokenizer_files(path: Path) -> None:
    """OpenAI's CLIP vocabulary (open_clip's bundled BPE file) in the vocab.json / merges.txt form transformers reads:
    256 byte symbols, the same with `</w>`, one per merge, then the two special tokens (ids 49406, 49407)."""
    import gzip

    from open_clip.tokenizer import bytes_to_unicode, default_bpe

    merges = gzip.open(default_bpe()).read().decode("utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]
    symbols = list(bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (path / "vocab.json").write_text(json.dumps({token: k for k, token in enumerate(vocab)}))
    (path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")


def _split_attention(prefix: str, old: str, state: dict, out: dict) -> None:
    for kind in ("weight", "bias"):
        q, k, v = state[f"{old}.attn.in_proj_{kind}"].chunk(3)
        out.update({f"{prefix}.self_attn.q_proj.{kind}": q, f"{prefix}.self_attn.k_proj.{kind}": k,
                    f"{prefix}.self_attn.v_proj.{kind}": v,
                    f"{prefix}.self_attn.out_proj.{kind}": state[f"{old}.attn.out_proj.{kind}"],
                    f"{prefix}.layer_norm1.{kind}": state[f"{old}.ln_1.{kind}"],
                    f"{prefix}.layer_norm2.{kind}": state[f"{old}.ln_2.{kind}"],
                    f"{prefix}.mlp.fc1.{kind}": state[f"{old}.mlp.c_fc.{kind}"],
                    f"{prefix}.mlp.fc2.{kind}": state[f"{old}.mlp.c_proj.{kind}"]})


def save_transformers_clip(state: dict, path: Path, hidden_act: str = "quick_gelu") -> Path:
    """The same weights as a transformers `CLIPModel` folder (with OpenAI's tokenizer and preprocessing): the
    mapping OpenAI -> transformers written out key by key, independently of the loaders under test."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    d = OPENAI_CLIP_TINY
    path.mkdir(parents=True, exist_ok=True)
    out = {"logit_scale": state["logit_scale"],
           "text_model.embeddings.token_embedding.weight": state["token_embedding.weight"],
           "text_model.embeddings.position_embedding.weight": state["positional_embedding"],
           "text_model.final_layer_norm.weight": state["ln_final.weight"],
           "text_model.final_layer_norm.bias": state["ln_final.bias"],
           "text_projection.weight": state["text_projection"].T,
           "vision_model.embeddings.class_embedding": state["visual.class_embedding"],
           "vision_model.embeddings.patch_embedding.weight": state["visual.conv1.weight"],
           "vision_model.embeddings.position_embedding.weight": state["visual.positional_embedding"],
           "vision_model.pre_layrnorm.weight": state["visual.ln_pre.weight"],
           "vision_model.pre_layrnorm.bias": state["visual.ln_pre.bias"],
           "vision_model.post_layernorm.weight": state["visual.ln_post.weight"],
           "vision_model.post_layernorm.bias": state["visual.ln_post.bias"],
           "visual_projection.weight": state["visual.proj"].T}
    for layer in range(d["layers"]):
        _split_attention(f"text_model.encoder.layers.{layer}", f"transformer.resblocks.{layer}", state, out)
        _split_attention(f"vision_model.encoder.layers.{layer}", f"visual.transformer.resblocks.{layer}", state, out)
    common = {"hidden_size": d["width"], "intermediate_size": 4 * d["width"], "num_hidden_layers": d["layers"],
              "num_attention_heads": d["width"] // 64, "hidden_act": hidden_act, "layer_norm_eps": 1e-5}
    config = CLIPConfig(text_config={**common, "vocab_size": 49408, "max_position_embeddings": 77,
                                     "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 49407},
                        vision_config={**common, "image_size": d["image_size"], "patch_size": d["patch_size"]},
                        projection_dim=d["embed_dim"])
    model = CLIPModel(config)
    missing, unexpected = model.load_state_dict({k: v.contiguous() for k, v in out.items()}, strict=False)
    assert not unexpected and all("position_ids" in k for k in missing), (missing, unexpected)
    model.eval().save_pretrained(path)
    write_openai_bpe_tokenizer_files(path)
    tokenizer = CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"))
    size = d["image_size"]
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": size},
                                                                 crop_size={"height": size, "width": size}),
                              tokenizer=tokenizer)
    processor.save_pretrained(path)
    return path


def make_tiny_janus(path: Path, seed: int = 0) -> Path:
    """A 1-layer Janus with its processor: 32 px images, patch 8, 16 image tokens, 64 codes."""
    from bench.janus_reference import random_janus

    return random_janus(path, width=32, layers=1, image=32, patch=8, codes=64, seed=seed)


def make_tiny_omnigen(path: Path, seed: int = 0) -> Path:
    """A 1-layer OmniGen (Phi-3-style transformer, 4-block VAE, flow-matching scheduler) with a tiny tokenizer,
    saved as a diffusers pipeline."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, OmniGenPipeline, OmniGenTransformer2DModel

    from baselines.showo.vocab import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(seed)
    transformer = OmniGenTransformer2DModel(
        hidden_size=16, num_attention_heads=4, num_key_value_heads=4, intermediate_size=32, num_layers=1,
        in_channels=4, time_step_dim=4, rope_scaling={"long_factor": [1, 2], "short_factor": [1, 2]},
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id or 0)
    vae = AutoencoderKL(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4, 4, 4, 4),
                        layers_per_block=1, latent_channels=4, norm_num_groups=1,
                        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)
    scheduler = FlowMatchEulerDiscreteScheduler(invert_sigmas=True, num_train_timesteps=1)
    OmniGenPipeline(transformer=transformer, vae=vae, scheduler=scheduler, tokenizer=tokenizer).save_pretrained(path)
    return path


def make_tiny_emu3(path: Path, seed: int = 0, codes: int = 64) -> Path:
    """A 1-layer Emu3 with its processor: 32 px images, an 8x VQ (4 levels of channels 32, GroupNorm(32)), `codes`
    visual tokens. The tokenizer declares Emu3's image tokens at construction (they would not survive
    `save_pretrained` otherwise) and its vocabulary holds the visual, end-of-line and image tokens the model's
    vocabulary map reads. Serves as both the Chat and the Gen checkpoint."""
    from transformers import (
        Emu3Config,
        Emu3ForConditionalGeneration,
        Emu3ImageProcessor,
        Emu3Processor,
        PreTrainedTokenizerFast,
    )

    from baselines.showo.vocab import build_tiny_tokenizer

    specials = {"image_token": "<image>", "boi_token": "<|image start|>", "eoi_token": "<|image end|>",
                "image_wrapper_token": "<|image token|>", "eof_token": "<|extra_201|>"}
    core = build_tiny_tokenizer()
    visual = [f"<|visual token {k:06d}|>" for k in range(codes)]
    core.add_special_tokens({"additional_special_tokens": [*specials.values(), "<|extra_200|>", *visual]})
    core.save_pretrained(path)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(path, extra_special_tokens=specials,
                                                        pad_token="<|endoftext|>")
    config = Emu3Config(
        vq_config={"codebook_size": codes, "embed_dim": 4, "latent_channels": 4, "base_channels": 32,
                   "channel_multiplier": [1, 1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [],
                   "temporal_downsample_factor": 2, "hidden_size": 32, "num_attention_heads": 1},
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 4,
                     "max_position_embeddings": 2048, "pad_token_id": tokenizer.pad_token_id,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id},
        vocabulary_map=tokenizer.get_vocab())
    torch.manual_seed(seed)
    Emu3ForConditionalGeneration(config).eval().save_pretrained(path)
    Emu3Processor(image_processor=Emu3ImageProcessor(min_pixels=32 * 32, max_pixels=32 * 32),
                  tokenizer=tokenizer).save_pretrained(path)
    return path
