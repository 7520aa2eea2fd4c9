"""Sync-R1 training settings: the paper's Table 4 as defaults, a YAML file format, and the `tiny` preset.

Table 4 lost its row labels in the paper's text conversion; the unlabeled
pairs (0.4, 0.6), (0.25, 0.12), (0.8, 2) are read as λ_und / λ_gen, the
controller's trend damping γ / gain η, and its momentum μ / the candidate
budget as a multiple of the group size (η = 0.12 is also the gain of the
authors' controller). The reward split inside generation (BER, DER, FER
equal) is ours: the paper fixes only understanding : generation = 4 : 6 and
that FER applies to persons.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic.dataclasses import dataclass

from evaluators.scoring_config import (
    DEFAULT_BLIP2,
    DEFAULT_CLIP,
    DEFAULT_DINOV2,
    DEFAULT_JUDGE_MODEL,
    DEFAULT_TEXT_EMBEDDER,
)
from unifybench_pp.errors import SettingsError
from unifybench_pp.settings import layered, merge

from .data import MINI_BENCHMARK

Trainable = Literal["concepts", "lora", "full"]
Controller = Literal["trend", "unictokens"]
ImagePositions = Literal["all", "masked"]
Distribute = Literal["split_group", "group_per_rank"]


def _whole_number(value: Any) -> Any:
    """YAML reads `1e3` as a string (its floats need a dot): a count written so means the whole number it names.
    true/false are refused (pydantic would read them as 1 and 0: `steps=true` trained one step)."""
    if isinstance(value, bool):
        raise ValueError(f"must be a whole number, not {str(value).lower()}")
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() else value
    return value


def _not_a_truth_value(value: Any) -> Any:
    """true/false are refused where a number is meant (pydantic would read them as 1.0 and 0.0)."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not {str(value).lower()}")
    return value


def _listed(value: Any) -> Any:
    """`report_to=wandb` means the one-item list `[wandb]`."""
    return [value] if isinstance(value, str) else value


def _concepts_listed(value: Any) -> Any:
    """`concepts=ast` means `[ast]`; `concepts=all` stays `all`."""
    return value if value == "all" else _listed(value)


Whole = Annotated[int, BeforeValidator(_whole_number)]
Count = Annotated[Whole, Field(ge=1)]
Seed = Annotated[Whole, Field(ge=0, le=2**32 - 1)]
Concepts = Annotated[list[str] | Literal["all"] | None, BeforeValidator(_concepts_listed)]
Names = Annotated[list[str], Field(min_length=1)]
Finite = Annotated[float, Field(allow_inf_nan=False), BeforeValidator(_not_a_truth_value)]
NonNegative = Annotated[Finite, Field(ge=0)]
Positive = Annotated[Finite, Field(gt=0)]
Proportion = Annotated[Finite, Field(ge=0, le=1)]
StrictProportion = Annotated[Finite, Field(gt=0, lt=1)]
SETTINGS = ConfigDict(extra="forbid", use_attribute_docstrings=True)
"""pydantic checks every field's type (YAML's `1e-6` string read as the float it means), refuses unknown keys and
reads each field's docstring as its description: the help `ubpp train syncr1 --settings`, `--plan` and
docs/config.md show."""


