"""The trainer end to end on the mini benchmark: rollouts with DGS, resume, export, and evaluation of the result."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

import unifybench_pp
from baselines.base import GenerateRequest, ModelError
from baselines.registry import create
from baselines.showo.bundle import ShowoBundle
from baselines.showo.pipeline import ShowoPipeline
from baselines.showo.sampler import MaskGitSampler, SamplerConfig, encode_prompts
from baselines.showo.understand import Understander, encode_questions
from cli import app
from training.config import load_config
from training.dgs import UniCTokensController, make_controller
from training.loss import group_advantages, sync_grpo_loss
from training.outdir import out_problem
from training.policy import concept_row_mask
from training.pretrain_tiny import ASSET
from training.rewards import REWARDS, Reward, RewardSample
from training.rollout import BLACK, PromptSchedule
from training.trainer import Trainer, TrainingError, reward_trend, train

from .training_settings import FAST
from .training_settings import fast_config as _config


def test_schedule_alternates_pathways_per_concept_and_is_a_function_of_the_step(mini_build: Path) -> None:
    bench = unifybench_pp.load(mini_build)
    schedule = PromptSchedule(bench, None, seed=0, visual_share=0.5)
    prompts = [schedule.prompt(k) for k in range(24)]
    for concept in bench.concepts:
        pathways = [p.pathway for p in prompts if p.concept.id == concept]
        assert pathways.count("visual") == pathways.count("textual") == 2, concept
    again = PromptSchedule(bench, None, seed=0, visual_share=0.5)
    assert [again.prompt(k) for k in (5, 17)] == [prompts[5], prompts[17]]
    textual = next(p for p in prompts if p.pathway == "textual")
    assert textual.image is None and sum(textual.truth) == 1 and len(textual.candidates) == len(textual.truth)
    target = textual.candidates[textual.truth.index(1.0)]
    held_out = {x.text for x in bench.extra_info if x.split == "heldout"}
    assert target not in held_out and not held_out & set(textual.candidates)  # training sees train facts only
    with pytest.raises(ValueError, match="unknown concept"):
        PromptSchedule(bench, ["nobody"], 0, 0.5)


def test_no_held_out_entry_reaches_a_rollout(mini_build: Path) -> None:
    """Every prompt the schedule hands to a rollout, over four visits of each pathway per concept: no held-out
    extra_info text, implicit or explicit prompt in its question, base prompt or TIER candidates, and only training
    photos as its image."""
    bench = unifybench_pp.load(mini_build)
    held_out = [x for x in bench.extra_info if x.split == "heldout"]
    assert held_out and any(x.split == "train" for x in bench.extra_info)
    secret = {t for x in held_out for t in (x.text, x.implicit_prompt, x.explicit_prompt)} - {
        t for x in bench.extra_info if x.split == "train" for t in (x.text, x.implicit_prompt, x.explicit_prompt)}
    schedule = PromptSchedule(bench, None, seed=3, visual_share=0.5)
    prompts = [schedule.prompt(k) for k in range(8 * len(bench.concepts))]
    assert {p.pathway for p in prompts} == {"visual", "textual"}
    for prompt in prompts:
        seen = " ".join([prompt.question, prompt.base_prompt, *prompt.candidates])
        assert not [t for t in secret if t in seen], (prompt.concept.id, prompt.pathway)
        concept = prompt.concept
        if prompt.image is not None:
            assert prompt.image in {bench.image_path(x) for x in concept.train_images}
            assert prompt.image not in {bench.image_path(x) for x in concept.test_images}


def test_rollouts_ask_and_draw_in_the_words_the_evaluated_model_reads(mini_build: Path, tmp_path: Path) -> None:
    """Phase I's question and Phase II's prompt are worded as the harness's adapter words them (the personalization
    "name/info" first, the tokens' system prompt before a visual question, the token spelled as latent tokens), so
    what Sync-R1 learns is what `ubpp evaluate` asks. Expected inputs are written out here, not taken from the code."""
    trainer = Trainer(_config(mini_build, "steps=1"), tmp_path / "run", quiet=True)
    engine, pipe = trainer.engine, trainer.pipe
    prompts = [trainer.schedule.prompt(k) for k in range(2 * len(trainer.schedule.order))]
    for pathway in ("visual", "textual"):
        prompt = next(p for p in prompts if p.pathway == pathway)
        concept, tokens = prompt.concept, pipe.concepts[prompt.concept.id]
        ids, image_end = engine.encode_question(prompt)
        image = BLACK if prompt.image is None else Image.open(prompt.image)
        system = f"name: {concept.id}\ninfo: {concept.info}\n"
        if pathway == "visual":
            system += f"{tokens.identifier} is {''.join(tokens.tokens[1:])}.\n"
        expected, _ = encode_questions(pipe.tokenizer, pipe.vocab, pipe.encode_images([image]), [prompt.question],
                                       [system])
        assert torch.equal(ids, expected), pathway
        drawn = engine.draw_candidates(prompt, ids, image_end, 0, [0, 1])
        spelled = "".join(tokens.tokens[1:]) + " " + tokens.identifier
        conditions = [f"name: {concept.id}\ninfo: {concept.info}\n"
                      + f"{prompt.base_prompt} {r}".strip().replace(concept.token, spelled) for r in drawn.reasoning]
        assert torch.equal(drawn.run.prompt_ids, encode_prompts(pipe.tokenizer, pipe.vocab, conditions)), pathway


def test_the_tiny_preset_lets_reasoning_finish(mini_build: Path) -> None:
    """Every answer the tiny base learned to give where Sync-R1 asks it to reason (a rewrite of a training entry's
    prompt, the concept's description) fits the preset's reasoning length with its <|eot|>: a cut answer cannot learn
    to end."""
    bench = unifybench_pp.load(mini_build)
    tokenizer = ShowoPipeline.from_pretrained(ASSET / "showo", ASSET / "magvit").tokenizer
    targets = [x.explicit_prompt for x in bench.extra_info if x.split == "train"]
    targets += [c.info for c in bench.concepts.values()]
    longest = max(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in targets)
    assert longest + 1 <= load_config(None, "tiny").reasoning_max_new_tokens


def test_rollout_screens_in_batches_and_finishes_only_the_kept(mini_build: Path, tmp_path: Path) -> None:
    trainer = Trainer(_config(mini_build, "steps=1"), tmp_path / "run", quiet=True)
    config, engine = trainer.config, trainer.engine
    prompt = trainer.schedule.prompt(0)
    early, steps, group = config.screening_step, config.generation_steps, config.group_size
    everyone = engine.rollout(prompt, 0, UniCTokensController(tau=-1.0))
    assert everyone.screening.screened == 4 and everyone.screening.passed == 4  # one batch of 2 is not enough
    assert everyone.denoise_steps == 4 * early + group * (steps - early)
    nobody = engine.rollout(prompt, 0, UniCTokensController(tau=10.0))
    assert nobody.screening.screened == config.candidate_budget == 6 and nobody.screening.passed == 0
    best = sorted(range(6), key=lambda i: -nobody.screening.scores[i])[:group]
    assert nobody.screening.kept == best
    assert nobody.denoise_steps == 6 * early + group * (steps - early) < nobody.denoise_steps_without_dgs == 6 * steps
    for rollout in (everyone, nobody):
        assert len(rollout.images) == len(rollout.answers) == len(rollout.rewards) == group
        assert len(rollout.run.trajectory.states) == steps and rollout.run.step == steps
    # a kept candidate is finished exactly as it would have been without the pause: same seed, same image
    plain = engine.rollout(prompt, 0, None)
    assert plain.screening is None and plain.denoise_steps == group * steps
    assert torch.equal(plain.run.sampled[:group], everyone.run.sampled[:group])
    assert plain.reasoning == everyone.reasoning[:group]


@pytest.mark.parametrize("trainable", ["concepts", "lora"])
def test_resume_after_a_stop_repeats_the_uninterrupted_run(mini_build: Path, tmp_path: Path, trainable: str) -> None:
    config = _config(mini_build, "steps=3", f"trainable={trainable}", "run_per_concept=false")
    whole = train(config, tmp_path / "whole", quiet=True)
    first = train(config, tmp_path / "split", stop_after=2, quiet=True)
    assert first.bundle is None and first.last_step == 2
    assert [c.name for c in sorted((tmp_path / "split" / "checkpoints").iterdir())] == ["step-000001", "step-000002"]
    with pytest.raises(TrainingError, match="--resume"):
        train(config, tmp_path / "split", quiet=True)
    with pytest.raises(TrainingError, match="learning_rate: 0.0001 there, 0.5 now"):
        train(_config(mini_build, "steps=3", f"trainable={trainable}", "run_per_concept=false", "learning_rate=0.5"),
              tmp_path / "split", resume=True, quiet=True)
    second = train(config, tmp_path / "split", resume=True, quiet=True)
    assert [m["step"] for m in second.metrics] == [1, 2, 3]
    for key in ("loss", "reward_mean", "tau", "pass_rate", "grad_norm", "kl_per_token"):
        assert second.metrics[2][key] == whole.metrics[2][key], key
    files = ["showo/model.safetensors"] + [f"concepts/{c}.safetensors" for c in ("ast", "chelsea", "coins")]
    for name in files:
        a, b = load_file(str(whole.bundle / name)), load_file(str(second.bundle / name))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    checkpoint = tmp_path / "split" / "checkpoints" / "step-000003"
    assert (checkpoint / "trainable.safetensors").is_file() and not (checkpoint / "model.safetensors").exists()
    samples = [json.loads(line) for line in (tmp_path / "split" / "samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == [1] * 3 + [2] * 3 + [3] * 3
    assert all(set(s["rewards"]) >= {"tier", "colour", "ssim", "face", "total"} for s in samples)

    # A run killed before its first checkpoint leaves its settings and log lines: running it again starts over
    # and logs each step once, as it was (not 1, 2, 1, ...).
    killed = tmp_path / "killed"
    killed.mkdir()
    shutil.copy(tmp_path / "whole" / "config.yaml", killed)
    for name in ("metrics.jsonl", "samples.jsonl"):
        lines = (tmp_path / "whole" / name).read_text().splitlines(keepends=True)
        (killed / name).write_text("".join(line for line in lines if json.loads(line)["step"] <= 2))
    again = train(config, killed, stop_after=1, quiet=True)
    assert [m["loss"] for m in again.metrics] == [whole.metrics[0]["loss"]]
    assert [json.loads(line)["step"] for line in (killed / "samples.jsonl").read_text().splitlines()] == [1] * 3


def test_a_one_model_run_is_refused_concepts_it_has_no_rows_for_before_predicting(mini_build: Path,
                                                                                tmp_path: Path) -> None:
    """It predicted every item of the first concept, then stopped at the next one's missing concept file."""
    from evaluators.runner import EvalConfig, run_evaluation

    config = _config(mini_build, "steps=1", "concepts=[chelsea]", "run_per_concept=false")
    out = train(config, tmp_path / "run", quiet=True).out
    model = create("syncr1", str(out), "cpu", steps=4, max_new_tokens=4)
    assert model.served_concepts == {"chelsea"}
    with pytest.raises(ModelError, match=r"holds no model for concept\(s\) ast, cam, .* \(fix: --concepts chelsea"):
        run_evaluation(unifybench_pp.load(mini_build), model, EvalConfig("syncr1", runs_dir=tmp_path / "runs",
                                                                         tasks=["rec"]))
    assert not list((tmp_path / "runs").rglob("predictions.jsonl"))
    # an export stopped mid-way leaves a hidden staging folder: it was listed as a concept model
    for folder in ("per/ast/model/showo", "per/.model.tmp-1f2e/showo"):
        (tmp_path / folder).mkdir(parents=True)
    assert list(ShowoBundle.per_concept(tmp_path / "per")) == ["ast"]


def test_a_resume_on_a_rebuilt_benchmark_is_refused(mini_build: Path, tmp_path: Path) -> None:
    """The build at --set benchmark= rebuilt with another split between a stop and its resume: the resumed steps
    trained on entries the new build holds out, without a word."""
    bench = tmp_path / "bench"
    shutil.copytree(mini_build, bench)
    config = _config(bench, "steps=2", "concepts=[chelsea]", "run_per_concept=false")
    train(config, tmp_path / "run", stop_after=1, quiet=True)
    unifybench_pp.build(unifybench_pp.MINI_SOURCE, bench, unifybench_pp.SplitConfig(seed=1),
                        name=unifybench_pp.MINI_NAME, quiet=True)
    with pytest.raises(TrainingError, match=r"it trained on the build .+, and .+ now holds .+ \(rebuilt"):
        train(config, tmp_path / "run", resume=True, quiet=True)


def test_a_run_per_concept_gives_each_concept_the_model_a_run_of_its_own_would(mini_build: Path,
                                                                               tmp_path: Path) -> None:
    """The authors' protocol: one run and one model per concept. Each concept's model is the one a lone run on that
    concept trains (same weights), `stop_after` counts across the runs, and the syncr1 adapter given the folder
    evaluates each concept with its own model."""
    each = ["steps=2", "concepts=[chelsea, coins]", "dgs.enabled=false"]
    out = tmp_path / "each"
    first = train(_config(mini_build, *each, "run_per_concept=true"), out, stop_after=3, quiet=True)
    assert (first.bundle, first.last_step, first.total_steps, first.ran) == (None, 3, 4, 3)
    assert (out / "chelsea" / "model").is_dir() and not (out / "coins" / "model").exists()
    second = train(_config(mini_build, *each, "run_per_concept=true"), out, resume=True, quiet=True)
    assert (second.bundle, second.last_step, second.ran) == (out, 4, 1)
    assert [m["concepts"] for m in second.metrics] == [["chelsea"]] * 2 + [["coins"]] * 2
    exported = (out / "chelsea" / "model" / "showo" / "model.safetensors").stat().st_mtime_ns
    reused = train(_config(mini_build, *each, "run_per_concept=true"), out, resume=True, quiet=True)
    assert (reused.bundle, reused.ran, reused.metrics) == (out, 0, second.metrics)  # finished runs are not redone
    assert (out / "chelsea" / "model" / "showo" / "model.safetensors").stat().st_mtime_ns == exported
    alone = train(_config(mini_build, *each, "concepts=[coins]", "run_per_concept=false"), tmp_path / "alone",
                  quiet=True)
    weights = {name: load_file(str(bundle / "showo" / "model.safetensors"))
               for name, bundle in (("chelsea", out / "chelsea" / "model"), ("coins", out / "coins" / "model"),
                                    ("alone", alone.bundle))}
    assert all(torch.equal(weights["coins"][k], weights["alone"][k]) for k in weights["alone"])
    assert not all(torch.equal(weights["coins"][k], weights["chelsea"][k]) for k in weights["alone"])
    assert sorted(p.name for p in (out / "coins" / "model" / "concepts").iterdir()) == ["coins.safetensors"]

    bench = unifybench_pp.load(mini_build)
    per_concept = create("syncr1", str(out), steps=3)
    for concept in ("chelsea", "coins", "chelsea"):  # swapping back reloads the first concept's model
        request = GenerateRequest(f"x/{concept}", "pure_gen", bench.concepts[concept], f"A photo of <{concept}>.",
                                  seed=5)
        per_concept.personalize(bench.concepts[concept], [])
        own = create("syncr1", str(out / concept / "model"), steps=3)
        own.personalize(bench.concepts[concept], [])
        assert per_concept.generate([request])[0].tobytes() == own.generate([request])[0].tobytes(), concept
    with pytest.raises(ModelError, match="no model for concept ast"):
        per_concept.personalize(bench.concepts["ast"], [])


def test_the_reward_trend_compares_thirds_of_each_concepts_steps() -> None:
    """A run visits concepts in turn (or one after another) and their rewards differ: thirds are taken per concept,
    then averaged; thirds of the whole log would compare one concept's start with another's end."""
    a, b = [1.0, 2.0, 3.0], [10.0, 10.0, 10.0, 20.0, 20.0, 20.0]
    metrics = [{"concepts": ["a"], "reward_mean": r} for r in a] + [{"concepts": ["b"], "reward_mean": r} for r in b]
    assert reward_trend(metrics) == pytest.approx(((1 + 10) / 2, (3 + 20) / 2))


def test_two_concepts_keep_separate_thresholds(mini_build: Path, tmp_path: Path) -> None:
    """Each concept's τ moves with its own pass rate only; a checkpoint keeps both."""
    trainer = Trainer(_config(mini_build, "steps=2", "concepts=[chelsea, coins]", "dgs.initial_threshold=0.3"),
                      tmp_path / "run", quiet=True)
    first, first_samples = trainer.train_step()
    second, _ = trainer.train_step()
    a, b = first["concepts"][0], second["concepts"][0]
    assert {a, b} == {"chelsea", "coins"} and first["tau"] == second["tau"] == 0.3
    assert set(first) & {"tau/coins", "tau/chelsea"} == {f"tau/{a}"}
    expected = make_controller(trainer.config.dgs)
    expected.update(first[f"pass_rate/{a}"])
    assert trainer.controllers[a].tau == expected.tau == first[f"tau_next/{a}"]
    assert second[f"tau/{b}"] == 0.3  # untouched by the other concept's update
    assert first[f"pass_rate/{a}"] == first["passed"] / first["screened"]
    trainer._save()
    state = json.loads((tmp_path / "run" / "checkpoints" / "step-000002" / "trainer_state.json").read_text())
    other = make_controller(trainer.config.dgs)
    other.update(second[f"pass_rate/{b}"])
    assert state["controllers"] == {a: expected.state_dict(), b: other.state_dict()}


def _whole_graph_loss(trainer: Trainer, rollout, reference_model) -> torch.Tensor:
    """L for the group in one graph: every row's reasoning at once, every denoising step over one shared prefix cache
    (`position_logprobs`), the reference computed the same way with a frozen copy."""
    config, pipe, run = trainer.config, trainer.pipe, rollout.run
    group = config.group_size
    text_args = (rollout.question_ids.expand(group, -1), rollout.image_end.expand(group), rollout.answers)

    def logprobs(model):
        text, mask = Understander(model, pipe.vocab, pipe.tokenizer, mmu_vocab="text").answer_logprobs(
            *text_args, config.reasoning_temperature)
        image = MaskGitSampler(model, pipe.vocab).position_logprobs(run.prompt_ids, run.trajectory,
                                                                     trainer.sampler_config, run.uncond_ids)
        return text, mask, image

    with torch.no_grad():
        ref_text, _, ref_image = logprobs(reference_model)
    text, mask, image = logprobs(pipe.model)
    advantages = group_advantages(torch.tensor([r["total"] for r in rollout.rewards]), group)
    still_masked = torch.stack(run.trajectory.states, dim=1) == pipe.vocab.codebook_size  # (G, S, N)
    positions = None if config.image_positions == "all" else still_masked
    return sync_grpo_loss(advantages, text=(text, text.detach(), ref_text, mask),
                          image=(image, image.detach(), ref_image, positions), lambda_und=config.lambda_und,
                          lambda_gen=config.lambda_gen, beta=config.beta, epsilon=config.clip_epsilon,
                          und_constant=trainer.und_constant, gen_constant=trainer.gen_constant,
                          group_size=group).loss


@pytest.mark.parametrize(("trainable", "checkpointing", "positions", "rows"), [
    ("full", False, "masked", 1), ("concepts", False, "masked", 1), ("full", True, "masked", 1),
    ("full", False, "all", 1), ("full", False, "masked", 2)])
def test_per_step_backward_gives_the_whole_graph_gradient(mini_build: Path, tmp_path: Path, trainable: str,
                                                           checkpointing: bool, positions: str, rows: int) -> None:
    """Back-propagating each block of rows' reasoning and each (block, step) alone sums to the gradient of L in one
    graph; the KL term is live (the policy has moved off the reference) and the concepts-mode reference shares
    weights. With activation checkpointing the pieces recompute their activations and must give the same gradient.
    The reference log-probs come from one pass over the group, sliced per piece (blocks of 2 of 3: uneven)."""
    # the random tiny base: the pretrained one is so sure of its memorized reasoning that the text KL underflows to 0
    trainer = Trainer(_config(mini_build, "steps=1", f"trainable={trainable}", "beta=0.5", f"loss_rows={rows}",
                              "dgs.enabled=false", "concepts=[chelsea]", "showo=tiny", f"image_positions={positions}",
                              f"activation_checkpointing={str(checkpointing).lower()}"), tmp_path / "run", quiet=True)
    showo = trainer.pipe.model.showo
    flag = next(f"is_{kind}_checkpointing" for kind in ("activation", "gradient")  # the old name goes in v6
                if hasattr(showo, f"is_{kind}_checkpointing"))
    assert getattr(showo, flag) == checkpointing
    reference_copy = copy.deepcopy(trainer.pipe.model)
    generator = torch.Generator().manual_seed(0)
    concept_rows = concept_row_mask(trainer.pipe)
    with torch.no_grad():  # move what trains off the starting point, so ratios to the reference are not 1
        for param in trainer.params:
            noise = torch.randn(param.shape, generator=generator) * 0.05
            param.add_(noise if trainable == "full" else noise * concept_rows.view((-1,) + (1,) * (param.dim() - 1)))
    rollout = trainer.engine.rollout(trainer.schedule.prompt(0), 0, None)
    for row, keep in ((0, 2), (2, 4)):  # answers of uneven widths (the random base writes to the token limit)
        rollout.answers[row] = rollout.answers[row][:len(rollout.answers[row]) // keep]
    before = {n: p.detach().clone() for n, p in trainer.pipe.model.named_parameters()}
    pieces = trainer._backward(rollout, 1.0, None, trainer._reference_logprobs(rollout))
    assert all(torch.equal(before[n], p) for n, p in trainer.pipe.model.named_parameters())  # reference swap undone
    assert pieces["text"].kl_sum > 0 and pieces["image"].kl_sum > 0
    stepwise = {n: p.grad.clone() for n, p in trainer.pipe.model.named_parameters() if p.grad is not None}
    trainer.pipe.model.zero_grad(set_to_none=True)
    _whole_graph_loss(trainer, rollout, reference_copy).backward()
    whole = {n: p.grad for n, p in trainer.pipe.model.named_parameters() if p.grad is not None}
    assert stepwise.keys() == whole.keys() and len(whole) == (3 if trainable == "concepts" else len(before))
    for name in whole:
        if trainable == "concepts":  # what trains: the concept rows (ConceptRows takes only those)
            stepwise[name], whole[name] = stepwise[name][concept_rows], whole[name][concept_rows]
        scale = float(whole[name].abs().max())
        assert scale > 0, name
        torch.testing.assert_close(stepwise[name], whole[name], rtol=1e-4, atol=1e-5 * scale, msg=lambda m,
                                   name=name: f"{name}: {m}")
    assert (trainer.reference.copy is None) == (trainable == "concepts")
    assert (tmp_path / "run" / "base").is_dir()  # the random tiny base lives in the run: its --out stays resumable
    assert out_problem(tmp_path / "run", per_concept=False) is None


def test_a_process_holding_none_of_the_group_runs_no_pass(mini_build: Path, tmp_path: Path) -> None:
    """With the group split over more processes than it has rows, a process can hold none of it: it computes no
    log-probs and back-propagates nothing (and still joins the gradient sum), as with one-row pieces before."""
    trainer = Trainer(_config(mini_build, "steps=1", "beta=0.5", "updates_per_rollout=2", "dgs.enabled=false",
                              "concepts=[chelsea]"), tmp_path / "run", quiet=True)
    rollout = trainer.engine.rollout(trainer.schedule.prompt(0), 0, None)
    none_held = dataclasses.replace(rollout, answers=[], reasoning=[], run=None, images=[], rewards=[], rows=[])
    policy = trainer.accelerator.unwrap_model(trainer.policy)
    assert trainer._reference_logprobs(none_held) == [] and trainer._fixed_logprobs(policy, none_held) == []
    parts = trainer._backward(none_held, 1.0, [], [])
    assert all(part.tokens == 0 for part in parts.values())
    assert all(p.grad is None for p in trainer.pipe.model.parameters())


def test_a_concepts_checkpoint_holds_the_concept_rows_and_their_optimizer_state_only(mini_build: Path,
                                                                                      tmp_path: Path) -> None:
    """Weights and AdamW state of the rows the concepts own: bytes grow with the concepts, not with the vocabulary."""
    sizes = {}
    for concepts in (["chelsea"], ["chelsea", "coins", "ast"]):
        out = tmp_path / str(len(concepts))
        trainer = Trainer(_config(mini_build, "steps=1", "dgs.enabled=false", "trainable=concepts",
                                  f"concepts=[{', '.join(concepts)}]"), out, quiet=True)
        trainer.run()
        rows = int(concept_row_mask(trainer.pipe).sum())
        hidden = trainer.pipe.model.phi.config.hidden_size
        checkpoint = out / "checkpoints" / "step-000001"
        saved = load_file(str(checkpoint / "trainable.safetensors"))
        assert {k: tuple(v.shape) for k, v in saved.items()} == {
            "concept_rows.embed_tokens.weight": (rows, hidden), "concept_rows.lm_head.weight": (rows, hidden),
            "concept_rows.lm_head.bias": (rows,)}
        state = torch.load(checkpoint / "optimizer.bin", weights_only=True)["state"]
        assert sorted(tuple(s["exp_avg"].shape) for s in state.values()) == [(rows,), (rows, hidden), (rows, hidden)]
        sizes[rows] = sum(f.stat().st_size for f in (checkpoint / "trainable.safetensors",
                                                     checkpoint / "optimizer.bin"))
        vocabulary = trainer.pipe.model.phi.get_input_embeddings().weight.numel()
    (few, few_bytes), (many, many_bytes) = sorted(sizes.items())
    per_row = (many_bytes - few_bytes) / (many - few)
    assert per_row == pytest.approx(3 * 4 * (2 * hidden + 1), rel=0.01)  # weight, exp_avg, exp_avg_sq in float32
    assert few_bytes < 3 * 4 * (2 * hidden + 1) * few + 16_384 < 4 * vocabulary  # a small fixed overhead


def _vowel_share(scorers: object, samples: list[RewardSample]) -> list[float]:
    return [sum(ch in "aeiou" for ch in s.reasoning.lower()) / max(1, len(s.reasoning)) for s in samples]


@pytest.mark.slow  # over 20 s: several processes or a whole run (pytest -m slow)
def test_the_policy_climbs_a_reward_it_controls(mini_build: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end (rollout -> reward -> advantage -> loss -> step): the share of vowels in the reasoning follows
    the sign of its weight, measured against a frozen run on the same prompts and seeds (the prompts alone move
    it); misaligned rewards and trajectories, or a flipped objective, would not."""
    monkeypatch.setitem(REWARDS, "vowels", Reward("pixels", _vowel_share, "share of vowels (test)"))

    def late_share(name: str, weight: float, learning_rate: float) -> float:
        config = _config(mini_build, "steps=20", "group_size=8", "reasoning_max_new_tokens=8", "generation_steps=2",
                         "dgs.enabled=false", "beta=0", "lambda_gen=0", "save_every=100", "concepts=[chelsea]",
                         "trainable=full", f"learning_rate={learning_rate}", f"rewards.weights={{vowels: {weight}}}")
        Trainer(config, tmp_path / name, quiet=True).run()
        samples = [json.loads(line) for line in (tmp_path / name / "samples.jsonl").read_text().splitlines()]
        assert not any(":token_" in s["reasoning"] for s in samples)  # latent concept tokens are never words
        late = [s["rewards"]["vowels"] for s in samples if s["step"] > 15]
        return sum(late) / len(late)

    frozen = late_share("frozen", 1.0, 0.0)
    assert late_share("up", 1.0, 5e-3) > frozen + 0.1
    assert late_share("down", -1.0, 5e-3) < frozen - 0.05


@pytest.mark.parametrize("trainable", ["full", "lora", "concepts"])
def test_the_exported_bundle_reloads_as_the_trained_policy(mini_build: Path, tmp_path: Path, trainable: str) -> None:
    extra = ["steps=1", f"trainable={trainable}", "weight_decay=0.01"]  # decays what trains, nothing else
    trainer = Trainer(_config(mini_build, *extra), tmp_path / "run", quiet=True)
    before = {k: v.clone() for k, v in trainer.pipe.model.state_dict().items() if "lora_" not in k}
    result = trainer.run()
    after = trainer.pipe.model.state_dict()
    changed = {k for k, v in before.items() if not torch.equal(v, after[k])}
    if trainable == "concepts":
        assert changed == {"showo.model.embed_tokens.weight", "showo.lm_head.weight", "showo.lm_head.bias"}
        rows = torch.nonzero((before["showo.model.embed_tokens.weight"]
                              != after["showo.model.embed_tokens.weight"]).any(1)).flatten()
        concept_ids = {i for t in trainer.pipe.concepts.values()
                       for i in trainer.pipe.tokenizer.convert_tokens_to_ids(t.tokens)}
        assert set(rows.tolist()) <= concept_ids and len(rows) > 0
    elif trainable == "lora":
        assert not changed - {"showo.model.embed_tokens.weight", "showo.lm_head.weight", "showo.lm_head.bias"}
    else:
        assert any("layers.0.self_attn" in k for k in changed)
    reloaded = ShowoPipeline.from_pretrained(result.bundle / "showo", result.bundle / "magvit")
    for concept in sorted(trainer.pipe.concepts):
        reloaded.load_concept(result.bundle / "concepts" / f"{concept}.safetensors")
    config = SamplerConfig(steps=4, guidance_scale=2.0)
    prompt = [trainer.pipe.concepts["chelsea"].in_prompt("A photo of <chelsea>.", "<chelsea>")]
    ours = trainer.pipe.generate(prompt, seed=[3], config=config, return_trajectory=True)[1]
    theirs = reloaded.generate(prompt, seed=[3], config=config, return_trajectory=True)[1]
    assert torch.equal(ours, theirs)


def test_cli_trains_the_tiny_preset_and_evaluate_loads_the_result(mini_build: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "syncr1"
    args = ["train", "syncr1", "--preset", "tiny", "--out", str(out), "-q", "--set", f"benchmark={mini_build}",
            "--set", "steps=2", *[x for s in FAST for x in ("--set", s)], "--concept", "chelsea", "--concept", "coins"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "mean reward" in result.output
    hint = re.search(r"\(evaluate: ubpp (evaluate .*)\)", result.output)  # what a user copies: run below
    printed = shlex.split(hint.group(1)) if hint else []
    assert printed == ["evaluate", "--model", "syncr1", "--checkpoint", str(out), "--model-size", "211.8K",
                       "--benchmark", str(mini_build), "--option", "steps=4", "--option", "guidance_scale=2.0",
                       "--option", "max_new_tokens=4", "--concepts", "chelsea,coins"]  # FAST's steps and answer length
    assert f"logged in {out / '<concept>' / 'metrics.jsonl'}, one per concept" in result.output
    metrics = [json.loads(line) for line in (out / "chelsea" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[0]["loss"] == pytest.approx(metrics[0]["loss_und"] + metrics[0]["loss_gen"])
    assert {"reward/tier", "reward/colour", "reward/ssim", "loss", "kl_per_token", "pass_rate", "tau", "loss_und",
            "loss_gen", "objective_und", "objective_gen", "kl_per_token_und", "kl_per_token_gen",
            "denoise_steps", "denoise_steps_without_dgs", "grad_norm", "lr"} <= set(metrics[0])
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--resume" in again.output
    bad = runner.invoke(app, ["train", "syncr1", "--preset", "tiny", "--set", "dgs.bogus=1", "--out",
                              str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown dgs setting" in bad.output
    tracker = runner.invoke(app, ["train", "syncr1", "--preset", "tiny", "--set", "report_to=[mlflowish]",
                                  "--out", str(tmp_path / "y")])
    assert tracker.exit_code == 2 and "not supported" in tracker.output
    # the printed command, its concepts aside
    evaluate = [*printed[:-2], "--tasks", "rec,pure_gen", "--runs-dir", str(tmp_path / "runs"), "--option", "steps=4",
                "--option", "max_new_tokens=4", "--option", "model_epoch=2", "--clip-model", "/nonexistent"]
    evaluated = runner.invoke(app, [*evaluate, *printed[-2:]])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(next((tmp_path / "runs").rglob("run.json")).read_text())["model_size"] == "211.8K"
    summary = json.loads(next((tmp_path / "runs").rglob("summary.json")).read_text())
    rec = next(r for r in summary if r["name"] == "rec.weight")
    assert set(rec["per_concept"]) == {"chelsea", "coins"}
    fresh = [*evaluate, "--concepts", "chelsea,ast"]
    fresh[fresh.index(str(tmp_path / "runs"))] = str(tmp_path / "fresh")
    untrained = runner.invoke(app, fresh)
    assert untrained.exit_code == 2 and "holds no model for concept(s) ast; it has chelsea, coins" in untrained.output
    assert not list((tmp_path / "fresh").rglob("predictions.jsonl"))  # refused before chelsea's items were predicted

    # The same models in the authors' layout (rl_weight_root/<concept>/model_epoch<N>.pt, the whole state with the
    # concept's rows) on the shipped base score every item exactly as our per-concept bundles do (both seeded as the
    # harness seeds model epoch 2: model_epoch=2 above).
    for concept in ("chelsea", "coins"):
        pipe = ShowoPipeline.from_pretrained(out / concept / "model" / "showo", out / concept / "model" / "magvit")
        pipe.load_concept(out / concept / "model" / "concepts" / f"{concept}.safetensors")
        (tmp_path / "authors" / concept).mkdir(parents=True)
        torch.save({"epoch": 2, "model_state_dict": pipe.model.state_dict(), "optimizer_state_dict": None},
                   tmp_path / "authors" / concept / "model_epoch2.pt")
    theirs = [*evaluate, "--concepts", "chelsea,coins"]
    theirs[theirs.index(str(out))], theirs[theirs.index(str(tmp_path / "runs"))] = (str(ASSET / "showo"),
                                                                                     str(tmp_path / "theirs"))
    loaded = runner.invoke(app, [*theirs, "--option", f"magvit={ASSET / 'magvit'}",
                                 "--option", f"rl_weights={tmp_path / 'authors'}"])
    assert loaded.exit_code == 0, loaded.output
    scores = [sorted(next(runs.rglob("scores.jsonl")).read_text().splitlines())
              for runs in (tmp_path / "runs", tmp_path / "theirs")]
    assert scores[0] == scores[1] and len(scores[0]) > 10


def test_a_stopped_run_per_concept_says_where_it_stopped_as_its_bar_counts(mini_build: Path, tmp_path: Path) -> None:
    """Each concept's run has its own bar (`2/24`): the closing line used to count every concept's steps instead
    (`step 2 of 144`). Both now name the concept and its own step, the line the whole as well."""
    args = ["train", "syncr1", "--preset", "tiny", "--out", str(tmp_path / "run"), "--set", f"benchmark={mini_build}",
            "--set", "steps=2", *[x for s in FAST for x in ("--set", s)], "--concept", "ast", "--concept", "cam",
            "--stop-after", "3"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert re.search(r"Sync-R1 ast .* 2/2 ", result.output) and re.search(r"Sync-R1 cam .* 1/2 ", result.output)
    assert "stopped at concept cam's step 1 of 2 (3 of 4 steps over all concepts); continue with --resume" \
        in result.output


def test_the_tiny_preset_runs_in_a_fresh_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No prior build: the default benchmark path gets the bundled mini benchmark built, as the demo does."""
    monkeypatch.chdir(tmp_path)
    args = ["train", "syncr1", "--preset", "tiny", "-q", "--set", "steps=1", *[x for s in FAST for x in ("--set", s)]]
    result = CliRunner().invoke(app, [*args, "--concept", "chelsea"])
    assert result.exit_code == 0, result.output
    metrics = [json.loads(x) for x in (tmp_path / "runs/train/syncr1/chelsea/metrics.jsonl").read_text().splitlines()]
    assert metrics[0]["concepts"] == ["chelsea"] and "tau/chelsea" in metrics[0]
    built = unifybench_pp.load(tmp_path / "ubpp_data" / "unifybench_pp-mini")
    assert (tmp_path / "runs" / "train" / "syncr1" / "chelsea" / "model").is_dir() and len(built.concepts) == 6
    other = CliRunner().invoke(app, [*args, "--set", "benchmark=elsewhere", "--out", "other"])
    assert other.exit_code == 2 and not (tmp_path / "elsewhere").exists()  # only the default path is built
    paper = CliRunner().invoke(app, ["train", "syncr1", "--preset", "paper", "--out", "paper"])
    assert paper.exit_code == 2 and "--set benchmark=DIR" in paper.output  # never the toy data by accident
    paper = CliRunner().invoke(app, ["train", "syncr1", "--preset", "paper", "--out", "paper", "--set",
                                     "benchmark=ubpp_data/unifybench_pp-mini"])
    assert paper.exit_code == 2 and "--concept NAME" in paper.output  # one concept per run, as the authors


def test_an_fsdp_launch_is_refused_before_anything_loads(tmp_path: Path) -> None:
    """`accelerate launch --use_fsdp` on this CPU used to fall back to plain processes and train without a word."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--use_fsdp", "--num_processes", "1",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    run = subprocess.run([*launch, "-m", "cli", "train", "syncr1", "--preset", "tiny", "--out", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert run.returncode != 0
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "FSDP is not supported" in errors[0] and "--multi_gpu" in errors[0], run.stderr
    assert not (tmp_path / "ubpp_data").exists() and not (tmp_path / "run" / "config.yaml").exists()


@pytest.mark.parametrize(("flag", "engine"), [("ACCELERATE_USE_DEEPSPEED", "DeepSpeed"),
                                              ("ACCELERATE_USE_MEGATRON_LM", "Megatron-LM")])
def test_other_sharded_launches_are_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str,
                                                        engine: str) -> None:
    """The variables `accelerate launch --use_deepspeed` / `--use_megatron_lm` set (DeepSpeed is not installed here)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(flag, "true")
    result = CliRunner().invoke(app, ["train", "syncr1", "--preset", "tiny", "--out", "run"])
    assert result.exit_code == 2 and f"error: {engine} is not supported" in result.output, result.output
    assert not (tmp_path / "ubpp_data").exists()


@pytest.mark.slow
def test_a_killed_run_resumes_with_the_same_next_step(mini_build: Path, tmp_path: Path) -> None:
    args = [sys.executable, "-m", "cli", "train", "syncr1", "--preset", "tiny", "-q", "--set",
            f"benchmark={mini_build}",
            "--set", "steps=6", "--set", "run_per_concept=false", *[x for s in FAST for x in ("--set", s)]]
    whole = subprocess.run([*args, "--out", str(tmp_path / "whole")], capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr
    process = subprocess.Popen([*args, "--out", str(tmp_path / "killed")], start_new_session=True)
    checkpoint = tmp_path / "killed" / "checkpoints" / "step-000003"
    deadline = time.time() + 300
    while not checkpoint.is_dir() and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "killed" / "model").exists()  # killed mid-run, not after it finished
    resumed = subprocess.run([*args, "--out", str(tmp_path / "killed"), "--resume"], capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    read = lambda run: [json.loads(x) for x in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert [m["loss"] for m in read("killed")] == [m["loss"] for m in read("whole")]


DDP_SCRIPT = """
import os, sys, torch
from pathlib import Path
from training.config import load_config
from training.trainer import Trainer
trainer = Trainer(load_config(None, "tiny", sys.argv[2:]), Path(sys.argv[1]), quiet=True)
assert trainer.accelerator.num_processes == int(os.environ.get("WORLD_SIZE", "1")), trainer.accelerator.distributed_type
trainer.run()
rank = trainer.accelerator.process_index
torch.save(trainer.pipe.model.state_dict(), Path(sys.argv[1]) / f"rank{rank}.pt")
"""
DDP_SETTINGS = ["steps=2", "device=cpu", "run_per_concept=false", "concepts=[chelsea]", "lr_scheduler=linear",
                "warmup_steps=0", *FAST]


def _launch(script: Path, out: Path, processes: int, *settings: str) -> list[dict]:
    """The trainer in `processes` processes (torchrun, gloo on the CPU) or in this interpreter's way for one."""
    launcher = ["-m", "torch.distributed.run", "--nproc_per_node", str(processes)] if processes > 1 else []
    run = subprocess.run([sys.executable, *launcher, str(script), str(out), *settings], capture_output=True,
                         text=True, timeout=600, cwd=Path(__file__).resolve().parents[1],
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow  # over 20 s: several processes or a whole run (pytest -m slow)
def test_two_processes_splitting_a_group_train_what_one_process_trains(mini_build: Path, tmp_path: Path) -> None:
    """`distribute: split_group`: one group per step split over 2 processes (each draws and finishes its own
    candidates, DGS decides on the gathered scores, advantages over the gathered rewards, gradients summed) gives
    the one-process run: same rewards, same lr sequence (the schedule steps once per optimizer step), metrics and
    samples from both processes, and the same weights within float tolerance."""
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    settings = [f"benchmark={mini_build}", *DDP_SETTINGS, "distribute=split_group"]
    one = _launch(script, tmp_path / "one", 1, *settings)
    two = _launch(script, tmp_path / "two", 2, *settings)
    assert [m["processes"] for m in two] == [2, 2] and [m["groups"] for m in two] == [1, 1]
    assert json.loads((tmp_path / "two" / "launch.json").read_text())["groups_per_step"] == 1
    assert [m["lr"] for m in two] == [m["lr"] for m in one] == pytest.approx([1e-4, 5e-5])  # linear decay over 2
    for a, b in zip(one, two):
        assert b["reward_mean"] == pytest.approx(a["reward_mean"], abs=1e-6)
        assert b["reasoning_tokens"] == a["reasoning_tokens"] and b["denoise_steps"] == a["denoise_steps"]
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4, abs=1e-8)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4)
    samples = [json.loads(line) for line in (tmp_path / "two" / "samples.jsonl").read_text().splitlines()]
    assert [(s["step"], s["index"]) for s in samples] == [(t, i) for t in (1, 2) for i in range(3)]  # both ranks'
    alone = torch.load(tmp_path / "one" / "rank0.pt")
    for rank in (0, 1):
        split = torch.load(tmp_path / "two" / f"rank{rank}.pt")
        for name, value in alone.items():
            torch.testing.assert_close(split[name], value, rtol=1e-4, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")


def test_the_schedule_spans_the_steps_whatever_the_updates_per_rollout(mini_build: Path, tmp_path: Path) -> None:
    """The scheduler stepped once per update: with 2 updates per rollout a cosine over 4 steps reached 0 at step 3
    and climbed back. Each step's updates now share its rate, the schedule's over `steps`."""
    from transformers import get_scheduler

    config = _config(mini_build, "steps=4", "updates_per_rollout=2", "lr_scheduler=cosine", "warmup_steps=1",
                     "concepts=[chelsea]", "run_per_concept=false", "save_every=4")
    logged = [m["lr"] for m in train(config, tmp_path / "run", quiet=True).metrics]
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=config.learning_rate)
    schedule = get_scheduler("cosine", optimizer, num_warmup_steps=1, num_training_steps=4)
    expected = []
    for _ in range(4):
        expected.append(schedule.get_last_lr()[0])
        optimizer.step()
        schedule.step()
    assert logged == pytest.approx(expected) and expected[1] == pytest.approx(config.learning_rate)


def test_a_group_per_process_makes_a_step_of_two_groups(mini_build: Path, tmp_path: Path) -> None:
    """`distribute: group_per_rank`: each process rolls out a group of its own (different prompts), the step's
    metrics hold both groups, gradients are averaged and the processes stay in sync."""
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    out = tmp_path / "ddp"
    metrics = _launch(script, out, 2, f"benchmark={mini_build}", *DDP_SETTINGS, "distribute=group_per_rank",
                      "concepts=[chelsea, coffee]")
    assert [m["groups"] for m in metrics] == [2, 2] and [m["lr"] for m in metrics] == pytest.approx([1e-4, 5e-5])
    assert json.loads((out / "launch.json").read_text()) == {"processes": 2, "distribute": "group_per_rank",
                                                             "groups_per_step": 2, "group_size": 3}
    assert all(sorted(m["concepts"]) == ["chelsea", "coffee"] for m in metrics)  # both processes' groups logged
    rank0, rank1 = torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt")
    assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)
    assert (out / "model" / "concepts" / "chelsea.safetensors").is_file()


def test_a_cpu_launch_that_asked_for_several_processes_is_refused(mini_build: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """What `accelerate launch --cpu --num_processes 2` leaves in the environment of the one process it starts."""
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(TrainingError, match="--multi_gpu"):
        Trainer(_config(mini_build, "steps=1"), tmp_path / "run", quiet=True)


@pytest.mark.skipif(torch.cuda.device_count() > 1, reason="accelerate turns on --multi_gpu itself with 2+ GPUs")
def test_a_plain_launch_that_asked_for_several_processes_is_warned_about(tmp_path: Path) -> None:
    """`accelerate launch --num_processes 2` without --multi_gpu starts one process on a machine of fewer than 2
    GPUs and used to train on it without a word (README's command lacked --multi_gpu)."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no"]
    taken = tmp_path / "taken"
    taken.write_text("not a run folder")  # refused right after the launch checks: nothing trains
    run = subprocess.run([*launch, "-m", "cli", "train", "syncr1", "--preset", "tiny", "--out", str(taken)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    notes = [line for line in run.stderr.splitlines() if line.startswith("note:") and "--multi_gpu" in line]
    assert len(notes) == 1 and "without --multi_gpu started one process" in notes[0], run.stderr
    assert "error: --out" in run.stderr and run.returncode != 0


def test_checkpoints_without_the_optimizer_state_are_smaller_and_resume(mini_build: Path, tmp_path: Path) -> None:
    """`save_optimizer: false`: the checkpoint holds the weights, scheduler and RNG but no AdamW moments (the
    paper preset's is ~2/3 of its size), and --resume still continues the run to its end."""
    settings = ["steps=2", "concepts=[chelsea]", "dgs.enabled=false", "run_per_concept=false"]
    sizes = {}
    for keep in (True, False):
        out = tmp_path / str(keep)
        first = train(_config(mini_build, *settings, f"save_optimizer={str(keep).lower()}"), out, stop_after=1,
                      quiet=True)
        checkpoint = out / "checkpoints" / "step-000001"
        assert first.last_step == 1 and (checkpoint / "optimizer.bin").is_file() == keep
        sizes[keep] = sum(f.stat().st_size for f in checkpoint.rglob("*") if f.is_file())
        resumed = train(_config(mini_build, *settings, f"save_optimizer={str(keep).lower()}"), out, resume=True,
                        quiet=True)
        assert resumed.bundle is not None and resumed.last_step == 2
    assert sizes[False] < 0.5 * sizes[True]  # AdamW's two moments are twice the weights


def test_resuming_one_concept_s_folder_names_the_run_per_concept_s_out(mini_build: Path, tmp_path: Path) -> None:
    """`--out OUT/<concept> --resume` (what `ubpp evaluate --checkpoint OUT/<concept>` suggested) was refused as
    "a run trained with run_per_concept: false ... set it to false"; it now names OUT, and OUT goes on."""
    config = _config(mini_build, "steps=2", "concepts=[chelsea]")
    out = tmp_path / "train"
    train(config, out, stop_after=1, quiet=True)
    for per_concept in ("true", "false"):
        with pytest.raises(TrainingError, match=f"give --out {re.escape(str(out))} .*to resume it"):
            train(_config(mini_build, "steps=2", "concepts=[chelsea]", f"run_per_concept={per_concept}"),
                  out / "chelsea", resume=True, quiet=True)
    for checkpoint in (out / "chelsea", out):  # the hint evaluate gives for either folder
        with pytest.raises(ModelError, match=f"continue it with .* --out {re.escape(str(out))} --resume"):
            create("syncr1", str(checkpoint), "cpu")
    assert train(config, out, resume=True, quiet=True).bundle == out


def test_evaluating_a_training_run_that_has_not_finished_says_so(tmp_path: Path) -> None:
    """Before its model is exported a run folder holds no model/: evaluate used to fail on a missing config.json."""
    from baselines.base import ModelError
    from baselines.registry import create

    for run in (tmp_path / "flat", tmp_path / "per" / "ast"):
        (run / "checkpoints" / "step-000001").mkdir(parents=True)
        (run / "config.yaml").write_text("steps: 2\n")
    for out in (tmp_path / "flat", tmp_path / "per"):
        with pytest.raises(ModelError, match=f"{out} is a training run that has not finished .* --resume"):
            create("syncr1", str(out), "cpu")
