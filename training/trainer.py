"""The Sync-R1 training loop: rollouts, rewards, Sync-GRPO updates, DGS threshold control, checkpoints.

Output folder:
    config.yaml            the settings this run uses (a resume must match them)
    metrics.jsonl          one line per optimizer step: rewards by component, loss parts, KL, pass rate, τ,
                           denoising steps spent and what finishing every screened candidate would cost
    samples.jsonl          one line per kept trajectory: reasoning text, every reward component, advantage
    launch.json            processes, distribute, groups per optimizer step, group size (rewritten at each start)
    checkpoints/step-000020/
                           accelerate state (weights, optimizer, scheduler, RNG) + trainer_state.json; the step
                           zero-padded to 6 digits, the last `keep_checkpoints` kept
    model/                 the evaluation bundle (`ubpp evaluate --model syncr1 --checkpoint OUT/model`)
With `run_per_concept`, OUT/<concept>/ holds each concept's own run as above,
and `ubpp evaluate --model syncr1 --checkpoint OUT` evaluates each concept
with its own model.

A step's rollouts are seeded by (seed, prompt index) only, so `--resume`
from a checkpoint repeats exactly what an uninterrupted run does next.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import parse_flag_from_env
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from baselines.showo.bundle import RUN_CONFIG, ShowoBundle
from baselines.showo.sampler import SamplerConfig, masked_per_step
from unifybench_pp.errors import UbppError
from unifybench_pp.files import append_durably, replace_directory, visible_entries
from unifybench_pp.jsonio import BadLine, jsonl_text, parse_jsonl, write_json, write_jsonl
from unifybench_pp.paths import path_component
from unifybench_pp.runlock import run_lock

from .config import TrainConfig, load_config, save_config
from .data import training_benchmark
from .dgs import ThresholdController, make_controller
from .loss import LossPart, group_advantages, sync_grpo_loss
from .outdir import CHECKPOINTS, LAUNCH, METRICS, SAMPLES, TRACKERS, out_problem
from .plan import machine_problems, missing_weights, trains_on_cpu
from .policy import ConceptRows, PolicyLogprobs, Reference, base_folders, export_bundle, load_policy, select_trainable
from .rewards import RewardEnsemble
from .rollout import PromptSchedule, Rollout, RolloutEngine, Share

Piece = tuple[str, list[int], int | None]
"""(kind, rows, step): `text` pieces cover the rows' reasoning, `image` pieces one denoising step of the rows."""


class TrainingError(UbppError, ValueError):
    """A run that cannot start as asked (existing run without --resume, changed settings, missing models)."""


@dataclass
class TrainResult:
    out: Path
    bundle: Path | None
    """The evaluation bundle, once the last step is done."""
    last_step: int
    """Steps done (over every concept's run, with `run_per_concept`)."""
    total_steps: int
    metrics: list[dict[str, Any]]
    ran: int = 0
    """Steps this invocation trained."""
    concept: str | None = None
    """With `run_per_concept`, one concept's run: that concept (its progress bar's label)."""
    last_run: TrainResult | None = None
    """With `run_per_concept`, all the runs: the concept's run this invocation reached last."""

    @property
    def stopped_at(self) -> str:
        """Where an unfinished run stands, in its progress bar's count: the run's step, or with `run_per_concept`
        the step of the concept's own run (its bar) and of all of them together."""
        run = self.last_run
        if run is None:
            return f"step {self.last_step} of {self.total_steps}"
        return (f"concept {run.concept}'s step {run.last_step} of {run.total_steps} ({self.last_step} of "
                f"{self.total_steps} steps over all concepts)")


def _checkpoints(out: Path) -> list[Path]:
    return sorted((out / CHECKPOINTS).glob("step-[0-9]*[0-9]"), key=lambda p: int(p.name.split("-")[1]))


def _read_log(path: Path) -> list[dict[str, Any]]:
    return [row for _, row in parse_jsonl(path.read_text(encoding="utf-8"))] if path.is_file() else []


def _truncate_log(path: Path, last_step: int) -> None:
    """Drop lines of steps after `last_step`, the checkpoint we start from (0 without one): they will be redone.
    A line that is no step record (a file ubpp did not write) stops the run before anything is lost."""
    try:
        rows = _read_log(path)
    except BadLine as error:
        raise TrainingError(f"{path}: {error}: not a log ubpp train wrote (fix: move the file aside)") from None
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or isinstance(row.get("step"), bool) or not isinstance(row.get("step"), int):
            raise TrainingError(f"{path}: line {number} is not a step record ubpp train wrote (fix: move the file "
                                f"aside)")
    write_jsonl(path, [row for row in rows if row["step"] <= last_step])


TRAINABLE_FILE = "trainable.safetensors"


