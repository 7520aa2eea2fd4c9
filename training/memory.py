"""Peak memory of one Sync-R1 training step, predicted from the architecture and the settings.

Why a model and not a guess: the whole-graph loss kept every denoising step's
activations (hundreds of GB at Show-o's size); the trainer now back-propagates
one (rows, step) piece at a time, so the activation term is one piece's, and
the rest is weights, gradients, AdamW state, the reference and the rollout's
inference working set. What autograd keeps per layer and token is not written
down by hand: `probe` counts the bytes of the tensors autograd saves for one
piece (`saved_tensors_hooks`) on Show-o's real width at two short image
lengths and one and two layers, and `predict` extrapolates that count to the
configured length and depth. `bench/training_memory.py` measures the real
thing (peak RSS at Show-o's width, 1024 image tokens, CFG) to check it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from baselines.showo.model import Showo, ShowoConfig, tiny_llm_config
from baselines.showo.sampler import MAX_TEXT_LEN, MaskGitSampler, SamplerConfig
from baselines.showo.vocab import Vocab
from unifybench_pp.errors import SettingsError

from .config import TrainConfig

GB = 1e9
MB = 1e6

SHOWO_VOCAB = Vocab(text_size=50305, codebook_size=8192, pad=50295, bos=50256, eos=50256, soi=50296, eoi=50297,
                    t2i=50300, mmu=50301)
"""Show-o's id layout: Phi-1.5 text (50,295) + [PAD] + 9 task tokens, 8,192 codes, 1 mask."""


