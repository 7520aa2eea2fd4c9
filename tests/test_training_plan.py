"""`ubpp train syncr1 --plan`, the setup traps it and the settings close, and what the loss weights mean."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cli import app
from training.config import load_config
from training.memory import GB, MB, predict
from training.plan import DDP_BUCKET_FACTOR, architecture, make_plan
from training.trainer import Trainer, train

from .training_settings import fast_config as _config

STAND_INS = ["--set", "showo=tiny-mini", "--set", "rewards.weights={tier: 1.0}", "--set", "dgs.surrogate=tier",
             "--concept", "chelsea"]


def test_the_paper_preset_plan_names_every_missing_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "syncr1", "--preset", "paper", "--plan", "--out", str(tmp_path)])
    assert result.exit_code == 2
    for missing in ("missing: benchmark", "missing: concepts", "missing: showo", "missing: magvit",
                    "missing: reward ber", "--set showo=PATH", "--set rewards.blip2="):
        assert missing in result.output, missing
    assert "predicted peak per GPU" in result.output and "disk per checkpoint" in result.output
    assert not list(tmp_path.iterdir())  # a plan writes nothing
    assert "--blip2" not in result.output  # evaluate's option: a training user sets rewards.blip2


def test_the_plan_checks_what_the_trainer_would_refuse_after_loading(mini_build: Path) -> None:
    """Concepts the benchmark lacks, trackers, schedules that need more than warm-up and total steps: each a
    `missing:` line (exit 2), as the run itself refuses them."""
    result = CliRunner().invoke(app, ["train", "syncr1", "--preset", "tiny", "--plan", "--set",
                                      f"benchmark={mini_build}", "--concept", "nobody", "--set",
                                      "report_to=[mlflowish]", "--set", "lr_scheduler=cosine_with_min_lr"])
    assert result.exit_code == 2
    for missing in ("missing: concepts: 'nobody' not in", "missing: report_to 'mlflowish' is not supported",
                    "missing: lr_scheduler 'cosine_with_min_lr' cannot run here (One of min_lr"):
        assert missing in result.output, missing
    with pytest.MonkeyPatch.context() as patch:  # the tiny preset's default folder, not built: the bundled release
        patch.chdir(mini_build.parent)
        missing = make_plan(load_config(None, "tiny", ["concepts=[nope]"])).missing
    assert any(line.startswith("concepts: 'nope' not in") and "ast, cam" in line for line in missing), missing
    one = CliRunner().invoke(app, ["train", "syncr1", "--preset", "tiny", "--plan", "--set",
                                   f"benchmark={mini_build}", "--concept", "ast"])
    assert one.exit_code == 0 and "24 per concept, 1 run " in one.output


def test_the_plan_with_tiny_stand_ins_prints_memory_and_exits_0(mini_build: Path) -> None:
    result = CliRunner().invoke(app, ["train", "syncr1", "--preset", "paper", "--plan", "--processes", "8", "--set",
                                      f"benchmark={mini_build}", *STAND_INS])
    assert result.exit_code == 0, result.output
    assert "missing" not in result.output and "DDP gradient buckets" in result.output
    assert "1 of G = 9" in result.output  # split_group: 8 processes share one group


def test_the_plan_adds_what_the_memory_model_leaves_out(mini_build: Path) -> None:
    """The peak is `training.memory`'s prediction plus DDP's buckets (several processes), MAGVIT's decode and the
    CUDA context; one group per process makes a step of N groups. (`device=cuda`: a tiny base is otherwise
    predicted for this CPU.)"""
    config = load_config(None, "paper", [f"benchmark={mini_build}", "showo=tiny-mini", "concepts=[chelsea]",
                                         "distribute=group_per_rank", "device=cuda"])
    arch, _ = architecture(config)
    base = predict(config, arch, scorers=False).total
    lines = dict(make_plan(config, processes=4).lines)
    parts = {k.removeprefix("memory: "): float(v.split()[0]) for k, v in lines.items() if k.startswith("memory: ")}
    assert sum(parts.values()) == pytest.approx(float(lines["predicted peak per GPU"].split()[0]), abs=0.1)
    assert parts["DDP gradient buckets"] == pytest.approx(DDP_BUCKET_FACTOR * 4 * arch.parameters / GB, abs=0.01)
    assert sum(v for k, v in parts.items() if "DDP" in k or "MAGVIT" in k or "CUDA" in k) > 0
    assert sum(parts.values()) - base / GB == pytest.approx(sum(v for k, v in parts.items() if "DDP" in k
                                                                 or "MAGVIT" in k or "CUDA" in k), abs=0.05)
    assert lines["groups per optimizer step"].startswith("4 of G = 9")
    assert parts["CUDA context + slack (measured on an H200)"] > 0


def test_a_tiny_base_without_a_gpu_is_planned_for_this_cpu(mini_build: Path) -> None:
    """The tiny preset trains on the CPU here: float32 (what `auto` runs there), no CUDA context, MB units, and the
    MAGVIT decode at the tiny MAGVIT's own width (32 channels, not the released 128)."""
    config = load_config(None, "tiny", [f"benchmark={mini_build}", "concepts=[chelsea]", "device=cpu"])
    arch, _ = architecture(config)
    lines = dict(make_plan(config, processes=1).lines)
    assert lines["precision (rollouts and loss)"] == "float32 (auto on a CPU)"
    assert not any("CUDA" in name for name in lines)
    parts = {k.removeprefix("memory: "): v for k, v in lines.items() if k.startswith("memory: ")}
    assert all(v.endswith(" MB") for v in parts.values()), parts
    float32 = predict(dataclasses.replace(config, mixed_precision="no"), arch, scorers=False).total
    side, decoded = 16 * round(arch.image_tokens ** 0.5), max(config.group_size, config.dgs.screen_batch)
    decode = decoded * 3 * 32 * side * side * 4
    peak = lines["predicted peak per process (CPU, tensors only)"]
    assert float(peak.removesuffix(" MB")) == pytest.approx((float32 + decode) / MB, abs=0.1)
    assert "1 of G" in dict(make_plan(load_config(None, "paper", [f"benchmark={mini_build}", "showo=tiny-mini"]),
                                      processes=4).lines)["groups per optimizer step"]


