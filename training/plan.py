"""`ubpp train syncr1 --plan`: what a run will do, hold and need, from its settings alone, before anything trains.

A run on a rented GPU that stops at step 0 for a missing model, or at step 40
for a full disk, costs hours; the plan says it in seconds: the effective batch
over the processes, the predicted peak memory per GPU (`training.memory`, plus
what that model leaves out: DDP's gradient buckets, MAGVIT's decode, the CUDA
context), the disk a checkpoint and a run take, whether a GPU is visible (and needed), and
every missing input with its fix. Nothing is loaded but the model's config.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from baselines.showo.magvit2 import Magvit2Config
from evaluators.availability import check, hub_model
from unifybench_pp import MINI_SOURCE, load
from unifybench_pp.sources.release import read_release

from .config import TrainConfig, changed_settings, yaml_value
from .data import MINI_BENCHMARK, NO_BENCHMARK
from .memory import GB, MB, SCORER_PARAMETERS, SHOWO_512, Arch, predict, trainable_parameters
from .outdir import out_problem
from .pretrain_tiny import TINY_BASE
from .rewards import reward, scoring_config, training_option

KNOWN_BASES = {"showlab/show-o-512x512": SHOWO_512, "showlab/show-o": Arch(image_tokens=256)}
"""Show-o releases whose architecture the plan knows without their config file."""

DDP_BUCKET_FACTOR = 1.29 / 1.16
"""DDP's gradient buckets per byte of trainable float32 weights: +1.29 GB measured for 1.16 GB on the CPU (gloo)."""
CUDA_OVERHEAD = 3.65 * GB
"""What a GPU process holds beyond the memory model's tensors, measured once (`bench/gpu_check.py` on an H200,
torch 2.11, bf16, the paper preset on a random Show-o 512): the caching allocator reserved 44.47 GB against
41.33 GB of predicted tensors (2.00 GB of the 3.14 GB were allocated tensors the model leaves out, the rest the
allocator's slack), plus ~0.5 GB of CUDA context, which torch does not count (stated, not measured)."""
MAGVIT_LIVE_TENSORS = 3
"""MAGVIT-v2's decoder at full resolution: ~3 tensors of its top width alive at once (an estimate)."""


PEAK_WHERE = {False: "per GPU", True: "per process (CPU, tensors only)"}
"""How the peak line names what it predicts: a GPU's memory, or a CPU process's (no CUDA context)."""


@dataclass
class Plan:
    lines: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """One line per missing input: the setting, what is wrong, and the fix."""
    peak: float | None = None
    """The predicted peak per GPU (or, for a tiny base on this CPU, per process) in bytes; None when the
    architecture is not known here."""


def processes_launched() -> int:
    """The processes of this launch (`accelerate launch` / torchrun set WORLD_SIZE), else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


TRACKER_PACKAGES = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",)}
"""`report_to` trackers and the packages any of which accelerate logs to them with."""


def tracker_problems(names: list[str]) -> list[str]:
    """accelerate only warns when a tracker is missing; a run that was asked to log there should not start."""
    import importlib.util

    problems = []
    for name in names:
        if name not in TRACKER_PACKAGES:
            problems.append(f"report_to {name!r} is not supported; choose from {', '.join(TRACKER_PACKAGES)}")
        elif not any(importlib.util.find_spec(package) for package in TRACKER_PACKAGES[name]):
            problems.append(f"report_to {name} needs its package: pip install {TRACKER_PACKAGES[name][0]}")
    return problems


def _scheduler_error(name: str) -> str | None:
    """Why transformers' schedule `name` cannot run as the trainer runs it (built from the warm-up and total steps
    alone, stepped without a metric), tried on a one-weight optimizer; None if it can."""
    import torch
    from transformers import get_scheduler

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    try:
        schedule = get_scheduler(name, optimizer, num_warmup_steps=1, num_training_steps=2)
        optimizer.step()
        schedule.step()
    except (TypeError, ValueError) as error:
        return str(error).split("\n")[0]
    return None


def machine_problems(config: TrainConfig) -> list[str]:
    """What the installed packages and this machine cannot do with these settings: the trackers, the scheduler,
    the device (checked by `--plan` and again before a run loads anything)."""
    return tracker_problems(config.report_to) + scheduler_problems(config.lr_scheduler) + device_problems(config.device)


def device_problems(device: str | None) -> list[str]:
    """The `device` setting, where this machine cannot run a model on it (unset: accelerate chooses)."""
    from baselines.base import ModelError, checked_device

    if device is None:
        return []
    try:
        checked_device(device, lambda value: f"--set device={value}")
    except ModelError as error:
        return [str(error)]
    return []


def scheduler_problems(name: str) -> list[str]:
    """`lr_scheduler` must be a transformers schedule that runs on these settings alone (else the run fails after
    the model loads, or at step 1)."""
    from transformers import SchedulerType

    names = [kind.value for kind in SchedulerType]
    error = _scheduler_error(name) if name in names else None
    if name in names and error is None:
        return []
    why = f"cannot run here ({error})" if name in names else "is not a transformers scheduler"
    usable = [other for other in names if other != name and _scheduler_error(other) is None]
    return [f"lr_scheduler {name!r} {why}; choose from {', '.join(usable)}"]


def missing_weights(config: TrainConfig) -> list[str]:
    """The Show-o and MAGVIT weights the settings name, where they are not here: setting, problem, fix."""
    if config.tiny_base:
        return []
    problems = []
    for setting in ("showo", "magvit"):
        found = hub_model(setting, getattr(config, setting), lambda name, value: f"--set {name}={value}")
        if not found.available:
            problems.append(f"{setting}: {found.detail}; {found.enable}")
    return problems


def _concepts_in(benchmark: str | None) -> set[str] | None:
    """The concepts a run on `benchmark` can train: a build's, or the bundled mini release's where the tiny
    preset's default folder is not built yet (the run builds it); None when there is nothing to read."""
    if benchmark and (Path(benchmark) / "manifest.json").is_file():
        return set(load(Path(benchmark)).concepts)
    if benchmark and Path(benchmark) == Path(MINI_BENCHMARK):
        return {concept.name for concept in read_release(MINI_SOURCE).concepts}
    return None


