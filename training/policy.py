"""The trainable Show-o policy: building it, choosing what trains, its log-probs as one module, and export.

Every gradient-carrying pass goes through `PolicyLogprobs.forward`, so the
module accelerate prepares (DDP / FSDP / DeepSpeed) sees each of them.
The exported bundle (`showo/`, `magvit/`, `concepts/`) is what
`ubpp evaluate --model syncr1 --checkpoint DIR` loads: the base weights
without concept rows, and one safetensors file per concept.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from baselines.showo.bundle import ShowoBundle
from baselines.showo.checkpoints import resolve
from baselines.showo.model import VOCAB_KEYS, Showo
from baselines.showo.pipeline import ShowoPipeline, build_tiny_checkpoint
from baselines.showo.sampler import MaskGitSampler, SamplerConfig
from baselines.showo.understand import Understander
from unifybench_pp.errors import SettingsError
from unifybench_pp.files import staged_directory
from unifybench_pp.jsonio import write_json

from .config import TINY_PRETRAINED, TrainConfig
from .outdir import BASE, BUNDLE_KIND
from .pretrain_tiny import TINY_BASE

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "config.json")


def base_folders(config: TrainConfig, out: Path) -> tuple[str, str]:
    """(showo, magvit) to load: `tiny-mini` is the shipped tiny pretrained base; `tiny` builds a tiny random base
    once under out/base (reused on resume)."""
    if config.showo == TINY_PRETRAINED:
        return str(TINY_BASE.showo), str(TINY_BASE.magvit)
    if config.showo != "tiny":
        return config.showo, config.magvit
    base = ShowoBundle(out / BASE)
    if not (base.showo / "config.json").is_file():
        with staged_directory(base.root, "tiny random Show-o base") as staging:
            build_tiny_checkpoint(staging, seed=config.seed)
    return str(base.showo), str(base.magvit)


def load_policy(config: TrainConfig, showo: str, magvit: str, concepts: list[str], device: str) -> ShowoPipeline:
    """The base model with every trained concept's tokens: SFT-initialized from `concept_init`, else fresh."""
    pipe = ShowoPipeline.from_pretrained(showo, magvit, device=device)
    for concept in concepts:
        if config.concept_init:
            pipe.add_concept_from(Path(config.concept_init), concept, config.concept_run_name, config.concept_epoch)
        else:
            pipe.add_concept(concept)
    return pipe


def concept_row_mask(pipe: ShowoPipeline) -> torch.Tensor:
    ids = pipe.concept_ids()
    mask = torch.zeros(pipe.model.phi.get_input_embeddings().num_embeddings, dtype=torch.bool)
    mask[ids] = True
    return mask


def row_tensors(pipe: ShowoPipeline) -> list[nn.Parameter]:
    """The tensors holding a row per token: input embedding, output weight and bias."""
    phi = pipe.model.phi
    return [phi.get_input_embeddings().weight, phi.lm_head.weight, phi.lm_head.bias]


class ConceptRows:
    """The concept tokens' rows of the embedding and output tensors, as small parameters the optimizer holds.

    The model reads the whole tensors, so gradients land there; moving the
    concept rows' gradient into the small parameters before the step, and
    their values back after it, gives AdamW state and checkpoints the size of
    the rows (0.3 MB at 1.3B, not 3 GB) and touches no other row, weight
    decay included.
    """

    NAMES = ("embed_tokens.weight", "lm_head.weight", "lm_head.bias")

    def __init__(self, pipe: ShowoPipeline) -> None:
        self.mask = concept_row_mask(pipe).to(pipe.device)
        self.full = row_tensors(pipe)
        self.params = {name: nn.Parameter(tensor.detach()[self.mask].clone())
                       for name, tensor in zip(self.NAMES, self.full)}

    def gather_grads(self) -> None:
        for small, big in zip(self.params.values(), self.full):
            small.grad = None if big.grad is None else big.grad[self.mask].clone()
            big.grad = None

    @torch.no_grad()
    def scatter(self) -> None:
        for small, big in zip(self.params.values(), self.full):
            big[self.mask] = small


def select_trainable(pipe: ShowoPipeline, config: TrainConfig) -> list[nn.Parameter]:
    """The tensors that receive gradients. `full`: everything; `concepts`: the embedding and output tensors (of
    which `ConceptRows` trains the concept rows); `lora`: LoRA adapters (peft) + those tensors."""
    model = pipe.model
    if config.trainable == "full":
        model.requires_grad_(True)
        return [p for p in model.parameters() if p.requires_grad]
    model.requires_grad_(False)
    params: list[nn.Parameter] = []
    if config.trainable == "lora":
        try:
            from peft import LoraConfig, inject_adapter_in_model
        except ImportError:
            raise SettingsError("trainable=lora needs peft: pip install peft") from None
        lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, target_modules=config.lora_targets,
                          lora_dropout=0.0)
        with torch.random.fork_rng(devices=[]):  # LoRA's A matrices are drawn from the global generator: seed it,
            torch.manual_seed(config.seed)       # so a run (and its resume) does not depend on what ran before
            try:
                inject_adapter_in_model(lora, model.phi.model)
            except ValueError:  # peft: no module of the model matches the targets
                linear = sorted({name.rpartition(".")[2] for name, module in model.phi.model.named_modules()
                                 if isinstance(module, nn.Linear)})
                raise SettingsError(f"lora_targets {config.lora_targets} match no layer of the model; its linear "
                                    f"layers are named {', '.join(linear)}") from None
        params += [p for n, p in model.named_parameters() if "lora_" in n]
    rows = row_tensors(pipe)
    for param in rows:
        param.requires_grad_(True)
    return params + rows


