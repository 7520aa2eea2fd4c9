"""`bagel-tp` / `bagel-ip`: ByteDance's BAGEL (BAGEL-7B-MoT) driven through a local checkout of its repository,
given the inputs and settings the public Sync-R1 harness gives it (`evaluation/adapters/bagel_base.py`,
`external_baseline.py`).

BAGEL is in neither transformers nor diffusers: its own `InterleaveInferencer` runs it, on CUDA only (its code
moves tensors to "cuda" by name), so `--option code_root=PATH` names the checkout (`git clone
https://github.com/ByteDance-Seed/Bagel`) and `--checkpoint` the weights folder (`ByteDance-Seed/BAGEL-7B-MoT`).

What each request becomes, as the harness builds it: one call of `interleave_inference(input_lists, ...)` with

- generation: `["a photo of <c>", <first training photo> (IP only), <prompt>]`, the prompt being the item's
  source prompt with the `name:/info:` lines before it in TP. "a photo of <c>" is given in TP too. Guidance
  `cfg_text_scale` 4.0, `cfg_img_scale` 1.0 (TP) / 2.0 (IP), guidance interval [0.4, 1.0] (TP) / [0.0, 1.0]
  (IP), renormalisation `global` (TP) / `text_channel` (IP) with `cfg_renorm_min` 0.0, timestep shift 3.0,
  50 steps, 1024x1024, no thinking. In IP, BAGEL's inferencer takes the output shape from the last input image
  (the reference photo after its resize: sides multiples of 16, longest at most 1024, shortest at least 512).
- understanding: `["a photo of <c>", <first training photo> (IP only), <test image> (unless black), <question>]`,
  the question with the TP lines in TP; greedy (`do_sample=False`, `text_temperature` 1e-5), at most 100 tokens.
- Rea. Gen. / Dense Rea. Gen.: the harness gives BAGEL the item's implicit prompt, not BAGEL's own rewrite
  (Janus, and the paper's two-stage rule, use the rewrite). `ubpp evaluate`'s default `--reasoning-input
  harness` does the same for BAGEL; `--reasoning-input own` gives it the two-stage rule.
- seeds: the harness's: per request `stable_seed(seed, "bagel_tp"|"bagel_ip", family, task, concept, 0,
  item)`, then before the image `stable_seed(request seed, "bagel_image", 0)` and before an answer
  `stable_seed(request seed, "bagel_text")`, each seeding Python's, NumPy's and torch's streams. One request at
  a time, one image per request.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from unifybench_pp.prompts import with_tp_prefix
from unifybench_pp.schema import Concept

from .base import GenerateRequest, ModelError, UnderstandRequest, checked_number, open_rgb
from .harness_inputs import conditioning_text, shown_image, source_prompt
from .harness_seeds import request_seed, stable_seed

REPOSITORY = "https://github.com/ByteDance-Seed/Bagel"
WEIGHTS = "ByteDance-Seed/BAGEL-7B-MoT"
WEIGHT_FILES = ("llm_config.json", "vit_config.json", "ae.safetensors", "ema.safetensors")
RENORM_TYPES = ("global", "channel", "text_channel")
SHARED_MODULES = ("language_model.model.embed_tokens", "time_embedder", "latent_pos_embed", "vae2llm", "llm2vae",
                  "connector", "vit_pos_embed")
"""Modules BAGEL's forward pass expects on one device (its README's multi-GPU recipe pins them together)."""


@dataclass(frozen=True)
class BagelSampling:
    """The harness's settings for one mode; `None` means the mode's own value (see the module docstring)."""

    mode: str
    cfg_text_scale: float = 4.0
    cfg_img_scale: float | None = None
    cfg_interval_start: float | None = None
    cfg_renorm_type: str | None = None
    cfg_renorm_min: float = 0.0
    timestep_shift: float = 3.0
    num_timesteps: int = 50
    height: int = 1024
    width: int = 1024
    max_new_tokens: int = 100
    text_temperature: float = 1e-5
    think: bool = False

    def __post_init__(self) -> None:
        tp = self.mode == "tp"
        defaults = {"cfg_img_scale": 1.0 if tp else 2.0, "cfg_interval_start": 0.4 if tp else 0.0,
                    "cfg_renorm_type": "global" if tp else "text_channel"}
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        adapter = f"bagel-{self.mode}"
        for name in ("cfg_text_scale", "cfg_img_scale", "cfg_interval_start", "cfg_renorm_min", "timestep_shift",
                     "text_temperature"):
            object.__setattr__(self, name, checked_number(adapter, name, getattr(self, name)))
        for name, least in (("num_timesteps", 1), ("height", 16), ("width", 16), ("max_new_tokens", 1)):
            object.__setattr__(self, name, checked_number(adapter, name, getattr(self, name), whole=True,
                                                          least=least))
        if self.cfg_renorm_type not in RENORM_TYPES:
            raise ModelError(f"bagel cfg_renorm_type must be one of {', '.join(RENORM_TYPES)}, "
                             f"got {self.cfg_renorm_type!r}")
        if self.height % 16 or self.width % 16:
            raise ModelError(f"{adapter}: height and width must be multiples of 16, not {self.height} x {self.width}")

    def generation_kwargs(self) -> dict[str, Any]:
        return {"think": self.think, "understanding_output": False, "image_shapes": (self.height, self.width),
                "cfg_text_scale": self.cfg_text_scale, "cfg_img_scale": self.cfg_img_scale,
                "cfg_interval": [self.cfg_interval_start, 1.0], "timestep_shift": self.timestep_shift,
                "num_timesteps": self.num_timesteps, "cfg_renorm_min": self.cfg_renorm_min,
                "cfg_renorm_type": self.cfg_renorm_type}

    def understanding_kwargs(self) -> dict[str, Any]:
        return {"think": self.think, "understanding_output": True, "max_think_token_n": self.max_new_tokens,
                "do_sample": False, "text_temperature": self.text_temperature}


class Bagel:
    """Drives any object with BAGEL's `interleave_inference(input_lists, **settings) -> list[str | Image]`."""

    capabilities = {"understand", "generate"}
    harness_reasoning_input = "implicit"
    """What the authors' harness feeds BAGEL's Rea. Gen. (see the module docstring)."""

    def __init__(self, inferencer: Any, sampling: BagelSampling) -> None:
        self.inferencer, self.sampling = inferencer, sampling
        self.mode = sampling.mode
        self.name, self.harness_name = f"bagel-{self.mode}", f"bagel_{self.mode}"
        self.recipe = {**{k: v for k, v in asdict(sampling).items() if k != "mode"},
                       "ip_output_shape": "the reference photo's, after BAGEL's resize (as its inferencer does)",
                       "understanding": "greedy (do_sample=False)", "images_per_request": 1,
                       "rea_gen_input": "the implicit prompt under --reasoning-input harness (the authors' flow)",
                       "seed": "harness stable_seed per request; then 'bagel_image', 0 / 'bagel_text' "
                               "(Python, NumPy, torch)", "precision": "bfloat16", "batching": "one request at a time"}
        self._references: dict[str, Image.Image] = {}

    def personalize(self, concept: Concept, train_images: list[Path]) -> None:
        if self.mode == "ip" and not train_images:
            raise ModelError(f"bagel-ip: concept {concept.id} has no training photo to show")
        if train_images:
            self._references[concept.id] = open_rgb(train_images[0])

    def request_seed(self, base_seed: int, task: str, concept: str, item_id: str) -> int:
        return request_seed(base_seed, self.harness_name, task, concept, 0, item_id)

    def _lead(self, concept: Concept) -> list[Any]:
        return [conditioning_text(concept)] + ([self._references[concept.id]] if self.mode == "ip" else [])

    def _text(self, concept: Concept, text: str) -> str:
        return with_tp_prefix(concept, text) if self.mode == "tp" else text

    def generation_input(self, request: GenerateRequest) -> list[Any]:
        return self._lead(request.concept) + [self._text(request.concept, source_prompt(request))]

    def understanding_input(self, request: UnderstandRequest) -> list[Any]:
        return self._lead(request.concept) + shown_image(request) + [self._text(request.concept, request.prompt)]

    @torch.inference_mode()
    def generate(self, requests: list[GenerateRequest]) -> list[Image.Image]:
        images = []
        for request in requests:
            _seed_everything(stable_seed(request.seed, "bagel_image", 0))
            outputs = self.inferencer.interleave_inference(self.generation_input(request),
                                                           **self.sampling.generation_kwargs())
            image = next((o for o in outputs if isinstance(o, Image.Image)), None)
            if image is None:
                raise ModelError(f"{self.name}: BAGEL returned no image for {request.item_id}")
            images.append(image)
        return images

    @torch.inference_mode()
    def understand(self, requests: list[UnderstandRequest]) -> list[str]:
        answers = []
        for request in requests:
            _seed_everything(stable_seed(request.seed, "bagel_text"))
            outputs = self.inferencer.interleave_inference(self.understanding_input(request),
                                                           **self.sampling.understanding_kwargs())
            answers.append("".join(o for o in outputs if isinstance(o, str)).strip())
        return answers