def missing_inputs(config: TrainConfig) -> list[str]:
    """Everything a run needs that is not here, one line each (nothing is loaded)."""
    problems = []
    if config.benchmark is None:
        problems.append(f"benchmark: {NO_BENCHMARK}")
    elif Path(config.benchmark) != Path(MINI_BENCHMARK) and not (Path(config.benchmark) / "manifest.json").is_file():
        problems.append(f"benchmark: {config.benchmark} is not a built UnifyBench++ (no manifest.json); build it with "
                        f"`ubpp build-dataset --source RELEASE --out {config.benchmark}`")
    if not config.concepts:
        problems.append("concepts: none named; --concept NAME (the authors train one per run) or --set concepts=all")
    elif config.concepts != "all" and (available := _concepts_in(config.benchmark)) is not None:
        unknown = [name for name in config.concepts if name not in available]
        if unknown:
            problems.append(f"concepts: {', '.join(map(repr, unknown))} not in {config.benchmark}; it has "
                            f"{', '.join(sorted(available))}")
    if config.concept_init and not Path(config.concept_init).is_dir():
        problems.append(f"concept_init: folder {config.concept_init} not found; pass the UniCTokens/SFT output folder")
    problems += missing_weights(config) + machine_problems(config)
    scoring = scoring_config(config.rewards)
    rewards = config.rewards
    moves = any(name in rewards.person_only for name in rewards.weights)  # pets' and objects' weight: the fallback
    named = [*(("rewards.weights", name, True) for name in rewards.weights), ("rewards.fallback", rewards.fallback,
             moves), *([("dgs.surrogate", config.dgs.surrogate, True)] if config.dgs.enabled else [])]
    first_setting: dict[str, str] = {}  # each reward once, named by the first setting that names it
    used: dict[str, bool] = {}
    for setting, name, use in named:
        first_setting.setdefault(name, setting)
        used[name] = used.get(name, False) or use
    for name, setting in first_setting.items():
        try:
            needs = reward(name).needs
        except ValueError as error:  # an unknown name stops the run even when unused (the ensemble loads it)
            problems.append(f"{setting}: {error}")
            continue
        if not used[name] or needs is None:
            continue
        found = check(needs, scoring, training_option)
        if not found.available:
            problems.append(f"reward {name} ({found.scorer} {found.model}): {found.detail}; {found.enable}")
    return problems