@dataclass(config=SETTINGS)
class RewardConfig:
    weights: dict[str, Finite] = field(default_factory=lambda: {"tier": 0.4, "ber": 0.2, "der": 0.2, "fer": 0.2})
    """Reward name -> weight; names are listed by `training.rewards.REWARDS`. Set whole (one mix replaces another);
    at least one weight is not 0, and a negative one makes its reward a penalty."""
    person_only: list[str] = field(default_factory=lambda: ["fer"])
    """Rewards that apply to person concepts only; for pets and objects their weight moves to `fallback`."""
    fallback: str = "der"
    """The reward that takes a person-only reward's weight for pets and objects."""
    text_embedder: str = DEFAULT_TEXT_EMBEDDER
    """TIER's sentence encoder (the paper: ERNIE 3.0; default: the bundled MiniLM)."""
    clip: str = DEFAULT_CLIP
    """CLIP of the `clip_*` rewards and of the `clip_mix` DGS surrogate (a folder or an open_clip name)."""
    dinov2: str = DEFAULT_DINOV2
    """DINOv2 of DER: image similarity to the concept's reference photos (folder or hub id)."""
    blip2: str = DEFAULT_BLIP2
    """BLIP-2 of BER: image-text agreement with the generation prompt (folder or hub id)."""
    facenet: str | None = "vggface2"
    """FaceNet of FER (facenet-pytorch's `vggface2` / `casia-webface`, or a weights file); unset: FER is unavailable."""
    judge: str = DEFAULT_JUDGE_MODEL
    """The VLM judge of `vlm_identity` (any OpenAI-compatible model; the authors asked Gemini 2.5 Pro or GLM-4.1V)."""
    judge_base_url: str | None = None
    """Its server (default OPENAI_BASE_URL / the OpenAI API; the key from OPENAI_API_KEY, never written)."""

    def __post_init__(self) -> None:
        if not any(self.weights.values()):
            raise ValueError(f"rewards.weights must give at least one reward a weight other than 0, not "
                             f"{self.weights or '{}'}")


@dataclass(config=SETTINGS)
class DGSConfig:
    """Dynamic Group Scaling; K, the number of candidates kept and finished, is the group size."""

    enabled: bool = True
    """Screen candidates part-way and finish only the K most promising (false: plain groups of K)."""
    surrogate: str = "ber"
    """Screening score: a reward name (`ber` as in the paper), or `clip_mix` (0.65 CLIP-I + 0.35 CLIP-T, the authors'
    code)."""
    screening_fraction: StrictProportion = 0.2
    """Screen after this share of the denoising steps (t_s = 20% of S)."""
    budget_factor: Annotated[Finite, Field(ge=1)] = 2.0
    """At most budget_factor x group size candidates are screened per group (M_max; at least 1: the budget holds
    the kept group)."""
    screen_batch: Count = 9
    """Candidates advanced to the screening step together, in memory."""
    controller: Controller = "trend"
    """How τ follows the pass rate: `trend` (the paper: a momentum of the pass-rate error, damped by γ when it
    turns, applied in log space) or `unictokens` (the authors' additive rule)."""
    initial_threshold: Finite = 0.5
    """τ at the first step, per concept (the authors: 0.5)."""
    target_pass_rate: StrictProportion | None = None
    """p*; default: 0.5 for `trend`, 0.25 for `unictokens` (the authors' value)."""
    eta: NonNegative = 0.12
    """η: the trend controller's gain (Table 4; also the authors' gain)."""
    mu: Annotated[Finite, Field(ge=0, lt=1)] = 0.8
    """μ: momentum of the pass-rate error in the trend controller (below 1: at 1 the momentum never moves)."""
    gamma: Proportion = 0.25
    """γ: the gain's damping when the error turns against the momentum (0 stops, 1 does not damp)."""


