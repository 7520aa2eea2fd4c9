"""`ubpp doctor` and the availability checks behind it (nothing is loaded, nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.openai_server import ScriptedServer
from cli import app
from evaluators.availability import SCORER_OPTIONS, check, metric_availability
from evaluators.metrics import METRICS
from evaluators.scoring_config import ScoringConfig


def test_each_need_is_checked_where_it_would_be_loaded_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "dinov2"
    folder.mkdir()
    config = ScoringConfig(dinov2=str(folder), blip2=str(tmp_path / "missing"), clip=str(tmp_path / "no-clip"),
                           facenet=str(tmp_path / "facenet.pt"))
    assert check("dino", config).available and str(folder) in check("dino", config).detail
    missing = check("blip2", config)
    assert not missing.available and "--blip2" in missing.enable
    assert not check("clip", config).available
    assert not check("facenet", config).available
    (tmp_path / "facenet.pt").write_bytes(b"weights")
    assert check("facenet", config).available
    assert check("text_sim", config).available and check("mtcnn", config).available
    assert check("none", config).available and check("pixels", config).available
    assert not check("judge", config).available and "OPENAI_API_KEY" in check("judge", config).enable
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    closed = ScoringConfig(judge_base_url="http://127.0.0.1:9/v1")
    assert not check("judge", closed).available and "cannot be reached" in check("judge", closed).detail
    with ScriptedServer(lambda body, n: ("ok", "{}")) as server:
        assert check("judge", ScoringConfig(judge_base_url=server.base_url)).available
    table = metric_availability(config)
    assert set(table) == set(METRICS)
    assert table["rec.weight"].available and not table["pure_gen.clip_t"].available
    assert table["pure_gen.dino"].available and not table["pure_gen.blip2"].available


def test_doctor_lists_metrics_and_rewards_with_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["doctor", "--clip-model", str(tmp_path / "clip"), "--dinov2", str(tmp_path / "d"),
                                      "--blip2", str(tmp_path / "b")], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "rec.weight" in result.output and "pure_gen.clip_t" in result.output
    assert "tier (paper)" in result.output and "colour (tiny)" in result.output
    assert "To enable" in result.output and "--dinov2" in result.output
    # rec, 3 BLEU, 2 text_sim, face_found; Table 5's six rule-based metrics (Rec. x2, accuracy x3, BLEU); 8 stand-ins
    assert "metrics computable here: 21 of 39" in result.output
    assert "--preset tiny` rewards: ready" in result.output
    assert "--preset paper` rewards: missing ber, der" in result.output
    # a reward's fix in training's words, though the table row for the same weights speaks evaluate's (--dinov2)
    assert "  der: " in result.output and "--set rewards.dinov2=PATH" in result.output
    assert "  fer: " in result.output and "--set rewards.facenet=FILE" in result.output


def test_evaluate_prints_how_to_enable_what_it_could_not_compute(mini_build: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", "--model", "always-yes", "--benchmark", str(mini_build),
                                      "--runs-dir", str(tmp_path / "runs"), "--clip-model", str(tmp_path / "clip")],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "to enable: export OPENAI_API_KEY" in result.output  # the judge columns of an understanding model
    # the image columns say why they have no predictions, and give no CLIP hint (there are no images to score)
    assert "--clip-model" not in result.output.split("not computed: the model does not generate images")[1]


def test_each_adapter_s_libraries_are_one_extra_that_doctor_checks() -> None:
    """The extras in pyproject.toml (read here from the file, not from the installed metadata the registry reads)
    are exactly the adapters' extras, hold no torch, and doctor says for each whether they are met here."""
    from importlib import metadata

    import tomllib
    from packaging.requirements import Requirement

    from baselines.registry import adapters

    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    used = {spec.extra for spec in adapters().values() if spec.extra}
    assert used == set(extras) - {"test"}

    def met(text: str) -> bool:
        requirement = Requirement(text)
        try:
            return requirement.specifier.contains(metadata.version(requirement.name), prereleases=True)
        except metadata.PackageNotFoundError:
            return False

    result = CliRunner().invoke(app, ["doctor"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 3}
    for spec in adapters().values():
        if not spec.extra:
            continue
        assert not any(Requirement(r).name in ("torch", "torchvision") for r in extras[spec.extra])
        lacking = [r for r in extras[spec.extra] if not met(r)]
        assert spec.missing() == lacking, spec.name
        row = rows[spec.name]
        if lacking:
            assert f"pip install 'unifybench-pp[{spec.extra}]'" in row and lacking[0] in row
        else:
            assert "│ yes" in row
    listing = CliRunner().invoke(app, ["models"], env={"COLUMNS": "300"}).output
    assert "unifybench-pp[bagel]" in listing and "code_root=" in listing  # cells may wrap at spaces


def test_a_model_name_that_is_no_folder_and_no_hub_id_is_missing_not_a_traceback() -> None:
    for scorer, config in (("dino", ScoringConfig(dinov2="a b")), ("text_sim", ScoringConfig(text_embedder="bad::x")),
                           ("blip2", ScoringConfig(blip2="My Models/blip"))):
        found = check(scorer, config)
        assert not found.available and "is neither a folder here nor a Hugging Face model id" in found.detail
        assert found.enable.endswith(f"{SCORER_OPTIONS[scorer]} PATH")