def _megabytes(line: str) -> float:
    """The leading size of a plan line ("9.11 MB per concept (...)"), in MB."""
    number, unit = line.split()[:2]
    return float(number) * {"MB": 1.0, "GB": 1000.0}[unit]


def test_the_plan_s_disk_lines_are_what_a_tiny_run_leaves(mini_build: Path, tmp_path: Path) -> None:
    """The tiny base brings its own few-MB MAGVIT: the plan used to count the released one (0.48 GB) in each run's
    bundle. A real run's files are what `disk per run` says; a run per concept adds the total of all its runs,
    and no GPU is asked for."""
    config = _config(mini_build, "steps=2", "concepts=[chelsea]")
    train(config, tmp_path / "run", quiet=True)
    written = sum(f.stat().st_size for f in (tmp_path / "run" / "chelsea").rglob("*") if f.is_file()) / 1e6
    lines = dict(make_plan(config).lines)
    assert _megabytes(lines["disk per run"]) == pytest.approx(written, rel=0.1), lines["disk per run"]
    assert "per concept (2 checkpoints kept" in lines["disk per run"]
    every = dict(make_plan(load_config(None, "tiny", [f"benchmark={mini_build}"])).lines)
    assert every["optimizer steps"] == "24 per concept, 6 runs"
    assert every["disk, all runs"].endswith("(6 concepts, a run each)")
    assert _megabytes(every["disk, all runs"]) == pytest.approx(6 * _megabytes(every["disk per run"]), rel=0.01)
    paper = dict(make_plan(load_config(None, "paper", [f"benchmark={mini_build}", "concepts=[chelsea]"])).lines)
    assert paper["disk per run"] == "41.03 GB (2 checkpoints kept + the model bundle 6.27)"  # as docs/training.md
    assert "disk, all runs" not in paper
    if not torch.cuda.is_available():
        assert every["GPU"] == "none visible (not needed: a tiny base trains on the CPU)"
        assert paper["GPU"] == "none visible (a full-size Show-o needs one: bf16, ~80 GB for the paper preset)"


def test_missing_show_o_weights_name_the_setting_and_the_fix(mini_build: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "syncr1", "--preset", "tiny", "-q", "--out", str(tmp_path / "run"),
                                      "--set", f"benchmark={mini_build}", "--set", f"showo={tmp_path / 'nowhere'}",
                                      "--concept", "chelsea"])
    assert result.exit_code == 2 and "showo:" in result.output and "--set showo=PATH" in result.output


@pytest.mark.parametrize("how", ["yaml", "set"])
def test_mixed_precision_no_from_yaml_and_from_set(tmp_path: Path, how: str) -> None:
    """YAML reads a bare `no` as false; the setting means the `no` it offers."""
    path = tmp_path / "run.yaml"
    path.write_text("mixed_precision: no\n")
    config = load_config(path) if how == "yaml" else load_config(None, "paper", ["mixed_precision=no"])
    assert config.mixed_precision == "no"