class Reference:
    """The KL anchor π_ref: the policy as it started.

    `full` trains every weight, so the anchor is a frozen copy. `concepts` and
    `lora` train a few rows and adapters: the anchor is the policy's own
    module with the starting concept rows swapped in and the adapters off
    while it runs, so the frozen weights are never held twice.
    """

    def __init__(self, pipe: ShowoPipeline, trainable: str) -> None:
        self.model = pipe.model
        self.copy: Showo | None = None
        self.rows: dict[nn.Parameter, torch.Tensor] = {}
        if trainable == "full":
            self.copy = copy.deepcopy(pipe.model).eval().requires_grad_(False)
            return
        mask = concept_row_mask(pipe).to(pipe.device)
        self.mask = mask
        for param in row_tensors(pipe):
            self.rows[param] = param.detach()[mask].clone()

    @contextmanager
    def weights(self) -> Iterator[Showo]:
        """The reference model, for no-grad use inside the block (shared weights are restored after it)."""
        if self.copy is not None:
            yield self.copy
            return
        from peft.tuners.tuners_utils import BaseTunerLayer

        adapters = [m for m in self.model.modules() if isinstance(m, BaseTunerLayer)]
        with torch.no_grad():
            current = {param: param[self.mask].clone() for param in self.rows}
            for param, start in self.rows.items():
                param[self.mask] = start
            for module in adapters:
                module.enable_adapters(False)
            try:
                yield self.model
            finally:
                for param, value in current.items():
                    param[self.mask] = value
                for module in adapters:
                    module.enable_adapters(True)


class PolicyLogprobs(nn.Module):
    """Log-probs of sampled decisions under the wrapped model: reasoning tokens, or one denoising step's positions."""

    def __init__(self, model: Showo, pipe: ShowoPipeline, sampler_config: SamplerConfig, text_temperature: float):
        super().__init__()
        self.model = model
        self._pipe = [pipe]  # a list, so the pipeline is not registered as a submodule
        self.sampler_config = sampler_config
        self.text_temperature = text_temperature

    def forward(self, kind: str, prompt_ids: torch.Tensor, *args: Any) -> Any:
        """`text`: (image_end, answers) -> ((rows, T) log-probs, mask); `image`: (state, prediction, uncond_ids) ->
        (rows, N) log-probs of that step."""
        pipe = self._pipe[0]
        if kind == "text":
            understander = Understander(self.model, pipe.vocab, pipe.tokenizer, mmu_vocab="text")  # as rollouts sample
            return understander.answer_logprobs(prompt_ids, *args, self.text_temperature)
        state, prediction, uncond_ids = args
        return MaskGitSampler(self.model, pipe.vocab).step_logprobs(prompt_ids, state, prediction,
                                                                    self.sampler_config, uncond_ids)


def _strip_concepts(model: Showo, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """The model's weights without concept rows (what the base checkpoint layout holds), LoRA merged."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    model = copy.deepcopy(model)
    for module in list(model.modules()):
        if isinstance(module, BaseTunerLayer):
            module.merge()
    state = {}
    for key, value in model.state_dict().items():
        if "lora_" in key:
            continue
        key = key.replace(".base_layer.", ".")
        if key in VOCAB_KEYS:
            value = value[~mask.to(value.device)]
        state[key] = value.detach().to("cpu").contiguous()
    return state


def export_bundle(pipe: ShowoPipeline, showo: str, magvit: str, out: Path, trainable: str) -> Path:
    """Write the evaluation bundle to `out` atomically: showo/ (base, no concept rows), magvit/, concepts/."""
    from safetensors.torch import save_file

    base = resolve(showo)
    with staged_directory(out, BUNDLE_KIND) as staging:
        bundle = ShowoBundle(staging)
        if trainable == "concepts":
            shutil.copytree(base, bundle.showo)  # the base weights did not change
        else:
            bundle.showo.mkdir(parents=True)
            for item in base.iterdir():  # tokenizer files and anything else the base ships
                if item.is_file() and item.name not in WEIGHT_FILES and not item.name.startswith("model-"):
                    shutil.copy2(item, bundle.showo / item.name)
            config = pipe.model.config.to_json()
            config["vocab_size"] = int(config["vocab_size"] - concept_row_mask(pipe).sum())
            write_json(bundle.showo / "config.json", config)
            save_file(_strip_concepts(pipe.model, concept_row_mask(pipe)), str(bundle.showo / "model.safetensors"))
        shutil.copytree(resolve(magvit), bundle.magvit)
        for concept in pipe.concepts:
            pipe.save_concept(concept, bundle.concept_file(concept))
    return out
