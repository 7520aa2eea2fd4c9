"""Benchmark adapters for the Show-o family: `syncr1`, `unictokens` and `showo-tp`.

`--checkpoint` is a Show-o base (folder or hub id), a bundle folder holding
`showo/`, `magvit/` and optionally `concepts/` (what `build_tiny_checkpoint`
and our trainer write), or a folder of one model per concept, `<concept>/`
holding a bundle or a training run (`<concept>/model/`, what `ubpp train
syncr1` writes with `run_per_concept`): each concept is then evaluated with
its own model, as the authors evaluate their per-concept Sync-R1 weights
(loaded when the evaluation reaches the concept; one in memory at a time).
The authors' own per-concept Sync-R1 weights are read the same way with
`rl_weights=DIR` (their `rl_weight_root`: `DIR/<concept>/model_epoch<N>.pt`;
`model_epoch=N`, or the latest when every concept's latest is the same N)
on top of the `--checkpoint` base; those files hold the concept's rows, so
`concepts` / `run_name` / `epoch` are refused with them. The three shapes are three loaders below
(`OneModel`, `ModelPerConcept`, `BaseWithSyncR1Weights`), chosen once from the options.
Concept weights for syncr1 / unictokens come from the
`concepts` option (default: the bundle's `concepts/`): `<concept>.safetensors`
(ours) or UniCTokens' `<concept>[/<run_name>]/epoch_<N>_embed.pt`,
`..._lm_head_weight.pt`, `..._lm_head_bias.pt` (as in their `saves/<concept>/<run>/`;
the highest epoch unless `epoch` is given).

Inputs are the public Sync-R1 harness's: every prompt starts with the text
personalization "name: <c>\ninfo: <profile>"; the token models add the
concept's system prompt ("<c> is <token_0>...<token_15>.") to the Rec. / VQA /
QA questions and write the concept token as its latent tokens plus the
identifier in generation prompts; showo-tp gets the text personalization and
the prompt as is. `mmu_vocab` ("full" | "text") and `pixels` ("truncate" |
"round") are `ShowoPipeline`'s: the defaults reproduce the authors'
evaluation (protocol `syncr1`), the others are ours (protocol `strict`).
So do these three, the harness's first:
- `flip` ("harness" | "none"): the harness mirrors a quarter of the test
  images (its understanding transform's random flip, drawn right after the
  request's seed; see `pipeline.harness_flip`); "none" shows every image as
  it is: a mirrored photo changes left/right answers for no fault of the
  model and ties the answer to the seed;
- `latent_text` ("keep" | "drop"): decoded answers keep latent concept
  tokens as text (`<token_3>`, as the harness's tokenizer writes them), or
  leave them out;
- `pure_gen_names` ("substring" | "token"): a Pure Gen. prompt's concept is
  substituted by name inside words too, as the harness does ("rain<bo>w
  scarf"), or only where the token stands.

Every request is seeded as the harness seeds it (`request_seed`:
`stable_seed(run seed, "showo_weighted", family, task, concept, model_epoch,
item)`), under both protocols. `model_epoch` is the harness's: with `rl_weights`
the epoch of the authors' `model_epoch<N>.pt` applied (the latest unless
given); for everything else (a base, concept tokens alone, our own trained
bundles: the model as loaded, no epoch file applied) 0, or the `model_epoch`
given, so a model saved from the authors' epoch N is seeded as their run of
it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

from PIL import Image

from unifybench_pp.paths import path_component
from unifybench_pp.prompts import name_substituted
from unifybench_pp.schema import Concept

from ..base import GenerateRequest, ModelError, UnderstandRequest, checked_number, open_rgb, weights_not_found
from ..harness_seeds import request_seed
from .bundle import RUN_CONFIG, ShowoBundle, is_concept_run
from .checkpoints import SYNC_R1_FILE, epochs_in, sync_r1_model_file
from .concepts import ConceptTokens
from .personalize import generation_condition, understanding_system
from .pipeline import Pixels, ShowoPipeline, check_options, harness_flip
from .sampler import SamplerConfig
from .understand import LatentText, MmuVocab

DEFAULT_MAGVIT = "showlab/magvitv2"
HARNESS_ADAPTER = "showo_weighted"
"""The name the harness's Show-o adapter seeds its requests with (for every Show-o-family row)."""
Flip = Literal["harness", "none"]
PureGenNames = Literal["substring", "token"]