@dataclass(config=SETTINGS)
class TrainConfig:
    benchmark: str | None = None
    """A built UnifyBench++ folder (`ubpp build-dataset --source RELEASE --out DIR`); training reads its train split
    only. Required: the tiny preset names the bundled mini benchmark's default folder, which is built there when
    nothing is; the paper preset refuses to start without one, so it never trains on the toy data by accident."""
    showo: str = "showlab/show-o-512x512"
    """Show-o base (folder or hub id), `tiny-mini` for the shipped tiny Show-o pretrained on the mini benchmark's
    training views (offline default, its own MAGVIT), or `tiny` for a freshly built tiny random model."""
    magvit: str = "showlab/magvitv2"
    """MAGVIT-v2 image tokenizer (folder or hub id); the tiny bases bring their own."""
    concept_init: str | None = None
    """Folder of SFT-initialized concept tokens (`<c>.safetensors` or UniCTokens' `<c>/[run/]epoch_<N>_*.pt`);
    concepts without one start from the mean text embedding."""
    concept_run_name: str | None = None
    """UniCTokens' run folder inside `concept_init/<c>/` (their `saves/<c>/<run>/`), if any."""
    concept_epoch: Whole | None = None
    """UniCTokens' epoch to start from (default: the highest found)."""
    concepts: Concepts = None
    """Concept ids to train, each with its own DGS threshold, or `all`. Unset is refused: the authors train one
    concept per run (`ubpp train syncr1 --concept NAME`)."""
    run_per_concept: bool = False
    """Train each concept in a run of its own, `steps` long, under OUT/<concept>/: one model per concept, as the
    authors train and evaluate (their `rl_weight_root/<concept>/`); `ubpp evaluate --model syncr1 --checkpoint OUT`
    loads each concept's. false: one run, one model, `steps` shared by every concept."""
    seed: Seed = 0
    """Seeds the prompt schedule and every candidate's text and image generators (a trajectory depends on
    (seed, step, candidate) only, so resume and any process count repeat it)."""
    steps: Count = 100
    """Optimizer steps (per concept with `run_per_concept`); the learning-rate schedule spans them (with
    `updates_per_rollout` above 1, a step's updates share its rate)."""
    group_size: Whole = 9
    """G: trajectories per prompt; advantages are centred on their mean."""
    batch_size: Count = 1
    """Prompts per optimizer step (each gets its own group)."""
    gradient_accumulation_steps: Count = 1
    """More prompts per optimizer step, rolled out one after another (same as a larger batch_size)."""
    distribute: Distribute = "split_group"
    """How several processes (`accelerate launch --multi_gpu`) share a step. `split_group` (the authors' way): each
    group of G is split over the processes, rewards are gathered and the advantage is taken over the whole group,
    so N processes compute the same step as one, faster. `group_per_rank`: every process rolls out groups of its
    own, so a step holds N x batch_size x gradient_accumulation_steps groups. `ubpp train` prints the groups per
    optimizer step and config.yaml records this choice."""
    learning_rate: NonNegative = 1e-6
    """Peak AdamW rate (0 freezes the policy: a control run on the same prompts and seeds)."""
    lr_scheduler: str = "cosine"
    """Any `transformers.get_scheduler` name (the authors: cosine with warm-up); stepped once per optimizer step,
    whatever the number of processes."""
    warmup_steps: Annotated[Whole, Field(ge=0)] = 10
    """Linear warm-up of the learning rate, in optimizer steps."""
    weight_decay: NonNegative = 1e-3
    """AdamW's (the authors': 1e-3); outside `full` mode it decays the concept rows and adapters only."""
    max_grad_norm: Positive = 1.0
    """Gradients are clipped to this global norm before each optimizer step."""
    beta: NonNegative = 0.01
    """β: weight of the k3 KL to the frozen starting policy, per decision (0 skips the reference pass)."""
    clip_epsilon: Annotated[Finite, Field(gt=0, lt=1)] = 0.2
    """ε: the policy ratio is clipped to [1 - ε, 1 + ε]."""
    lambda_und: NonNegative = 0.4
    """λ_und: weight of the reasoning (text) term, per trajectory (see `training.loss`)."""
    lambda_gen: NonNegative = 0.6
    """λ_gen: weight of the image term, per trajectory."""
    und_constant: Positive | None = None
    """C_und, the text term's constant divisor; default the reasoning token budget (`reasoning_max_new_tokens`)."""
    gen_constant: Positive | None = None
    """C_gen, the image term's constant divisor; default the image decisions one trajectory counts (S·N with
    `image_positions: all`, the still-masked positions summed over the schedule with `masked`)."""
    image_positions: ImagePositions = "all"
    """Which image positions of a denoising step are decisions in the loss. `all`: every position, the committed
    ones included (the paper, and the authors' code); `masked`: only the positions still masked at that step,
    the ones whose sample can become the image. docs/training.md, "Committed image positions", gives the
    measurements."""
    updates_per_rollout: Count = 1
    """Optimizer updates per batch of rollouts; above 1 the ratio is taken to the rollout's policy (π_old)
    computed once, as in PPO."""
    guidance_scale: NonNegative = 5.0
    """Classifier-free guidance of the image rollouts (Table 4: 5)."""
    generation_steps: Annotated[Whole, Field(ge=2)] = 50
    """S: MaskGIT denoising steps per image (DGS screens after a share of them, so at least 2)."""
    generation_temperature: NonNegative = 1.0
    """Temperature of MaskGIT's token sampling in the image rollouts."""
    reasoning_max_new_tokens: Count = 64
    """Token budget of a reasoning rollout (also C_und's default)."""
    reasoning_temperature: Positive = 1.0
    """Temperature of the reasoning rollouts (and of the policy ratio's distribution)."""
    reasoning_top_k: Count | None = 5
    """Reasoning is sampled from the k most likely tokens, as the authors (`mmu_generate(top_k=5)`); the policy
    ratio is over the full tempered distribution, the same for π_θ and π_old."""
    visual_share: Proportion = 0.5
    """Share of prompts taking Visual Instruct Reasoning (the rest Textual Attribute Reasoning): 1:1 in the paper."""
    trainable: Trainable = "full"
    """`full` (the whole Show-o, as the authors), `concepts` (the concept tokens' rows) or `lora` (+ concept rows)."""
    lora_rank: Count = 16
    """LoRA rank with `trainable: lora`."""
    lora_alpha: Count = 32
    """LoRA alpha with `trainable: lora`."""
    lora_targets: Names = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "dense"])
    """Modules LoRA adapts (Phi's attention projections by default)."""
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"
    """`auto`: bf16 on a GPU, full precision on a CPU. Applies to rollouts (sampling, reference and log-prob passes)
    and the loss; weights and optimizer state stay float32."""
    device: str | None = None
    """torch device for a single process (default: accelerate's choice, a GPU when there is one)."""
    loss_rows: Count = 1
    """Trajectories per backward piece; each piece is their reasoning or one denoising step of them, back-propagated
    alone (same gradient as the whole loss; peak memory independent of the steps). 1 at real size; the tiny preset
    takes its whole group (fewer, larger passes are faster for a tiny model). The no-grad reference and old-policy
    passes take every row the process holds, whatever this is."""
    activation_checkpointing: bool = False
    """Recompute decoder layers in the backward pass (~1/3 more compute; see `training.memory` for what it saves)."""
    save_every: Count = 25
    """A checkpoint every this many optimizer steps (and at the end)."""
    keep_checkpoints: Count = 2
    """Checkpoints kept on disk (`ubpp train syncr1 --plan` prints the size of one)."""
    save_optimizer: bool = True
    """Checkpoints hold AdamW's state (2x the trainable weights), so --resume continues exactly; false saves the
    weights, scheduler and RNG only (a resume then restarts AdamW's moments)."""
    report_to: Annotated[list[str], BeforeValidator(_listed)] = field(default_factory=list)
    """Extra trackers through accelerate: `tensorboard`, `wandb` (if installed)."""
    rewards: RewardConfig = field(default_factory=RewardConfig)
    """The reward ensemble (`rewards.weights`, the models each reward uses)."""
    dgs: DGSConfig = field(default_factory=DGSConfig)
    """Dynamic Group Scaling."""

    @field_validator("concepts")
    @classmethod
    def _each_once(cls, value: Any) -> Any:
        """A concept named twice would be trained twice (twice the steps, or two runs writing one folder)."""
        if isinstance(value, list):
            twice = sorted({name for name in value if value.count(name) > 1})
            if twice:
                raise ValueError(f"concepts names {', '.join(map(repr, twice))} more than once")
        return value

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _yaml_no(cls, value: Any) -> Any:
        """YAML reads a bare `no` as false: that is the `no` the setting offers."""
        return "no" if value is False else value

    def __post_init__(self) -> None:
        if self.group_size < 2:
            raise ValueError("group_size must be at least 2 (advantages are centred on the group mean)")
        if self.dgs.controller == "trend" and self.dgs.initial_threshold <= 0:
            raise ValueError("dgs.initial_threshold must be positive for the trend controller (it scales τ); "
                             "use dgs.controller=unictokens for a surrogate scoring at or below 0")

    @property
    def screening_step(self) -> int:
        return min(self.generation_steps - 1, max(1, round(self.dgs.screening_fraction * self.generation_steps)))

    @property
    def candidate_budget(self) -> int:
        return max(self.group_size, round(self.dgs.budget_factor * self.group_size))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def tiny_base(self) -> bool:
        """`tiny-mini` (shipped) or `tiny` (built in the run): a few MB, with their own MAGVIT, no download."""
        return self.showo in ("tiny", TINY_PRETRAINED)

    @property
    def evaluate_options(self) -> dict[str, Any]:
        """The syncr1 adapter options a tiny model is evaluated with: as it was trained (denoising steps, CFG,
        answer length), as the demo evaluates it. Empty for a full-size Show-o: the harness evaluates that with its
        own sampler, whatever the training used."""
        if not self.tiny_base:
            return {}
        return {"steps": self.generation_steps, "guidance_scale": self.guidance_scale,
                "max_new_tokens": self.reasoning_max_new_tokens}