@dataclass(frozen=True)
class Arch:
    hidden: int = 2048
    mlp: int = 8192
    layers: int = 24
    heads: int = 32
    image_tokens: int = 1024
    vocab: Vocab = SHOWO_VOCAB

    @property
    def parameters(self) -> int:
        """Phi-1.5 with Show-o's vocabulary and QK-LayerNorm (biases on every linear, LayerNorm weight + bias)."""
        h, f, v = self.hidden, self.mlp, self.vocab.size
        layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 2 * h + 4 * (h // self.heads)
        return 2 * v * h + v + 2 * h + self.layers * layer

    @property
    def piece_shape(self) -> tuple[int, ...]:
        """What a loss piece's per-layer and per-position costs depend on (not depth, image length or token ids)."""
        return self.hidden, self.mlp, self.heads, self.vocab.size, self.vocab.codebook_size

    def model(self, layers: int | None = None, image_tokens: int | None = None) -> Showo:
        llm = tiny_llm_config(self.hidden, layers or self.layers, self.heads)
        llm["intermediate_size"] = self.mlp
        config = ShowoConfig(vocab_size=self.vocab.size, llm_vocab_size=50295, codebook_size=self.vocab.codebook_size,
                             num_vq_tokens=image_tokens or self.image_tokens, llm_config=llm)
        return Showo(config).eval()


SHOWO_512 = Arch()
"""Show-o 1.3B at 512 px (`showlab/show-o-512x512`): 24 layers, width 2048, MLP 8192, 1024 image tokens."""

SCORER_PARAMETERS = {"ber": 1.17e9, "der": 86e6, "fer": 28e6, "tier": 23e6, "magvit": 0.12e9}
"""Approximate parameter counts of the paper preset's other models (BLIP-2 ITM ViT-g, DINOv2-base, MTCNN +
FaceNet, MiniLM, MAGVIT-v2), held in float32."""


@dataclass(frozen=True)
class PieceCost:
    """Bytes autograd keeps for one piece: per layer a + b·T (T tokens over all sequences; a: the weights' bf16
    casts under autocast), plus c + d·N outside the layers (embedding, output head, loss; N image positions)."""

    per_layer: float
    per_token: float
    fixed: float
    per_position: float

    def activations(self, arch: Arch, rows: int, checkpointing: bool, bytes_per_value: int) -> float:
        tokens = rows * (MAX_TEXT_LEN + 1 + arch.image_tokens + 2)
        layer = self.per_layer + self.per_token * tokens
        outside = self.fixed + self.per_position * rows * arch.image_tokens
        if checkpointing:  # each layer's input is kept; one layer's activations are rebuilt at a time
            return arch.layers * tokens * arch.hidden * bytes_per_value + layer + outside
        return arch.layers * layer + outside


def _saved_bytes(model: Showo, arch: Arch, image_tokens: int, guidance: float, precision: str) -> float:
    """Bytes of the distinct tensors autograd saves for one row's step piece (its loss included)."""
    generator = torch.Generator().manual_seed(0)
    v = arch.vocab
    prompt = torch.full((1, MAX_TEXT_LEN + 1), v.pad)
    prompt[0, -20:] = torch.randint(0, min(50000, v.text_size), (20,), generator=generator)
    uncond = torch.full((1, MAX_TEXT_LEN + 1), v.pad)
    state = torch.randint(0, v.codebook_size + 1, (1, image_tokens), generator=generator)
    prediction = torch.randint(0, v.codebook_size, (1, image_tokens), generator=generator)
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    sampler = MaskGitSampler(model, v)
    autocast = torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16")
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast:
        logp = sampler.step_logprobs(prompt, state, prediction, SamplerConfig(guidance_scale=guidance), uncond)
        (logp - logp.detach()).exp().sum().backward()
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    return float(sum(n for ptr, n in seen.items() if ptr not in parameters))


def probe(arch: Arch = SHOWO_512, guidance: float = 5.0, precision: str = "no") -> PieceCost:
    """Count the saved bytes at image lengths 32 and 64 with one and two layers, and solve for the coefficients.

    Memory-efficient attention keeps no T² term (the count at two lengths is linear in T; checked in fp32)."""
    lengths = (32, 64)
    models = {layers: arch.model(layers).requires_grad_(True) for layers in (1, 2)}
    counts = {(layers, n): _saved_bytes(model, arch, n, guidance, precision)
              for layers, model in models.items() for n in lengths}
    rows = 2 if guidance > 0 else 1
    tokens = [rows * (MAX_TEXT_LEN + 1 + n + 2) for n in lengths]
    per_layer = [counts[(2, n)] - counts[(1, n)] for n in lengths]
    (t1, t2), (y1, y2) = tokens, per_layer
    b = (y2 - y1) / (t2 - t1)
    outside = [counts[(1, n)] - y for n, y in zip(lengths, per_layer)]
    d = (outside[1] - outside[0]) / (rows * (lengths[1] - lengths[0]))
    return PieceCost(y1 - b * t1, b, outside[0] - d * rows * lengths[0], d)


MEASURED = {
    (SHOWO_512, 5.0, "bf16"): PieceCost(per_layer=100536156.0, per_token=136532.0, fixed=35772000.0,
                                        per_position=28950.0),
    (SHOWO_512, 5.0, "no"): PieceCost(per_layer=-254280.0, per_token=239648.0, fixed=2217568.0, per_position=33046.0),
}
"""`probe`'s results for the paper preset's base at its guidance, measured once here (torch 2.14): a probe builds
one- and two-layer models at Show-o's real width and vocabulary and runs their backward pass, ~20 s on a CPU, so
`--plan` reads these; `tests/test_training_plan.py` (slow) measures them again."""


def piece_cost(arch: Arch, guidance: float, precision: str) -> PieceCost:
    """The measured cost when an architecture of this piece shape has one at this setting (a local copy of
    Show-o 512 too), else a probe."""
    measured = {(a.piece_shape, g, p): cost for (a, g, p), cost in MEASURED.items()}
    return measured.get((arch.piece_shape, guidance, precision)) or probe(arch, guidance, precision)


@dataclass
class Prediction:
    parts: dict[str, float]
    """Bytes per component."""

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    def table(self) -> str:
        lines = [f"| {name} | {value / GB:.2f} GB |" for name, value in self.parts.items()]
        return "\n".join(["| part | bytes |", "|---|---|", *lines, f"| **peak** | **{self.total / GB:.1f} GB** |"])


def trainable_parameters(config: TrainConfig, arch: Arch, concept_rows: int) -> tuple[int, int]:
    """(elements with gradients and AdamW state, elements the reference holds apart from the policy)."""
    h, v = arch.hidden, arch.vocab.size
    if config.trainable == "full":
        return arch.parameters, arch.parameters
    rows_tensors = 2 * v * h + v  # embedding and output matrices: whole tensors carry the gradient
    lora = 0
    if config.trainable == "lora":
        per_target = {"q_proj": 2 * h, "k_proj": 2 * h, "v_proj": 2 * h, "dense": 2 * h, "fc1": h + arch.mlp,
                      "fc2": arch.mlp + h}
        lora = arch.layers * config.lora_rank * sum(per_target.get(t, 2 * h) for t in config.lora_targets)
    return rows_tensors + lora, concept_rows * (2 * h + 1)


def predict(config: TrainConfig, arch: Arch = SHOWO_512, cost: PieceCost | None = None, concept_rows: int = 25,
            scorers: bool = True, rollout: bool = True) -> Prediction:
    """Peak of one training step on one device: static terms plus the larger of the loss piece and the rollout.

    mixed_precision `auto` / `bf16` (a GPU) keep float32 master weights and compute in bf16; `no` is float32.
    `scorers` / `rollout` False leave out the reward models and the rollout (what the CPU measurement runs).
    """
    bf16 = config.mixed_precision in ("auto", "bf16")
    if config.mixed_precision == "fp16":
        raise SettingsError("the memory model covers float32 and bf16 compute (mixed_precision: no, bf16 or auto)")
    value = 2 if bf16 else 4
    cost = cost or piece_cost(arch, config.guidance_scale, "bf16" if bf16 else "no")
    trained, reference = trainable_parameters(config, arch, concept_rows)
    rows = max(1, config.loss_rows)
    cfg = 2 if config.guidance_scale > 0 else 1
    h, layers = arch.hidden, arch.layers
    candidates = max(config.group_size, config.dgs.screen_batch) * cfg
    prefix_cache = layers * 2 * candidates * (MAX_TEXT_LEN + 1) * h * value
    sampling = prefix_cache + candidates * (arch.image_tokens + 2) * (4 * arch.mlp * value + 2 * h * value) \
        + 3 * candidates * arch.image_tokens * arch.vocab.codebook_size * 4
    loss = cost.activations(arch, rows * cfg, config.activation_checkpointing, value)
    parts = {"weights (float32)": 4.0 * arch.parameters, "gradients": 4.0 * trained,
             "AdamW state": 8.0 * trained, "reference": 4.0 * reference,
             "working set (max of loss piece, rollout)": max(loss, sampling if rollout else 0.0)}
    if scorers:
        names = [*config.rewards.weights, "magvit"]
        parts["reward models + MAGVIT"] = 4.0 * sum(SCORER_PARAMETERS.get(n, 0.0) for n in names)
    return Prediction(parts)