class ShowoAdapter:
    capabilities = {"understand", "generate"}

    def __init__(self, name: str, checkpoint: str | None, device: str, *, personalization: str,
                 magvit: str | None = None, concepts: str | None = None, run_name: str | None = None,
                 epoch: int | None = None, rl_weights: str | None = None, model_epoch: int | None = None,
                 steps: int = 50, guidance_scale: float = 5.0, temperature: float = 1.0,
                 max_new_tokens: int = 100, mmu_vocab: MmuVocab = "full", pixels: Pixels = "truncate",
                 flip: Flip = "harness", latent_text: LatentText = "keep",
                 pure_gen_names: PureGenNames = "substring") -> None:
        if not checkpoint:
            raise ModelError(f"weights for {name} not found: pass --checkpoint PATH or a hub id")
        self.name = name
        try:
            check_options(mmu_vocab, pixels)
        except ValueError as error:
            raise ModelError(f"{name}: {error}") from None
        for option, value, allowed in (("flip", flip, Flip), ("latent_text", latent_text, LatentText),
                                       ("pure_gen_names", pure_gen_names, PureGenNames)):
            if value not in get_args(allowed):
                raise ModelError(f"{name}: {option} must be one of {', '.join(get_args(allowed))}, not {value!r}")
        self.flip, self.latent_text, self.pure_gen_names = flip, latent_text, pure_gen_names
        steps = checked_number(name, "steps", steps, whole=True, least=1)
        guidance_scale = checked_number(name, "guidance_scale", guidance_scale)
        temperature = checked_number(name, "temperature", temperature)
        max_new_tokens = checked_number(name, "max_new_tokens", max_new_tokens, whole=True, least=1)
        self.concepts_option = Path(concepts) if concepts else None
        self.rl_weights, self.model_epoch = (Path(rl_weights) if rl_weights else None), model_epoch
        trained = ShowoBundle.of_run(Path(checkpoint))
        if (Path(checkpoint) / RUN_CONFIG).is_file() and trained.exists():
            checkpoint = str(trained.root)  # a finished one-model run: its model/
        own_models = ShowoBundle.per_concept(Path(checkpoint))
        _check_training_finished(name, Path(checkpoint), own_models)
        own_rows = ShowoBundle(Path(checkpoint)).concepts
        self.served_concepts: set[str] | None = (
            set(own_models) if own_models else
            {path.stem for path in own_rows.glob("*.safetensors")} if own_rows.is_dir() and not concepts
            and not self.rl_weights else None)
        """The concepts a folder of per-concept models holds a model for, or a bundle holds concept rows for (None:
        the concept weights come from elsewhere, `concepts=` or `rl_weights=`)."""
        _check_rl_weights(name, personalization, self.rl_weights, model_epoch, bool(own_models),
                          {"concepts": concepts, "run_name": run_name, "epoch": epoch})
        opener = ModelOpener(name, magvit, device, mmu_vocab, pixels)
        self.models: Models = ModelPerConcept(opener, checkpoint, own_models) if own_models else \
            BaseWithSyncR1Weights(opener, checkpoint, self.rl_weights, model_epoch) if self.rl_weights else \
            OneModel(opener, checkpoint)
        self.personalization = personalization
        self.run_name = run_name
        self.epoch = epoch
        self.sampler = SamplerConfig(steps=steps, guidance_scale=guidance_scale, temperature=temperature)
        self.max_new_tokens = max_new_tokens
        self.recipe = {"steps": steps, "guidance_scale": guidance_scale, "cfg_applied": "(1 + g) * cond - g * uncond",
                       "temperature": temperature, "sampler": "MaskGIT, cosine schedule",
                       "understanding": f"greedy, at most {max_new_tokens} new tokens, {mmu_vocab} vocabulary",
                       "pixels": pixels, "flip": flip, "seed": "harness stable_seed per request",
                       "images_per_request": 1}

    @property
    def pipe(self) -> ShowoPipeline:
        if self.models.current is None:
            raise ModelError(f"{self.name}: no concept personalized yet (each concept loads its own model)")
        return self.models.current.pipe

    def personalize(self, concept: Concept, train_images: list[Path]) -> None:
        loaded = self.models.model_for(concept.id)
        if self.personalization == "text" or concept.id in loaded.pipe.concepts:
            return
        folder = self.concepts_option or loaded.concepts
        if folder is None:
            raise ModelError(f"{self.name} needs concept weights: pass --option concepts=DIR "
                             f"(DIR/{concept.id}.safetensors or DIR/{concept.id}/epoch_<N>_embed.pt)")
        try:
            self.pipe.add_concept_from(folder, concept.id, self.run_name, self.epoch)
        except FileNotFoundError as error:
            raise ModelError(str(error)) from None

    def _tokens(self, concept: Concept) -> ConceptTokens | None:
        return None if self.personalization == "text" else self.pipe.concepts[concept.id]

    def _system(self, request: UnderstandRequest) -> str:
        return understanding_system(request.concept, request.task, self._tokens(request.concept))

    def _condition(self, request: GenerateRequest) -> str:
        prompt = request.prompt
        if request.task == "pure_gen" and self.pure_gen_names == "substring":
            prompt = name_substituted(prompt, request.concept.id, request.concept.token)
        return generation_condition(request.concept, prompt, self._tokens(request.concept))

    def model_epoch_of(self, concept: str) -> int:
        """The harness's `model_epoch` for a concept: the `model_epoch<N>.pt` applied (rl_weights), else the one
        given or 0."""
        if self.rl_weights is None:
            return self.model_epoch or 0
        return self.model_epoch if self.model_epoch is not None else epochs_in(self.rl_weights / concept,
                                                                                SYNC_R1_FILE)[-1]

    def request_seed(self, base_seed: int, task: str, concept: str, item_id: str) -> int:
        """The seed the harness sets before this request (see the module docstring)."""
        return request_seed(base_seed, HARNESS_ADAPTER, task, concept, self.model_epoch_of(concept), item_id)

    def understand(self, requests: list[UnderstandRequest]) -> list[str]:
        images = [open_rgb(request.image) for request in requests]
        flips = [harness_flip(r.seed) for r in requests] if self.flip == "harness" else None
        return self.pipe.understand(images, [r.prompt for r in requests], [self._system(r) for r in requests],
                                    flips=flips, latent_text=self.latent_text, max_new_tokens=self.max_new_tokens)

    def generate(self, requests: list[GenerateRequest]) -> list[Image.Image]:
        return self.pipe.generate([self._condition(r) for r in requests], seed=[r.seed for r in requests],
                                  config=self.sampler)