def preflight(config: TrainConfig) -> None:
    """What the settings alone cannot tell (the launch, installed packages, the machine) checked before anything
    is written or loaded: a run that would stop or silently train something else is refused in one line."""
    refuse_sharded_launch()
    refuse_single_process_cpu_launch()
    problems = machine_problems(config)
    if problems:
        raise TrainingError("; ".join(problems))
    if config.mixed_precision == "fp16" and trains_on_cpu(config):
        raise TrainingError("mixed_precision=fp16 needs a GPU (on a CPU it would silently run in float32); "
                            "use mixed_precision=bf16 or no on a CPU")


def _concepts(config: TrainConfig, available: dict[str, Any]) -> list[str]:
    """The concepts this run trains: named ones, or `all`; none named, or one the benchmark lacks, is refused (the
    authors train one per run)."""
    if not config.concepts:  # unset, or an empty list: nothing would train
        raise TrainingError(f"name the concept to train, as the authors train one per run: --concept NAME "
                            f"(repeatable: each concept gets its own threshold), or --set concepts=all; "
                            f"the benchmark has {', '.join(sorted(available))}")
    if config.concepts == "all":
        return sorted(available)
    unknown = [name for name in config.concepts if name not in available]
    if unknown:
        raise TrainingError(f"concept(s) {', '.join(map(repr, unknown))} not in the benchmark's train split; it has "
                            f"{', '.join(sorted(available))}")
    return list(config.concepts)


def _enable_checkpointing(model: torch.nn.Module) -> None:
    """Recompute each decoder layer in the backward pass (transformers' checkpointing, non-reentrant).

    transformers checkpoints only in training mode, so the loss's forward runs in it: refused if that would turn
    on dropout, which would make the loss differ from the rollouts' policy.
    """
    config = model.phi.config
    dropouts = {name: getattr(config, name, 0.0) for name in ("resid_pdrop", "embd_pdrop", "attention_dropout")}
    if any(dropouts.values()):
        raise TrainingError(f"activation_checkpointing needs a model without dropout, this one has {dropouts}")
    if hasattr(model.phi, "activation_checkpointing_enable"):  # transformers >= 5.25 (the old name goes in v6)
        model.phi.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.phi.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


SHARDED_LAUNCHES = {"ACCELERATE_USE_DEEPSPEED": "DeepSpeed", "ACCELERATE_USE_FSDP": "FSDP",
                    "ACCELERATE_USE_MEGATRON_LM": "Megatron-LM"}
"""The switches `accelerate launch` sets for each sharded engine (from its flags or its config file)."""


def refuse_sharded_launch() -> None:
    """Stop before any model loads when launched for an engine this loop cannot drive correctly.

    The loss is back-propagated in many pieces per optimizer step (per denoising step and row); DeepSpeed
    turns each backward into an optimizer step and FSDP reshards between them, so either would train
    something else than asked without a word. accelerate only switches to them on GPUs, so the launch
    flags, not the resulting state, are what tells on every machine.
    """
    asked = [name for flag, name in SHARDED_LAUNCHES.items() if parse_flag_from_env(flag)]
    if asked:
        raise TrainingError(f"{' and '.join(asked)} is not supported (the loss is back-propagated in many pieces "
                            f"per optimizer step); launch with DDP (`accelerate launch --multi_gpu`) or on one GPU "
                            f"(the paper preset fits one 80 GB GPU)")


def loss_constants(config: TrainConfig, image_tokens: int) -> tuple[float, float]:
    """(C_und, C_gen): the reasoning token budget, and the image decisions one trajectory counts (`training.loss`)."""
    if config.image_positions == "all":
        decisions = config.generation_steps * image_tokens
    else:
        decisions = sum(masked_per_step(config.generation_steps, image_tokens))
    return float(config.und_constant or config.reasoning_max_new_tokens), float(config.gen_constant or decisions)


def one_process_of_several() -> bool:
    """Whether `accelerate launch --num_processes N` (N > 1) started this process alone. Its plain launcher (taken
    with --cpu, or without --multi_gpu on a machine of fewer than 2 GPUs) sets ACCELERATE_USE_CPU, and MASTER_ADDR
    when asked for several processes, then starts one; the launchers that start several (torchrun, --multi_gpu)
    give each WORLD_SIZE (accelerate 1.x, `commands/launch.py`: `simple_launcher`)."""
    return "ACCELERATE_USE_CPU" in os.environ and "MASTER_ADDR" in os.environ and "WORLD_SIZE" not in os.environ


ONE_OF_SEVERAL_FIX = ("use `accelerate launch --multi_gpu --num_processes N` on GPUs, or `torchrun --nproc_per_node N "
                      "-m cli train syncr1 ...` for N processes on the CPU (gloo)")