TINY_PRETRAINED = "tiny-mini"
"""The `showo` value naming the shipped tiny pretrained base (`training.pretrain_tiny.ASSET`)."""

TINY_PRESET: dict[str, Any] = {
    "benchmark": MINI_BENCHMARK,
    "showo": TINY_PRETRAINED,
    "concepts": "all",
    "run_per_concept": True,
    "steps": 24,
    "group_size": 8,
    "learning_rate": 1e-4,
    "beta": 0.001,
    "guidance_scale": 2.0,
    "generation_steps": 8,
    "reasoning_max_new_tokens": 40,
    "save_every": 10,
    "loss_rows": 8,
    "trainable": "full",
    "weight_decay": 0.0,
    "lr_scheduler": "constant",
    "warmup_steps": 0,
    "reasoning_top_k": None,
    "image_positions": "masked",
    "rewards": {"weights": {"tier": 0.4, "colour": 0.2, "ssim": 0.2, "face": 0.2},
                "person_only": ["face"], "fallback": "ssim", "facenet": None},
    "dgs": {"surrogate": "colour", "screen_batch": 8, "screening_fraction": 0.25, "initial_threshold": 0.15},
}
"""Trains on the bundled mini benchmark on a CPU in minutes, with rewards that need no download: TIER on MiniLM,
`colour`, `ssim`, `face` (stand-ins named as such, never reported as BER/DER/FER). Every value was chosen on
training prompts only; docs/training.md ("The tiny preset and what the demo shows", "History") has the runs
behind each."""