@dataclass
class Loaded:
    pipe: ShowoPipeline
    concepts: Path | None
    """The concept tokens the checkpoint brings (a bundle's `concepts/`), if any."""


@dataclass(frozen=True)
class ModelOpener:
    """Opens a checkpoint (a bundle, or a Show-o base by folder or hub id) as this adapter's pipeline."""

    name: str
    magvit: str | None
    device: str
    mmu_vocab: MmuVocab
    pixels: Pixels

    def __call__(self, checkpoint: str | Path) -> Loaded:
        bundle = ShowoBundle(Path(checkpoint))
        is_bundle = bundle.exists()
        showo = bundle.showo if is_bundle else checkpoint
        magvit = self.magvit or (str(bundle.magvit) if is_bundle else DEFAULT_MAGVIT)
        try:
            pipe = ShowoPipeline.from_pretrained(showo, magvit, device=self.device, mmu_vocab=self.mmu_vocab,
                                                 pixels=self.pixels)
        except (OSError, ValueError) as error:
            raise weights_not_found(self.name, checkpoint, error) from None
        return Loaded(pipe, bundle.concepts if is_bundle else None)


class Models(Protocol):
    """Where each concept's model comes from: one of the three checkpoint shapes below."""

    current: Loaded | None
    """The model loaded now (None before the first concept of a per-concept folder)."""

    def model_for(self, concept: str) -> Loaded: ...


class OneModel:
    """`--checkpoint` is one model (a bundle, or a base with `concepts=`): loaded once, shared by every concept."""

    def __init__(self, open_model: ModelOpener, checkpoint: str) -> None:
        self.current = open_model(checkpoint)

    def model_for(self, concept: str) -> Loaded:
        return self.current


def _check_training_finished(name: str, checkpoint: Path, own_models: dict[str, ShowoBundle]) -> None:
    """A `ubpp train` folder whose runs have not exported their model yet: say so, instead of failing to read it as
    one model (no config.json)."""
    if not checkpoint.is_dir() or ShowoBundle(checkpoint).exists():
        return
    runs = [checkpoint] if (checkpoint / RUN_CONFIG).is_file() else \
        [child for child in sorted(checkpoint.iterdir()) if (child / RUN_CONFIG).is_file()]
    unfinished = [run for run in runs if run.name not in own_models and not ShowoBundle.of_run(run).exists()]
    if unfinished and not own_models:
        raise ModelError(f"{name}: {checkpoint} is a training run that has not finished (no model/ in "
                         f"{', '.join(str(run) for run in unfinished)}); continue it with `ubpp train syncr1 ... "
                         f"--out {checkpoint.parent if is_concept_run(checkpoint) else checkpoint} --resume`")