def refuse_single_process_cpu_launch() -> None:
    """`accelerate launch --cpu --num_processes N` starts one process (and says nothing): the user asked for N."""
    from accelerate.utils import str_to_bool

    if one_process_of_several() and str_to_bool(os.environ["ACCELERATE_USE_CPU"]):
        raise TrainingError(f"`accelerate launch --cpu` starts one process whatever --num_processes says: "
                            f"{ONE_OF_SEVERAL_FIX}")


class Trainer:
    def __init__(self, config: TrainConfig, out: Path, resume: bool = False, quiet: bool = False,
                 console: Console | None = None) -> None:
        from accelerate import Accelerator
        from transformers import get_scheduler

        preflight(config)
        self.config, self.out, self.quiet = config, out, quiet
        self.console = console or Console(stderr=True)
        out.mkdir(parents=True, exist_ok=True)
        self.start_checkpoint = self._check_resume(resume)
        cpu = trains_on_cpu(config)
        precision = ("no" if cpu else "bf16") if config.mixed_precision == "auto" else config.mixed_precision
        try:
            # the scheduler is stepped once per optimizer step: accelerate would step it once per process
            self.accelerator = Accelerator(cpu=cpu, mixed_precision=precision, log_with=config.report_to or None,
                                           project_dir=str(out), step_scheduler_with_optimizer=False)
        except (ImportError, ValueError) as error:
            raise TrainingError(f"cannot set up accelerate (mixed_precision={precision}): {error}") from None
        with self.accelerator.main_process_first():
            self.bench = training_benchmark(config.benchmark, self.console, quiet)
            self.showo, self.magvit = base_folders(config, out)
        self.schedule = PromptSchedule(self.bench, _concepts(config, self.bench.concepts), config.seed,
                                       config.visual_share)
        if self.accelerator.is_main_process:
            save_config(config, out / RUN_CONFIG)
        missing = missing_weights(config)
        if missing:
            raise TrainingError("; ".join(missing))
        self.rewards = RewardEnsemble(config.rewards, device=config.device)
        self.rewards.require(list(config.rewards.weights) + ([config.dgs.surrogate] if config.dgs.enabled else []))
        self.pipe = load_policy(config, self.showo, self.magvit, self.schedule.order, str(self.accelerator.device))
        params = select_trainable(self.pipe, config)
        self.reference = Reference(self.pipe, config.trainable)
        if config.activation_checkpointing:
            _enable_checkpointing(self.pipe.model)
        self.sampler_config = SamplerConfig(steps=config.generation_steps, guidance_scale=config.guidance_scale,
                                            temperature=config.generation_temperature)
        policy = PolicyLogprobs(self.pipe.model, self.pipe, self.sampler_config, config.reasoning_temperature)
        self.rows = None if config.trainable == "full" else ConceptRows(self.pipe)
        optimized = params if self.rows is None else [p for p in params if all(p is not f for f in self.rows.full)]
        self.optimized = optimized + ([] if self.rows is None else list(self.rows.params.values()))
        """What AdamW holds: every weight in `full` mode; else the LoRA adapters and the concept rows alone."""
        optimizer = torch.optim.AdamW(self.optimized, lr=config.learning_rate, weight_decay=config.weight_decay)
        scheduler = get_scheduler(config.lr_scheduler, optimizer, num_warmup_steps=config.warmup_steps,
                                  num_training_steps=config.steps)
        self.policy, self.optimizer, self.scheduler = self.accelerator.prepare(policy, optimizer, scheduler)
        self.params = params
        self.controllers: dict[str, ThresholdController] = (
            {concept: make_controller(config.dgs) for concept in self.schedule.order} if config.dgs.enabled else {})
        """One threshold per concept: pass rates differ by concept, so a shared τ would swing with it."""
        if config.trainable != "full":  # checkpoints hold what trains, not a copy of the frozen base
            self.accelerator.register_save_state_pre_hook(self._save_trainable)
            self.accelerator.register_load_state_pre_hook(self._load_trainable)
        self.engine = RolloutEngine(self.pipe, config, self.rewards, self.bench.root)
        self.und_constant, self.gen_constant = loss_constants(config, self.pipe.model.config.num_vq_tokens)
        accelerator = self.accelerator
        self.share = Share(accelerator.process_index, accelerator.num_processes, self._gather) \
            if config.distribute == "split_group" else Share()
        self._announce_launch()
        self.step = 0
        if self.start_checkpoint is not None:
            self._load(self.start_checkpoint)
        if self.accelerator.is_main_process:  # lines of steps after the checkpoint (or of a run that never saved one)
            for name in (METRICS, SAMPLES):  # are redone: drop them
                if (self.out / name).is_file():
                    _truncate_log(self.out / name, self.step)
        if config.report_to:
            self.accelerator.init_trackers(TRACKERS, config={k: v for k, v in config.to_dict().items()
                                                            if isinstance(v, (int, float, str, bool))})

    def _gather(self, values: list) -> list:
        """Lists from every process, concatenated in rank order."""
        from accelerate.utils import gather_object

        return gather_object(values) if self.accelerator.num_processes > 1 else list(values)

    def _announce_launch(self) -> None:
        """Say, and record in launch.json, how many groups one optimizer step holds: it depends on the process count
        as well as the settings, and a run on N GPUs must not change its batch without a word."""
        if not self.accelerator.is_main_process:
            return
        launch = {"processes": self.accelerator.num_processes, "distribute": self.config.distribute,
                  "groups_per_step": self.groups_per_step, "group_size": self.config.group_size}
        write_json(self.out / LAUNCH, launch)
        if not self.quiet:
            self.console.print(f"{self.groups_per_step} group(s) of {self.config.group_size} per optimizer step "
                               f"({launch['processes']} process(es), distribute: {self.config.distribute})")

    @property
    def groups_per_step(self) -> int:
        """Groups of G in one optimizer step, over every process."""
        per_process = self.config.batch_size * self.config.gradient_accumulation_steps
        split = self.config.distribute == "split_group"
        return per_process * (1 if split else self.accelerator.num_processes)

    def _check_resume(self, resume: bool) -> Path | None:
        saved = self.out / RUN_CONFIG
        checkpoints = _checkpoints(self.out)
        if checkpoints and not resume:
            raise TrainingError(f"{self.out} already holds a run (last checkpoint {checkpoints[-1].name}): "
                                f"pass --resume to continue it, or choose another --out")
        if resume and saved.is_file():
            before = load_config(saved)
            if before.to_dict() != self.config.to_dict():
                old, new = before.to_dict(), self.config.to_dict()
                changed = ", ".join(f"{k}: {old[k]!r} there, {v!r} now" for k, v in sorted(new.items()) if old[k] != v)
                raise TrainingError(f"cannot resume {self.out}: settings differ from its config.yaml ({changed}); "
                                    f"resume with its settings, or train these in another --out")
        return checkpoints[-1] if resume and checkpoints else None

    @contextmanager
    def _state_objects(self) -> Iterator[None]:
        """What save_state / load_state cover: everything, or all but AdamW's state with `save_optimizer: false`."""
        optimizers = self.accelerator._optimizers  # accelerate offers no per-call choice of what a state holds
        if not self.config.save_optimizer:
            self.accelerator._optimizers = []
        try:
            yield
        finally:
            self.accelerator._optimizers = optimizers

    def _load(self, checkpoint: Path) -> None:
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        trained_on = state.get("benchmark_version", self.bench.version)  # checkpoints before it was kept: trusted
        if trained_on != self.bench.version:
            raise TrainingError(f"cannot resume {self.out}: it trained on the build {trained_on}, and "
                                f"{self.config.benchmark} now holds {self.bench.version} (rebuilt with another split "
                                f"or source: other held-out entries); resume on that build, or train on this one "
                                f"with another --out")
        with self._state_objects():
            self.accelerator.load_state(str(checkpoint))
        self.step = state["step"]
        for concept, controller in self.controllers.items():
            controller.load_state_dict(state["controllers"][concept])

    def _trainable(self) -> dict[str, torch.nn.Parameter]:
        """What a checkpoint holds outside `full` mode: the LoRA adapters and the concept rows (not whole tensors)."""
        policy = self.accelerator.unwrap_model(self.policy)
        adapters = {name: param for name, param in policy.named_parameters() if "lora_" in name}
        return {**adapters, **{f"concept_rows.{name}": param for name, param in self.rows.params.items()}}

    def _save_trainable(self, models: list[Any], weights: list[Any], output_dir: str) -> None:
        """accelerate hook: write the trainable tensors only (the rest is the base, rebuilt on resume)."""
        from safetensors.torch import save_file

        if self.accelerator.is_main_process:
            save_file({n: p.detach().cpu().contiguous() for n, p in self._trainable().items()},
                      str(Path(output_dir) / TRAINABLE_FILE))
        weights.clear()

    def _load_trainable(self, models: list[Any], input_dir: str) -> None:
        from safetensors.torch import load_file

        saved = load_file(str(Path(input_dir) / TRAINABLE_FILE))
        params = self._trainable()
        if saved.keys() != params.keys():
            raise TrainingError(f"{input_dir} holds other trainable tensors than this run has")
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(saved[name])
        self.rows.scatter()
        models.clear()

    def _save(self) -> None:
        target = self.out / CHECKPOINTS / f"step-{self.step:06d}"
        staging = target.with_name(target.name + ".tmp")
        if self.accelerator.is_main_process:
            shutil.rmtree(staging, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        with self._state_objects():
            self.accelerator.save_state(str(staging))
        if self.accelerator.is_main_process:
            state = {"step": self.step, "controllers": {c: k.state_dict() for c, k in self.controllers.items()},
                     "benchmark_version": self.bench.version}
            write_json(staging / "trainer_state.json", state)
            replace_directory(staging, target, "checkpoint")
            for old in _checkpoints(self.out)[: -self.config.keep_checkpoints]:
                shutil.rmtree(old)
        self.accelerator.wait_for_everyone()

    def _logprobs(self, module: Any, piece: Piece, rollout: Rollout) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """A piece's log-probs: its rows' reasoning tokens (text), or its rows at one denoising step (image)."""
        kind, rows, step = piece
        index = torch.tensor(rows, device=rollout.question_ids.device)
        with self.accelerator.autocast():
            if kind == "text":
                return module("text", rollout.question_ids.expand(len(rows), -1), rollout.image_end.expand(len(rows)),
                              [rollout.answers[r] for r in rows])
            run, trajectory = rollout.run, rollout.run.trajectory
            return module("image", run.prompt_ids[index], trajectory.states[step][index],
                          trajectory.predictions[step][index],
                          None if run.uncond_ids is None else run.uncond_ids[index])

    def _pieces(self, rollout: Rollout) -> list[Piece]:
        """Per block of `loss_rows` of the rows this process holds: their reasoning, then each denoising step. Each
        piece's share of L is its own graph, back-propagated before the next is built, so activations do not grow
        with the steps or rows."""
        held, chunk = len(rollout.answers), self.config.loss_rows
        blocks = [list(range(s, min(held, s + chunk))) for s in range(0, held, chunk)]
        return [piece for rows in blocks
                for piece in [("text", rows, None), *(("image", rows, k) for k in range(self.config.generation_steps))]]

    @torch.no_grad()
    def _fixed_logprobs(self, module: Any, rollout: Rollout) -> list[torch.Tensor]:
        """Log-probs that carry no gradient (π_ref, or π_old for several updates per rollout), per piece.

        One pass per denoising step (and one for the reasoning) over every row this process holds, whatever
        `loss_rows`: without a graph to keep, that batch needs no more memory than the rollout that sampled it, and
        one-row passes took 19 s of a 100 s step at real size on a GPU. Each piece then takes its rows;
        a text piece keeps the width of its own longest answer (answers are right-padded and masked)."""
        held = list(range(len(rollout.answers)))
        if not held:  # a process that holds none of the group (split over more processes than it kept)
            return []
        text, _ = self._logprobs(module, ("text", held, None), rollout)
        steps = [self._logprobs(module, ("image", held, k), rollout) for k in range(self.config.generation_steps)]
        values = []
        for kind, rows, step in self._pieces(rollout):
            if kind == "text":
                values.append(text[rows, :max(1, max(len(rollout.answers[r]) for r in rows))])
            else:
                values.append(steps[step][rows])
        return values

    def _reference_logprobs(self, rollout: Rollout) -> list[torch.Tensor] | None:
        if self.config.beta <= 0:
            return None
        with self.reference.weights() as model:
            return self._fixed_logprobs(PolicyLogprobs(model, self.pipe, self.sampler_config,
                                                       self.config.reasoning_temperature), rollout)

    def _image_mask(self, rollout: Rollout, piece: Piece) -> torch.Tensor | None:
        """The positions of a denoising step that count as decisions: all, or those still masked at that step."""
        if self.config.image_positions == "all":
            return None
        _, rows, step = piece
        state = rollout.run.trajectory.states[step][torch.tensor(rows, device=rollout.question_ids.device)]
        return (state == self.pipe.vocab.codebook_size)[:, None]

    def _backward(self, rollout: Rollout, scale: float, old: list[torch.Tensor] | None,
                  reference: list[torch.Tensor] | None) -> dict[str, LossPart]:
        """Back-propagate this process's rows' share of L for one group, piece by piece (the pieces sum to it: same
        gradient); its text and image shares. Advantages are over the whole group, gathered from every process."""
        config = self.config
        rewards = torch.tensor([r["total"] for r in rollout.group_rewards], dtype=torch.float32,
                               device=self.accelerator.device)
        advantages = group_advantages(rewards, config.group_size)[torch.tensor(rollout.rows, dtype=torch.long,
                                                                                device=rewards.device)]
        common = dict(lambda_und=config.lambda_und, lambda_gen=config.lambda_gen, beta=config.beta,
                      epsilon=config.clip_epsilon, und_constant=self.und_constant, gen_constant=self.gen_constant,
                      group_size=config.group_size)
        shares = {kind: LossPart(torch.zeros(()), 0.0, 0.0, 0) for kind in ("text", "image")}
        checkpointing = config.activation_checkpointing
        # the unwrapped module: gradients are reduced once per step by `_reduce_gradients`, and processes holding
        # different numbers of rows run different numbers of passes (DDP's per-forward collectives would hang)
        module = self.accelerator.unwrap_model(self.policy)
        for number, piece in enumerate(self._pieces(rollout)):
            kind, rows, _ = piece
            ref = None if reference is None else reference[number]
            self.pipe.model.train(checkpointing)  # transformers checkpoints layers in training mode only
            current = self._logprobs(module, piece, rollout)
            self.pipe.model.eval()
            if kind == "text":
                logp, mask = current
                before = logp.detach() if old is None else old[number]
                part = sync_grpo_loss(advantages[rows], text=(logp, before, ref, mask), image=None, **common)
            else:
                before = current.detach() if old is None else old[number]
                part = sync_grpo_loss(advantages[rows], text=None,
                                      image=(current[:, None], before[:, None], None if ref is None else ref[:, None],
                                             self._image_mask(rollout, piece)), **common)
            self.accelerator.backward(part.loss * scale)
            shares[kind] = shares[kind] + LossPart(part.loss.detach().cpu() * scale, part.objective, part.kl_sum,
                                                   part.tokens)
        return shares

    def _reduce_gradients(self) -> None:
        """Once per optimizer step: with `split_group` each process holds its rows' share of L, so the gradients
        add up; with `group_per_rank` each holds whole groups of its own, so they average."""
        processes = self.accelerator.num_processes
        if processes == 1:
            return
        for param in self.params:
            if param.grad is None:  # a process that held no row of the group still takes part
                param.grad = torch.zeros_like(param)
            torch.distributed.all_reduce(param.grad)
            if self.config.distribute == "group_per_rank":
                param.grad /= processes

    def train_step(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One optimizer step on `groups_per_step` groups: metrics and samples gathered from every process."""
        config, accelerator = self.config, self.accelerator
        started = time.perf_counter()
        per_process = config.batch_size * config.gradient_accumulation_steps
        rank = 0 if config.distribute == "split_group" else accelerator.process_index
        first = (self.step * self.groups_per_step // per_process + rank) * per_process
        self.pipe.model.eval()
        prompts = [self.schedule.prompt(first + j) for j in range(per_process)]
        with accelerator.autocast():  # rollouts in the run's precision (bf16 on a GPU)
            rollouts = [self.engine.rollout(prompt, first + j, self.controllers.get(prompt.concept.id), self.share)
                        for j, prompt in enumerate(prompts)]
            policy = accelerator.unwrap_model(self.policy)
            olds = [self._fixed_logprobs(policy, r) if config.updates_per_rollout > 1 else None for r in rollouts]
            references = [self._reference_logprobs(r) for r in rollouts]
        grad_norm, lr = 0.0, self.scheduler.get_last_lr()[0]  # the rate every update of this step uses
        for _ in range(config.updates_per_rollout):
            with accelerator.no_sync(self.policy):
                parts = [self._backward(r, 1.0 / per_process, old, ref)
                         for r, old, ref in zip(rollouts, olds, references)]
            self._reduce_gradients()
            if self.rows is not None:
                self.rows.gather_grads()
            grad_norm = float(accelerator.clip_grad_norm_(self.optimized, config.max_grad_norm))
            self.optimizer.step()
            if self.rows is not None:
                self.rows.scatter()
            self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()  # once per step, whatever its updates: the schedule spans `steps`
        self.step += 1
        row = self._metrics(rollouts, parts, grad_norm, lr, time.perf_counter() - started)
        row.update(self._control(rollouts))
        return row, self._samples(rollouts)

    def _groups(self, rollouts: list[Rollout]) -> list[Rollout]:
        """This step's groups over every process, once each (a split group is whole on every process already)."""
        if self.config.distribute == "split_group":
            return rollouts
        return self._gather([dataclasses.replace(r, question_ids=None, image_end=None, answers=[], run=None,
                                                 images=[]) for r in rollouts])

    def _control(self, rollouts: list[Rollout]) -> dict[str, Any]:
        """Update each screened concept's τ with its pass rate over this step's groups; log both."""
        if not self.controllers:
            return {}
        counts: dict[str, list[int]] = {}
        for rollout in self._groups(rollouts):
            total = counts.setdefault(rollout.prompt.concept.id, [0, 0])
            total[0], total[1] = total[0] + rollout.screening.passed, total[1] + rollout.screening.screened
        row: dict[str, Any] = {"screened": sum(n for _, n in counts.values()),
                               "passed": sum(k for k, _ in counts.values())}
        row["pass_rate"] = row["passed"] / row["screened"]
        if len(counts) == 1:
            row["tau"] = self.controllers[next(iter(counts))].tau
        for concept, (passed, screened) in sorted(counts.items()):
            controller = self.controllers[concept]
            row[f"tau/{concept}"] = controller.tau
            row[f"pass_rate/{concept}"] = passed / screened
            row[f"tau_next/{concept}"] = controller.update(passed / screened)
        return row

    def _metrics(self, rollouts: list[Rollout], parts: list[dict[str, LossPart]], grad_norm: float, lr: float,
                 seconds: float) -> dict[str, Any]:
        """One metrics.jsonl line: rewards of every group of the step, loss parts and token counts summed over
        every process."""
        groups = self._groups(rollouts)
        rewards = [r for g in groups for r in g.group_rewards]
        totals = [r["total"] for r in rewards]
        local = [{kind: (float(p.loss), p.objective, p.kl_sum, p.tokens) for kind, p in shares.items()}
                 for shares in parts]
        local.append({"reasoning_tokens": sum(len(a) for ro in rollouts for a in ro.answers)})
        gathered = self._gather(local)
        row: dict[str, Any] = {"step": self.step, "seconds": round(seconds, 3), "lr": lr,
                               "processes": self.accelerator.num_processes, "groups": len(groups),
                               "concepts": [g.prompt.concept.id for g in groups],
                               "pathways": [g.prompt.pathway for g in groups],
                               "reward_mean": sum(totals) / len(totals),
                               "reward_std": float(torch.tensor(totals).std()) if len(totals) > 1 else 0.0}
        for name in rewards[0]:
            values = [r[name] for r in rewards if r[name] is not None]
            if name != "total" and values:
                row[f"reward/{name}"] = sum(values) / len(values)
        loss_parts = [entry for entry in gathered if "text" in entry]
        for kind, label in (("text", "und"), ("image", "gen")):
            share = [entry[kind] for entry in loss_parts]
            row.update({f"loss_{label}": sum(p[0] for p in share), f"objective_{label}": sum(p[1] for p in share),
                        f"kl_per_token_{label}": sum(p[2] for p in share) / max(1, sum(p[3] for p in share))})
        every = [entry[kind] for entry in loss_parts for kind in ("text", "image")]
        row.update({"loss": sum(p[0] for p in every), "objective": sum(p[1] for p in every),
                    "kl_per_token": sum(p[2] for p in every) / max(1, sum(p[3] for p in every)),
                    "grad_norm": grad_norm,
                    "reasoning_tokens": sum(entry.get("reasoning_tokens", 0) for entry in gathered),
                    "denoise_steps": sum(g.denoise_steps for g in groups),
                    "denoise_steps_without_dgs": sum(g.denoise_steps_without_dgs for g in groups)})
        return row

    def _samples(self, rollouts: list[Rollout]) -> list[dict[str, Any]]:
        """samples.jsonl lines for every kept trajectory of the step, from every process, in group order."""
        rows = []
        for group, rollout in enumerate(rollouts):
            totals = torch.tensor([r["total"] for r in rollout.group_rewards])
            advantages = group_advantages(totals, self.config.group_size).tolist()
            for index, text, reward in zip(rollout.rows, rollout.reasoning, rollout.rewards):
                rows.append({"step": self.step, "group": group, "index": index, "concept": rollout.prompt.concept.id,
                             "pathway": rollout.prompt.pathway, "reasoning": text, "rewards": reward,
                             "advantage": advantages[index]})
        gathered = self._gather(rows)
        return sorted(gathered, key=lambda r: (r["group"], r["index"])) \
            if self.config.distribute == "split_group" else gathered

    def run(self, stop_after: int | None = None) -> TrainResult:
        """Train to `config.steps` (or `stop_after` more steps, for time-sliced jobs), then export the bundle."""
        config, accelerator = self.config, self.accelerator
        start = self.step
        end = config.steps if stop_after is None else min(config.steps, self.step + stop_after)
        metrics_path, samples_path = self.out / METRICS, self.out / SAMPLES
        label = f"Sync-R1 {escape(config.concepts[0])}" if config.run_per_concept else "Sync-R1"  # its own steps
        columns = [TextColumn("[bold]{task.fields[label]}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn()]
        with Progress(*columns, console=self.console, disable=self.quiet or not accelerator.is_main_process) as bar:
            # the label as a field: a concept id may hold braces, which the column's format string would read
            task = bar.add_task("train", total=config.steps, completed=self.step, status="", label=label)
            while self.step < end:
                row, samples = self.train_step()
                if accelerator.is_main_process:
                    append_durably(metrics_path, jsonl_text([row]))
                    append_durably(samples_path, jsonl_text(samples))
                if config.report_to:
                    accelerator.log({k: v for k, v in row.items() if isinstance(v, (int, float))}, step=self.step)
                status = f"reward {row['reward_mean']:.3f}" + (f"  τ {row['tau']:.3f}  pass {row['pass_rate']:.2f}"
                                                               if "tau" in row else "")
                bar.update(task, completed=self.step, status=status)
                if self.step % config.save_every == 0 or self.step == end:
                    self._save()
        bundle = None
        if self.step >= config.steps:
            bundle = ShowoBundle.of_run(self.out).root
            if accelerator.is_main_process:
                export_bundle(self.pipe, self.showo, self.magvit, bundle, config.trainable)
            accelerator.wait_for_everyone()
            if config.report_to:
                accelerator.end_training()
        return TrainResult(self.out, bundle, self.step, config.steps, _read_log(metrics_path), self.step - start)


def _finished(config: TrainConfig, out: Path) -> TrainResult | None:
    """The run in `out` when it has trained these settings to the last step and exported its model (nothing is
    loaded or written again), else None."""
    saved, metrics = out / RUN_CONFIG, _read_log(out / METRICS)
    bundle = ShowoBundle.of_run(out)
    if not (bundle.exists() and saved.is_file() and metrics and metrics[-1]["step"] >= config.steps):
        return None
    return TrainResult(out, bundle.root, config.steps, config.steps, metrics) \
        if load_config(saved).to_dict() == config.to_dict() else None


def train(config: TrainConfig, out: Path, resume: bool = False, stop_after: int | None = None, quiet: bool = False,
          console: Console | None = None, wait: bool = False, say: Callable[[str], None] = lambda m: None
          ) -> TrainResult:
    """One run in `out`; with `run_per_concept`, one run per concept in out/<concept>/, one after another
    (`stop_after` counts the steps of all of them, `resume` continues each)."""
    def one(config: TrainConfig, out: Path, stop_after: int | None) -> TrainResult:
        return (resume and _finished(config, out)) or Trainer(config, out, resume, quiet, console).run(stop_after)

    preflight(config)
    if one_process_of_several():  # --cpu is refused above; this launch trains, on one process
        say(f"`accelerate launch --num_processes N` without --multi_gpu started one process (accelerate does on a "
            f"machine of fewer than 2 GPUs), so this run trains on 1; for N processes {ONE_OF_SEVERAL_FIX}")
    problem = out_problem(out, config.run_per_concept)
    if problem:
        raise TrainingError(problem)
    if resume and not (out.is_dir() and visible_entries(out)):
        say(f"--resume: {out} holds no run yet; starting one")
    concepts = _concepts(config, training_benchmark(config.benchmark, console or Console(stderr=True),
                                                    quiet).concepts) if config.run_per_concept else []
    # One run per output folder; under `accelerate launch` the main process (RANK 0) holds it for all ranks.
    with run_lock(out, "train", wait, say) if main_process() else nullcontext():
        if not config.run_per_concept:
            return one(config, out, stop_after)
        runs: list[TrainResult] = []
        for concept in concepts:
            left = None if stop_after is None else stop_after - sum(r.ran for r in runs)
            if left == 0:
                break
            own = dataclasses.replace(config, concepts=[concept])
            runs.append(dataclasses.replace(one(own, out / path_component(concept, "concept"), left), concept=concept))
        finished = len(runs) == len(concepts) and all(r.bundle is not None for r in runs)
        return TrainResult(out, out if finished else None, sum(r.last_step for r in runs),
                           config.steps * len(concepts), [row for r in runs for row in r.metrics],
                           sum(r.ran for r in runs), last_run=runs[-1] if runs else None)


def main_process() -> bool:
    """Whether this is the launch's first process (`accelerate launch` / torchrun set RANK), before accelerate
    is set up: the one that holds the run's lock and speaks for the run."""
    return os.environ.get("RANK", "0") == "0"


def reward_trend(metrics: list[dict[str, Any]]) -> tuple[float, float]:
    """Mean reward over the first and the last third of each concept's steps, averaged over concepts (what
    `ubpp train` reports): concepts differ in reward, and a run visits them in turn or one after another."""
    by_concept: dict[tuple[str, ...], list[float]] = {}
    for row in metrics:
        by_concept.setdefault(tuple(row["concepts"]), []).append(row["reward_mean"])
    firsts, lasts = [], []
    for rewards in by_concept.values():
        third = max(1, math.ceil(len(rewards) / 3))
        firsts.append(sum(rewards[:third]) / third)
        lasts.append(sum(rewards[-third:]) / third)
    return sum(firsts) / len(firsts), sum(lasts) / len(lasts)