AUTHORS_PRESET: dict[str, Any] = {
    "reasoning_max_new_tokens": 100,
    "rewards": {"weights": {"text_bleu": 0.35, "fer": 0.26, "vlm_identity": 0.39}, "person_only": ["fer"],
                "fallback": "clip_identity"},
    "dgs": {"surrogate": "clip_mix", "controller": "unictokens"},
}
"""The authors' released recipe (`chawuciren11/Sync-R1` `grpo.py`) on top of the paper's settings: reward 0.35 text
(their BLEU rule) + 0.65 image, image = 0.4 identity (FaceNet for persons, thresholded CLIP-I otherwise) + 0.6 a VLM
judge's score (0.65 x 0.4 = 0.26, 0.65 x 0.6 = 0.39); DGS on 0.65 CLIP-I + 0.35 CLIP-T with their threshold rule;
100 reasoning tokens. What stays the paper's: the loss (theirs: std-normalised advantages, image tokens only,
ratio to the reference), and their per-group shift of each score to a mean of 0.8, which mean-centred advantages
ignore. docs/training.md lists the differences."""

PRESETS = {"tiny": TINY_PRESET, "paper": {}, "authors": AUTHORS_PRESET}

CONSTRAINED_TYPES = {"Whole": "integer (`1e3` reads as 1000)", "Count": "integer ≥ 1",
                     "Seed": "integer in [0, 2^32 - 1]", "Concepts": "list of concept ids (one id alone reads as a "
                     "list of one), `all`, or null", "Names": "non-empty list of names",
                     "NonNegative": "finite number ≥ 0",
                     "Positive": "finite number > 0",
                     "Finite": "finite number", "Proportion": "finite number in [0, 1]",
                     "StrictProportion": "finite number in (0, 1)",
                     **{name: " / ".join(get_args(choices)) for name, choices in (
                         ("Trainable", Trainable), ("Controller", Controller), ("ImagePositions", ImagePositions),
                         ("Distribute", Distribute))}}