def _seed_everything(seed: int) -> None:
    """The harness's `set_global_seed`: Python's, NumPy's and torch's (every device's) streams."""
    from transformers import set_seed

    set_seed(seed)


def code_root_of(code_root: str | None, checkpoint: str | None) -> Path:
    """The BAGEL checkout: `code_root`, else (as the harness looks) the weights folder or one of its parents."""
    candidates = [Path(code_root).expanduser()] if code_root else []
    if checkpoint and not code_root:
        weights = Path(checkpoint).expanduser()
        candidates += [weights, weights.parent, weights.parent.parent]
    for candidate in candidates:
        if (candidate / "inferencer.py").is_file() and (candidate / "modeling").is_dir() \
                and (candidate / "data").is_dir():
            return candidate
    where = f" ({code_root} has no inferencer.py, modeling/ and data/)" if code_root else ""
    raise ModelError(f"bagel needs a local checkout of BAGEL's code{where}: git clone {REPOSITORY} and pass "
                     f"--option code_root=PATH")


def weights_of(checkpoint: str | None) -> Path:
    missing = WEIGHT_FILES if not checkpoint else \
        [f for f in WEIGHT_FILES if not (Path(checkpoint).expanduser() / f).is_file()]
    if missing:
        raise ModelError(f"weights for bagel not found{f' at {checkpoint}' if checkpoint else ''} "
                         f"(missing {', '.join(missing)}): download {WEIGHTS} and pass --checkpoint PATH")
    return Path(checkpoint).expanduser()