@pytest.mark.parametrize(("override", "message"), [
    ("learning_rate=inf", "finite"), ("save_every=0", "save_every must be >= 1"), ("batch_size=0", "batch_size"),
    ("gradient_accumulation_steps=0", "gradient_accumulation_steps"), ("generation_steps=1", "generation_steps"),
    ("steps=0", "steps"), ("steps=-1", "steps"), ("beta=-1", "beta"), ("clip_epsilon=-0.2", "clip_epsilon"),
    ("max_grad_norm=-1", "max_grad_norm"), ("guidance_scale=-5", "guidance_scale"), ("warmup_steps=-5", "warmup"),
    ("distribute=everywhere", "split_group or group_per_rank"), ("image_positions=some", "all or masked"),
])
def test_nonsense_training_settings_are_refused_in_one_line(override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(None, "tiny", [override])
    result = CliRunner().invoke(app, ["train", "syncr1", "--preset", "tiny", "--set", override, "--plan"])
    assert result.exit_code == 2 and "Traceback" not in result.output and len(result.output.splitlines()) == 1


def _grad_sq(trainer: Trainer, rollout, lambda_und: float, lambda_gen: float) -> float:
    trainer.optimizer.zero_grad(set_to_none=True)
    trainer.config.lambda_und, trainer.config.lambda_gen = lambda_und, lambda_gen
    trainer._backward(rollout, 1.0, None, trainer._reference_logprobs(rollout))
    total = sum(float(p.grad.pow(2).sum()) for p in trainer.params if p.grad is not None)
    trainer.optimizer.zero_grad(set_to_none=True)
    return total


def test_the_text_share_of_the_gradient_moves_with_lambda_und(mini_build: Path, tmp_path: Path) -> None:
    """The reasoning term's gradient scales with λ_und (squared norm x4 when λ_und doubles) and its share of the
    whole gradient rises with it; the image term is untouched."""
    trainer = Trainer(_config(mini_build, "steps=1", "dgs.enabled=false", "concepts=[chelsea]",
                              "run_per_concept=false"), tmp_path / "run", quiet=True)
    rollout = trainer.engine.rollout(trainer.schedule.prompt(0), 0, None)
    text = {lam: _grad_sq(trainer, rollout, lam, 0.0) for lam in (0.4, 0.8)}
    image = _grad_sq(trainer, rollout, 0.0, 0.6)
    assert text[0.4] > 0 and image > 0
    assert text[0.8] == pytest.approx(4 * text[0.4], rel=1e-4)
    both = {lam: _grad_sq(trainer, rollout, lam, 0.6) for lam in (0.4, 0.8)}
    share = {lam: text[lam] / both[lam] for lam in both}
    assert share[0.8] > share[0.4]


def test_bf16_rollouts_match_float32_within_tolerance(mini_build: Path, tmp_path: Path) -> None:
    """`mixed_precision: bf16` runs rollouts, reference and log-prob passes under bf16 autocast: the same
    trajectory's per-decision log-probs stay within 0.25 nats (median 0.02) of the float32 ones on the tiny model."""
    from accelerate.state import AcceleratorState

    logprobs = {}
    rollout = None
    for precision in ("no", "bf16"):
        AcceleratorState._reset_state(reset_partial_state=True)  # accelerate keeps one precision per process
        trainer = Trainer(_config(mini_build, "steps=1", "dgs.enabled=false", "concepts=[chelsea]", "device=cpu",
                                  "run_per_concept=false", f"mixed_precision={precision}"), tmp_path / precision,
                          quiet=True)
        if rollout is None:
            rollout = trainer.engine.rollout(trainer.schedule.prompt(0), 0, None)
        policy = trainer.accelerator.unwrap_model(trainer.policy)
        logprobs[precision] = torch.cat([x.flatten() for x in trainer._fixed_logprobs(policy, rollout)])
    AcceleratorState._reset_state(reset_partial_state=True)
    difference = (logprobs["bf16"] - logprobs["no"]).abs()
    assert 0 < float(difference.max()) < 0.25 and float(difference.median()) < 0.02


@pytest.mark.slow
def test_the_plan_s_measured_piece_costs_are_what_a_probe_measures() -> None:
    """`--plan` reads `MEASURED` instead of probing at Show-o's real width (~20 s a probe); this measures again."""
    from dataclasses import astuple

    from training.memory import MEASURED, probe

    for (arch, guidance, precision), cost in MEASURED.items():
        measured = astuple(probe(arch, guidance, precision))
        assert measured == pytest.approx(astuple(cost), rel=0.02, abs=1e5), precision