"""What each named type of the settings means: the legend under docs/config.md's and `--settings`' type column."""

FIELD_BOUNDS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
"""`Field` bounds, as the type column writes them."""


def type_legend() -> str:
    """The named types the settings' type column uses, each with its meaning, on one line."""
    return "; ".join(f"`{name}`: {meaning}" for name, meaning in CONSTRAINED_TYPES.items())


def readable_type(annotation: str) -> str:
    """A setting's declared type (the source text `from __future__ import annotations` keeps) in a reader's words:
    `Annotated[Whole, Field(ge=0)]` reads `Whole (≥ 0)`, `list[str]` `list of str`, a `Literal` its choices
    `a / b`, `X | None` `X or null`; the named types stay named (`type_legend` says what they mean)."""
    return _readable(ast.parse(annotation, mode="eval").body)


def _readable(node: ast.expr) -> str:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return f"{_readable(node.left)} or {_readable(node.right)}"
    if isinstance(node, ast.Constant):
        return "null" if node.value is None else str(node.value)
    if not isinstance(node, ast.Subscript):
        return ast.unparse(node)
    args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    generic = ast.unparse(node.value)
    if generic == "Literal":
        return " / ".join(_readable(arg) for arg in args)  # not `|`: GitHub would split docs/config.md's cell
    if generic == "list":
        return f"list of {_readable(args[0])}"
    if generic == "dict":
        return f"{_readable(args[0])} → {_readable(args[1])}"
    if generic == "Annotated":  # the bounds of a `Field(...)`; validators change how a value is read, not its type
        bounds = [f"{FIELD_BOUNDS[k.arg]} {ast.unparse(k.value)}" for call in args[1:] if isinstance(call, ast.Call)
                  for k in call.keywords if k.arg in FIELD_BOUNDS]
        return _readable(args[0]) + (f" ({', '.join(bounds)})" if bounds else "")
    return ast.unparse(node)


@dataclasses.dataclass(frozen=True)
class SettingDoc:
    name: str
    """Dotted for nested settings (`dgs.eta`), as `--set` takes it."""
    kind: str
    """The type, readable (`readable_type`)."""
    default: Any
    help: str

    @property
    def summary(self) -> str:
        """The help's first sentence."""
        return self.help.split(". ")[0].rstrip(".")


def setting_docs(cls: type = TrainConfig, prefix: str = "") -> list[SettingDoc]:
    """Every setting with its declared type, default and docstring (pydantic's description), nested ones dotted."""
    docs = []
    for name, info in cls.__pydantic_fields__.items():
        default = info.get_default(call_default_factory=True)
        if dataclasses.is_dataclass(default):
            docs += setting_docs(type(default), f"{prefix}{name}.")
        else:
            docs.append(SettingDoc(prefix + name, readable_type(cls.__annotations__[name]), default,
                                   " ".join((info.description or "").split())))
    return docs