def architecture(config: TrainConfig) -> tuple[Arch | None, str]:
    """The base's architecture (from its config.json where it is here), and where it was read."""
    from baselines.showo.vocab import Vocab

    if config.showo in KNOWN_BASES:
        return KNOWN_BASES[config.showo], f"{config.showo} (known release)"
    folder = TINY_BASE.showo if config.tiny_base else Path(config.showo)
    if not (folder / "config.json").is_file():
        return None, f"{config.showo}: no config.json here"
    showo = json.loads((folder / "config.json").read_text())
    llm, codebook = showo["llm_config"], showo["codebook_size"]
    vocab = Vocab(showo["vocab_size"] - codebook - 1, codebook, 0, 0, 0, 0, 0, 0, 0)
    return Arch(llm["hidden_size"], llm["intermediate_size"], llm["num_hidden_layers"], llm["num_attention_heads"],
                showo["num_vq_tokens"], vocab), str(folder)


def trains_on_cpu(config: TrainConfig) -> bool:
    """Where a run with these settings trains on this machine: `device: cpu`, or no device set and no GPU seen."""
    import torch

    return config.device == "cpu" or (config.device is None and not torch.cuda.is_available())


def _predicts_cpu(config: TrainConfig) -> bool:
    """The plan predicts the memory of the machine the run would use: a tiny base trains on this CPU when no GPU
    is here; a full-size Show-o needs a GPU, so its plan predicts one even when made on a laptop beforehand."""
    return config.tiny_base and trains_on_cpu(config)


def _gpus(config: TrainConfig) -> str:
    """The GPUs seen; where none is, whether these settings need one: the tiny bases train on a CPU, fp16 refuses
    to start without a GPU, a full-size Show-o would take days on a CPU."""
    import torch

    if torch.cuda.is_available():
        return ", ".join(f"{torch.cuda.get_device_name(k)} ({torch.cuda.get_device_properties(k).total_memory / GB:.0f}"
                         f" GB)" for k in range(torch.cuda.device_count()))
    if config.mixed_precision == "fp16":
        return "none visible (mixed_precision fp16 needs one)"
    if config.tiny_base:
        return "none visible (not needed: a tiny base trains on the CPU)"
    return "none visible (a full-size Show-o needs one: bf16, ~80 GB for the paper preset)"


def _concept_count(config: TrainConfig) -> int | None:
    """How many concepts the run trains: those named, or the benchmark's for `all` (None where it is not here)."""
    if isinstance(config.concepts, list):
        return len(config.concepts)
    available = _concepts_in(config.benchmark) if config.concepts == "all" else None
    return None if available is None else len(available)


def magvit_bytes(config: TrainConfig) -> float:
    """The MAGVIT a run's bundle copies: the tiny bases' own (`tiny` builds one like the shipped asset's), a local
    folder as it is on disk, else the released MAGVIT-v2's float32 weights."""
    folder = _magvit_folder(config)
    if folder.is_dir():
        return float(sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()))
    return 4.0 * SCORER_PARAMETERS["magvit"]


def _magvit_folder(config: TrainConfig) -> Path:
    """Where the run's MAGVIT is: a tiny base's own, else `magvit` (a local folder, or a hub id: no folder here)."""
    return TINY_BASE.magvit if config.tiny_base else Path(config.magvit)


def magvit_channels(config: TrainConfig) -> int:
    """The decoder's top width: a local folder's own config (a tiny base's 32), else the released MAGVIT-v2's."""
    folder = _magvit_folder(config)
    return Magvit2Config.of_folder(folder).channels if folder.is_dir() else Magvit2Config().channels


def _unit(total: float) -> tuple[float, str]:
    """GB from 1 GB up, MB below: a tiny run's few MB would all read 0.00 GB."""
    return (GB, "GB") if total >= GB else (MB, "MB")


def disk_lines(config: TrainConfig, arch: Arch, trained: float, runs: int | None) -> list[tuple[str, str]]:
    """What one checkpoint and one run leave on disk, and all the runs of a run per concept together: the
    checkpoints kept (the run saves every `save_every` steps and at the end) and the exported bundle (the weights
    without concept rows, its MAGVIT; `tiny` builds its random base into the run as well)."""
    weights = 4.0 * (arch.parameters if config.trainable == "full" else trained)
    adamw = 8.0 * trained if config.save_optimizer else 0.0
    checkpoint = weights + adamw
    kept = min(config.keep_checkpoints, math.ceil(config.steps / config.save_every))
    bundle = 4.0 * arch.parameters + magvit_bytes(config)
    built = bundle if config.showo == "tiny" else 0.0
    per_run = kept * checkpoint + bundle + built
    scale, unit = _unit(checkpoint)
    lines = [("disk per checkpoint", f"{checkpoint / scale:.2f} {unit} (weights {weights / scale:.2f}"
                                     + (f" + AdamW {adamw / scale:.2f})" if adamw else ", no optimizer state)"))]
    scale, unit = _unit(per_run)
    lines.append(("disk per run", f"{per_run / scale:.2f} {unit}{' per concept' * config.run_per_concept} ({kept} "
                                  f"checkpoint{'s' * (kept != 1)} kept + the model bundle {bundle / scale:.2f}"
                                  + (f" + the tiny random base {built / scale:.2f})" if built else ")")))
    if config.run_per_concept and runs:
        scale, unit = _unit(runs * per_run)
        lines.append(("disk, all runs", f"{runs * per_run / scale:.2f} {unit} ({runs} concept{'s' * (runs != 1)}, "
                                        f"a run each)"))
    return lines


