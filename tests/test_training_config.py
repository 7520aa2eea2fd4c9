"""Training settings: Table 4 defaults, the shipped YAML files, presets and overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from training.config import TrainConfig, load_config
from unifybench_pp.settings import parse_override

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"


def test_defaults_are_the_papers_table_4() -> None:
    c = TrainConfig()
    assert (c.group_size, c.learning_rate, c.guidance_scale, c.batch_size, c.max_grad_norm, c.steps) == (
        9, 1e-6, 5.0, 1, 1.0, 100)
    assert (c.lambda_und, c.lambda_gen, c.beta, c.clip_epsilon) == (0.4, 0.6, 0.01, 0.2)
    assert c.rewards.weights["tier"] == pytest.approx(0.4) and sum(c.rewards.weights.values()) == pytest.approx(1.0)
    assert c.rewards.person_only == ["fer"] and c.rewards.fallback == "der"
    assert (c.dgs.surrogate, c.dgs.controller, c.dgs.eta, c.dgs.mu, c.dgs.gamma) == ("ber", "trend", 0.12, 0.8, 0.25)
    assert c.screening_step == 10 and c.candidate_budget == 18  # 20% of 50 steps; 2 x 9 candidates
    # what the authors' code trains: the whole Show-o, AdamW wd 1e-3, cosine with warm-up, top-k 5 reasoning
    assert (c.trainable, c.weight_decay, c.lr_scheduler, c.reasoning_top_k) == ("full", 1e-3, "cosine", 5)
    assert c.warmup_steps > 0 and c.loss_rows == 1 and c.concepts is None


def test_shipped_yaml_files_match_the_defaults_and_the_tiny_preset() -> None:
    assert load_config(CONFIGS / "syncr1_paper.yaml") == TrainConfig()
    assert load_config(CONFIGS / "syncr1_tiny.yaml") == load_config(None, "tiny")


def test_file_then_overrides_win(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("learning_rate: 1e-5\ndgs:\n  controller: unictokens\nrewards:\n  weights: {tier: 1.0}\n")
    config = load_config(path, "tiny", ["dgs.enabled=false", "concepts=[ast, cam]", "learning_rate=3e-4"])
    assert config.learning_rate == 3e-4 and config.dgs.controller == "unictokens" and not config.dgs.enabled
    assert config.rewards.weights == {"tier": 1.0}  # weights replace, never merge
    assert config.concepts == ["ast", "cam"] and config.showo == "tiny-mini"
    assert parse_override("a.b.c=1") == {"a": {"b": {"c": 1}}}
    # YAML reads 1e3 as a string (its floats need a dot); a count written so is the number it names
    assert load_config(None, None, ["steps=1e3", "save_every=2.5e1"]).steps == 1000
    assert load_config(None, None, ["warmup_steps=1e3", "seed=1e2"]).warmup_steps == 1000  # every whole number
    assert load_config(None, None, ["report_to=wandb"]).report_to == ["wandb"]  # one tracker is a list of one
    # a negative weight is a penalty (the policy-climbs test trains one)
    assert load_config(None, None, ["rewards.weights={tier: 1, der: -0.5}"]).rewards.weights["der"] == -0.5


@pytest.mark.parametrize(("override", "message"), [
    ("bogus=1", "unknown training setting"), ("dgs.nope=1", "unknown dgs setting"),
    ("group_size=1", "at least 2"), ("trainable=half", "concepts, lora or full"),
    ("dgs.budget_factor=0.5", "dgs.budget_factor must be >= 1, not 0.5"), ("learning_rate=fast", "must be a number"),
    ("novalue", "KEY=VALUE"),
    # every value a controller, a budget or a reward mix cannot use is refused here, not after the model loads
    ("dgs.screen_batch=0", "dgs.screen_batch must be >= 1, not 0"),
    ("dgs.budget_factor=inf", "dgs.budget_factor must be a finite number, not 'inf'"),
    ("steps=true", "steps must be a whole number, not true"), ("dgs.eta=true", "dgs.eta must be a number, not true"),
    ("seed=4294967296", "seed must be <= 4294967295, not 4294967296"), ("seed=-1", "seed must be >= 0"),
    ("dgs.initial_threshold=nan", "dgs.initial_threshold must be a finite number, not 'nan'"),
    ("dgs.eta=nan", "dgs.eta must be a finite number"), ("dgs.target_pass_rate=5", "dgs.target_pass_rate must be < 1"),
    ("dgs.mu=1", "dgs.mu must be < 1, not 1"), ("dgs.mu=-7", "dgs.mu must be >= 0"), ("dgs.gamma=2", "<= 1"),
    ("dgs.screening_fraction=1", "dgs.screening_fraction must be < 1"),
    ("visual_share=1.5", "visual_share must be <= 1"),
    ("rewards.weights={}", "at least one reward a weight other than 0, not {}"),
    ("rewards.weights={tier: 0}", "at least one reward a weight other than 0"),
    ("rewards.weights={tier: nan}", "rewards.weights.tier must be a finite number"),
    ("rewards.weights.tier=1", "rewards.weights is set whole"),
    ("concepts=[ast, cam, ast]", "concepts names 'ast' more than once"),
    ("steps=1.5", "steps must be a whole number, not 1.5"), ("steps=1.5e3x", "steps must be a number"),
])
def test_bad_settings_say_what_is_wrong(override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(None, None, [override])
    with pytest.raises(ValueError, match="unknown preset"):
        load_config(None, "huge")


def test_every_setting_documents_itself_and_the_settings_page_is_generated_from_it() -> None:
    """Each setting's docstring is its help; docs/config.md is regenerated from them (the test rewrites the page
    and fails when it was stale), `--settings` prints them, `--plan` names what a run changes and why."""
    from typer.testing import CliRunner

    from cli import app
    from training.config import DGSConfig, RewardConfig, setting_docs, settings_markdown

    docs = setting_docs()
    count = sum(len(dataclasses.fields(c)) for c in (TrainConfig, RewardConfig, DGSConfig)) - 2  # rewards, dgs
    assert len(docs) == count
    assert [d.name for d in docs if len(d.help) < 15] == []
    assert {d.name: d.default for d in docs}["dgs.eta"] == 0.12 and "η" in {d.name: d.help for d in docs}["dgs.eta"]
    page = Path(__file__).parents[1] / "docs" / "config.md"
    text = settings_markdown()
    stale = page.read_text() != text
    if stale:
        page.write_text(text)
    assert not stale, "docs/config.md was stale and has been rewritten: commit it"
    listed = CliRunner().invoke(app, ["train", "syncr1", "--settings"], env={"COLUMNS": "400"})
    assert listed.exit_code == 0 and "dgs.eta" in listed.output and "rewards.weights" in listed.output
    planned = CliRunner().invoke(app, ["train", "syncr1", "--preset", "tiny", "--plan"], env={"COLUMNS": "400"})
    assert "set: steps" in planned.output and "24 (default 100): Optimizer steps" in planned.output
    assert "set: beta" in planned.output and "set: seed" not in planned.output


def test_setting_types_read_as_words_and_every_named_type_is_in_the_legend() -> None:
    """docs/config.md and `--settings` used to show `Annotated[Whole, Field(ge=0)]`, `Literal['auto', ...]` and
    `Annotated[list[str], BeforeValidator(_listed)]`, and named types (`Distribute`, `Trainable`, ...) that the
    "Types:" legend left out."""
    import re

    from typer.testing import CliRunner

    from cli import app
    from training.config import CONSTRAINED_TYPES, setting_docs

    kinds = {doc.name: doc.kind for doc in setting_docs()}
    assert kinds["warmup_steps"] == "Whole (≥ 0)" and kinds["dgs.mu"] == "Finite (≥ 0, < 1)"
    assert kinds["report_to"] == "list of str" and kinds["rewards.weights"] == "str → Finite"
    assert kinds["mixed_precision"] == "auto / no / bf16 / fp16" and kinds["concept_epoch"] == "Whole or null"
    for kind in kinds.values():
        assert not re.search(r"Annotated|Literal|Field|Validator|None|[\[|']", kind), kind
    named = {word for kind in kinds.values() for word in re.findall(r"\b[A-Z]\w*", kind)}
    assert {"Distribute", "Controller", "ImagePositions", "Trainable"} <= named <= set(CONSTRAINED_TYPES)
    listed = CliRunner().invoke(app, ["train", "syncr1", "--settings"], env={"COLUMNS": "400"}).output
    page = (Path(__file__).parents[1] / "docs" / "config.md").read_text()
    assert "`Distribute`: split_group / group_per_rank" in listed and "`Distribute`: split_group" in page


def test_every_allowed_seed_gives_generator_seeds_torch_accepts() -> None:
    """The largest seed used to overflow torch's generator seed (a traceback after the model loaded)."""
    import torch

    from training.rollout import _candidate_seed

    for seed in (0, 2**31 - 1, 2**32 - 1):
        torch.Generator().manual_seed(_candidate_seed(seed, 10**6, 63))
    assert _candidate_seed(7, 3, 2) == (7 * 1_000_003 + 3) * 10_007 + 2  # small seeds keep their trajectories