class ModelPerConcept:
    """`--checkpoint` is a folder of per-concept bundles (`<c>/` or `<c>/model/`, a training run per concept):
    each concept's own, loaded when its turn comes (the previous one released first)."""

    def __init__(self, open_model: ModelOpener, checkpoint: str, bundles: dict[str, ShowoBundle]) -> None:
        self.open_model, self.checkpoint, self.bundles = open_model, checkpoint, bundles
        self.concept: str | None = None
        self.current: Loaded | None = None

    def model_for(self, concept: str) -> Loaded:
        if concept != self.concept:
            folder = path_component(concept, "concept")
            bundle = self.bundles.get(folder)
            if bundle is None:
                raise ModelError(f"{self.open_model.name}: no model for concept {concept} in {self.checkpoint} "
                                 f"(expected {folder}/showo/ or {folder}/model/showo/ there)")
            self.current = None  # the previous concept's model is released before the next one loads
            self.current, self.concept = self.open_model(bundle.root), concept
        return self.current


class BaseWithSyncR1Weights:
    """`--checkpoint` is the base and `rl_weights` holds the authors' `<c>/model_epoch<N>.pt`: the base with the
    concept's file loaded into it (the base is opened again when another concept's weights are in it)."""

    def __init__(self, open_model: ModelOpener, checkpoint: str, rl_weights: Path, model_epoch: int | None) -> None:
        self.open_model, self.checkpoint = open_model, checkpoint
        self.rl_weights, self.model_epoch = rl_weights, model_epoch
        self.concept: str | None = None
        self.current = open_model(checkpoint)

    def model_for(self, concept: str) -> Loaded:
        if concept == self.concept:
            return self.current
        name = self.open_model.name
        try:
            path = sync_r1_model_file(self.rl_weights, concept, self.model_epoch)
        except FileNotFoundError as error:
            raise ModelError(f"{name}: {error}") from None
        if self.current.pipe.concepts:  # the previous concept's weights: start again from the base
            self.current = None
            self.current = self.open_model(self.checkpoint)
        try:
            self.current.pipe.add_trained_concept(concept, path)
        except (OSError, ValueError, RuntimeError) as error:
            raise ModelError(f"{name}: cannot load {path}: {str(error).splitlines()[0][:300]}") from None
        self.concept = concept
        return self.current


def _check_rl_weights(name: str, personalization: str, rl_weights: Path | None, model_epoch: int | None,
                      own_models: bool, token_options: dict[str, Any]) -> None:
    """Refuse `rl_weights` / `model_epoch` where they cannot mean what they say, before any weight is read."""
    if rl_weights is None:
        return
    if personalization == "text":
        raise ModelError(f"{name} describes concepts in text and takes no Sync-R1 weights (rl_weights)")
    if own_models:
        raise ModelError(f"{name}: --checkpoint is a folder of per-concept models; rl_weights needs the base they "
                         f"were trained from")
    given = [key for key, value in token_options.items() if value is not None]
    if given:
        raise ModelError(f"{name}: rl_weights files hold the concept rows; drop {', '.join(f'{k}=' for k in given)}")
    if model_epoch == 0:
        raise ModelError(f"{name}: model_epoch=0 is the concept tokens alone in the authors' harness: evaluate "
                         f"--model unictokens with concepts=DIR instead")
    if not rl_weights.is_dir():
        raise ModelError(f"{name}: rl_weights folder {rl_weights} not found (expected <concept>/model_epoch<N>.pt)")
    latest = {c.name: epochs[-1] for c in sorted(rl_weights.iterdir()) if (epochs := epochs_in(c, SYNC_R1_FILE))}
    if model_epoch is None and len(set(latest.values())) > 1:
        raise ModelError(f"{name}: the concepts' latest epochs differ in {rl_weights} "
                         f"({', '.join(f'{c} {e}' for c, e in latest.items())}): pass model_epoch=N, so that every "
                         f"concept is scored at the same epoch")


def syncr1(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> ShowoAdapter:
    return ShowoAdapter("syncr1", checkpoint, device, personalization="tokens", **options)


def unictokens(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> ShowoAdapter:
    return ShowoAdapter("unictokens", checkpoint, device, personalization="tokens", **options)


def showo_tp(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> ShowoAdapter:
    if "concepts" in options:
        raise ModelError("showo-tp describes concepts in text and takes no concept weights")
    return ShowoAdapter("showo-tp", checkpoint, device, personalization="text", **options)