def make_plan(config: TrainConfig, processes: int | None = None, out: Path | None = None) -> Plan:
    """What a run with these settings would do and need; with `out`, whether that folder can hold it."""
    plan = Plan(missing=missing_inputs(config))
    if out is not None and (problem := out_problem(out, config.run_per_concept)):
        plan.missing.append(f"out: {problem}")
    told = processes is not None
    processes = processes or processes_launched()
    per_process = config.batch_size * config.gradient_accumulation_steps
    split = config.distribute == "split_group"
    groups = per_process * (1 if split else processes)
    concepts = _concept_count(config)
    per_concept = "" if not config.run_per_concept else \
        f" per concept, {concepts} run{'s' * (concepts != 1)}" if concepts else " per concept, a run per concept"
    source = "--processes" if told else "WORLD_SIZE" if "WORLD_SIZE" in os.environ else \
        "one: pass --processes N for a launch of N"
    cpu = _predicts_cpu(config)
    precision = {"auto": "float32 (auto on a CPU)" if cpu else
                 "bf16 autocast on a GPU, float32 on a CPU (memory predicted for a GPU)",
                 "bf16": "bf16 autocast", "fp16": "fp16 autocast", "no": "float32"}[config.mixed_precision]
    plan.lines += [
        ("processes", f"{processes} ({source})"),
        ("groups per optimizer step", f"{groups} of G = {config.group_size} "
                                      f"({'each group split over the processes' if split else 'one per process'}, "
                                      f"distribute: {config.distribute})"),
        ("optimizer steps", f"{config.steps}{per_concept}" + (
            f" ({config.updates_per_rollout} updates each, at the step's rate)" if config.updates_per_rollout > 1
            else "")),
        ("precision (rollouts and loss)", precision),
        ("GPU", _gpus(config)),
    ]
    plan.lines += [(f"set: {doc.name}", f"{yaml_value(value)} (default {yaml_value(doc.default)}): {doc.summary}")
                   for doc, value in changed_settings(config)]
    arch, source = architecture(config)
    if arch is None:
        plan.lines.append(("memory", f"not predicted: {source}"))
        return plan
    plan.lines.append(("architecture", f"{arch.layers} layers, width {arch.hidden}, {arch.image_tokens} image tokens, "
                                       f"{arch.parameters / 1e6:,.1f} M parameters ({source})"))
    if cpu and config.mixed_precision == "auto":
        config = replace(config, mixed_precision="no")  # what the trainer runs on a CPU
    bf16 = config.mixed_precision in ("bf16", "auto")
    prediction = predict(config, arch, scorers=not config.tiny_base)
    trained, _ = trainable_parameters(config, arch, concept_rows=25)
    if processes > 1:
        prediction.parts["DDP gradient buckets"] = DDP_BUCKET_FACTOR * 4.0 * trained
    side = 16 * round(arch.image_tokens ** 0.5)
    decoded = max(config.group_size, config.dgs.screen_batch)
    prediction.parts[f"MAGVIT decode, {decoded} images at {side} px (estimate)"] = \
        decoded * MAGVIT_LIVE_TENSORS * magvit_channels(config) * side * side * (2 if bf16 else 4)
    if not cpu:
        prediction.parts["CUDA context + slack (measured on an H200)"] = CUDA_OVERHEAD
    scale, unit = _unit(prediction.total)
    for name, value in prediction.parts.items():
        plan.lines.append((f"memory: {name}", f"{value / scale:.2f} {unit}"))
    plan.peak = prediction.total
    plan.lines.append((f"predicted peak {PEAK_WHERE[cpu]}", f"{plan.peak / scale:.1f} {unit}"))
    plan.lines += disk_lines(config, arch, trained, concepts)
    return plan