def _value(config: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def changed_settings(config: TrainConfig) -> list[tuple[SettingDoc, Any]]:
    """The settings whose value differs from the default, with that value: what a run changed, and why each
    setting exists."""
    return [(doc, _value(config, doc.name)) for doc in setting_docs() if _value(config, doc.name) != doc.default]


def yaml_value(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


def settings_markdown() -> str:
    """docs/config.md: every setting of `ubpp train syncr1`, as `--set` and the YAML files name it."""
    rows = [f"| `{d.name}` | `{d.kind}` | `{yaml_value(d.default)}` | {d.help.replace('|', '&#124;')} |"
            for d in setting_docs()]
    presets = ", ".join(f"`{name}`" for name in PRESETS)
    return "\n".join([
        "# Training settings", "",
        "Every setting of `ubpp train syncr1`, generated from the docstrings in `training/config.py` (a test "
        "rewrites this page when they change). Settings come from these defaults (the paper's Table 4), then "
        f"`--preset` ({presets}), then `--config FILE.yaml`, then `--set KEY=VALUE` (dotted for nested ones). "
        "`ubpp train syncr1 --settings` prints the same list; `--plan` prints the ones a run changes.", "",
        f"Types: {type_legend()}.", "",
        "| setting | type | default | what it does |", "|---|---|---|---|", *rows, ""])


BOUNDS = {"greater_than": ("gt", ">"), "greater_than_equal": ("ge", ">="), "less_than": ("lt", "<"),
          "less_than_equal": ("le", "<=")}
"""pydantic's bound errors: the key of the bound in the error's context, and how a settings line says it."""


def _message(error: ValidationError) -> str:
    """pydantic's report as one line per setting, in the words of the settings file."""
    problems: dict[str, list[dict[str, Any]]] = {}
    for problem in error.errors():  # a union's members report under the same setting
        setting = ".".join(str(p) for p in problem["loc"] if isinstance(p, str) and p.isidentifier())
        problems.setdefault(setting, []).append(problem)
    lines = []
    for setting, found in problems.items():
        problem, section = found[0], setting.rpartition(".")[0] or "training"
        if len(found) > 1:
            lines.append(f"{setting} cannot be {problem['input']!r}")
        elif problem["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
            lines.append(f"unknown {section} setting: {setting}")
        elif problem["type"] == "value_error":  # a validator's own words; "must be ..." names no setting yet
            text = str(problem["ctx"]["error"])
            lines.append(f"{setting} {text}" if text.startswith("must be") else text)
        elif problem["type"] == "literal_error":
            expected = problem["ctx"]["expected"].replace(chr(39), "")
            lines.append(f"{setting} must be {expected}, not {problem['input']!r}")
        elif problem["type"] == "int_from_float":
            lines.append(f"{setting} must be a whole number, not {problem['input']!r}")
        elif problem["type"] in ("float_parsing", "int_parsing", "float_type", "int_type"):
            lines.append(f"{setting} must be a number, not {problem['input']!r}")
        elif problem["type"] == "finite_number":
            lines.append(f"{setting} must be a finite number, not {problem['input']!r}")
        elif problem["type"] in BOUNDS:
            key, relation = BOUNDS[problem["type"]]
            bound = problem["ctx"][key]
            shown = f"{bound:g}" if isinstance(bound, float) else str(bound)
            lines.append(f"{setting} must be {relation} {shown}, not {problem['input']!r}")
        else:
            lines.append(f"{setting}: {problem['msg']}")
    return "; ".join(lines)


def load_config(path: Path | None = None, preset: str | None = None, overrides: list[str] = ()) -> TrainConfig:
    """Defaults, then the preset, then the YAML file, then KEY=VALUE overrides (a reward mix replaces, never merges)."""
    if preset is not None and preset not in PRESETS:
        raise SettingsError(f"unknown preset {preset!r}; presets are {', '.join(PRESETS)}")
    whole = frozenset({"weights"})
    data = merge(TrainConfig().to_dict(), PRESETS[preset] if preset else {}, whole)
    data = layered(data, path, list(overrides), whole)
    try:
        return TrainConfig(**data)
    except ValidationError as error:
        raise SettingsError(_message(error)) from None


def save_config(config: TrainConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