def load_inferencer(code_root: Path, weights: Path, max_memory_per_gpu: str | None = None,
                    offload_dir: str | None = None) -> Any:
    """BAGEL's `InterleaveInferencer` built as BAGEL's README and the harness build it: configs from the weights
    folder (QK-norm, untied embeddings, the MoT decoder layer; the ViT without its last layer and without
    rope), weights dispatched in bfloat16 over the visible GPUs with the shared modules on one device."""
    if str(code_root) not in sys.path:
        sys.path.insert(0, str(code_root))
    import accelerate

    inferencer_module = importlib.import_module("inferencer")
    data_utils = importlib.import_module("data.data_utils")
    transforms = importlib.import_module("data.transforms")
    bagel = importlib.import_module("modeling.bagel")
    qwen2 = importlib.import_module("modeling.qwen2")
    autoencoder = importlib.import_module("modeling.autoencoder")

    llm_config = bagel.Qwen2Config.from_json_file(str(weights / "llm_config.json"))
    llm_config.qk_norm, llm_config.tie_word_embeddings = True, False
    llm_config.layer_module = "Qwen2MoTDecoderLayer"
    vit_config = bagel.SiglipVisionConfig.from_json_file(str(weights / "vit_config.json"))
    vit_config.rope = False
    vit_config.num_hidden_layers -= 1
    vae_model, vae_config = autoencoder.load_ae(local_path=str(weights / "ae.safetensors"))
    config = bagel.BagelConfig(visual_gen=True, visual_und=True, llm_config=llm_config, vit_config=vit_config,
                               vae_config=vae_config, vit_max_num_patch_per_side=70,
                               connector_act="gelu_pytorch_tanh", latent_patch_size=2, max_latent_size=64)
    with accelerate.init_empty_weights():
        model = bagel.Bagel(bagel.Qwen2ForCausalLM(llm_config), bagel.SiglipVisionModel(vit_config), config)
        model.vit_model.vision_model.embeddings.convert_conv2d_to_linear(vit_config, meta=True)
    tokenizer, new_token_ids, _ = data_utils.add_special_tokens(qwen2.Qwen2Tokenizer.from_pretrained(str(weights)))

    gpus = range(torch.cuda.device_count())
    memory = {k: max_memory_per_gpu or f"{max(1, int(torch.cuda.mem_get_info(k)[0] / 2**30 * 0.9))}GiB"
              for k in gpus}
    device_map = accelerate.infer_auto_device_map(model, max_memory=memory,
                                                  no_split_module_classes=["Bagel", "Qwen2MoTDecoderLayer"])
    first = device_map.get(SHARED_MODULES[0], 0)
    device_map.update({name: first for name in SHARED_MODULES})
    offload = Path(offload_dir or "bagel_offload").expanduser() / f"pid_{os.getpid()}"
    offload.mkdir(parents=True, exist_ok=True)
    model = accelerate.load_checkpoint_and_dispatch(
        model, checkpoint=str(weights / "ema.safetensors"), device_map=device_map, offload_buffers=True,
        dtype=torch.bfloat16, force_hooks=True, offload_folder=str(offload)).eval()
    return inferencer_module.InterleaveInferencer(
        model=model, vae_model=vae_model, tokenizer=tokenizer, vae_transform=transforms.ImageTransform(1024, 512, 16),
        vit_transform=transforms.ImageTransform(980, 224, 14), new_token_ids=new_token_ids)


def _bagel(mode: str, checkpoint: str | None, device: str, code_root: str | None = None,
           max_memory_per_gpu: str | None = None, offload_dir: str | None = None, **options: Any) -> Bagel:
    """Settings are checked, then the checkout, the weights and the GPU, each as one line, before anything
    loads."""
    sampling = BagelSampling(mode, **options)
    root, weights = code_root_of(code_root, checkpoint), weights_of(checkpoint)
    if not str(device).startswith("cuda") or not torch.cuda.is_available():
        raise ModelError(f"bagel-{mode} needs a CUDA GPU (BAGEL's inferencer runs on 'cuda' only): "
                         f"{'none is visible here' if not torch.cuda.is_available() else 'pass --device cuda'}")
    return Bagel(load_inferencer(root, weights, max_memory_per_gpu, offload_dir), sampling)


def bagel_tp(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> Bagel:
    return _bagel("tp", checkpoint, device, **options)


def bagel_ip(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> Bagel:
    return _bagel("ip", checkpoint, device, **options)
