"""Settings files and KEY=VALUE overrides: one reader for the trainer's --config/--set and the adapters' --option."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from unifybench_pp.errors import SettingsError
from unifybench_pp.settings import layered, merge, parse_override, read_settings


def test_yaml_and_toml_files_then_overrides_in_order(tmp_path: Path) -> None:
    toml = tmp_path / "a.toml"
    toml.write_text('base_url = "http://x"\n[dreambooth]\nast = "a"\nrocket = "r"\n')
    yaml_file = tmp_path / "a.yaml"
    yaml_file.write_text("base_url: http://x\ndreambooth: {ast: a, rocket: r}\n")
    for path in (toml, yaml_file):
        got = layered({"steps": 1}, path, ["dreambooth.ast=b", "max-tokens=7", "steps=2", "steps=3"])
        assert got == {"steps": 3, "base_url": "http://x", "dreambooth": {"ast": "b", "rocket": "r"}, "max_tokens": 7}


def test_a_mapping_named_whole_is_replaced_not_merged() -> None:
    base = {"rewards": {"weights": {"tier": 0.4, "ber": 0.6}, "fallback": "der"}}
    update = {"rewards": {"weights": {"tier": 1.0}}}
    assert merge(base, update, frozenset({"weights"})) == {"rewards": {"weights": {"tier": 1.0}, "fallback": "der"}}
    assert merge(base, update)["rewards"]["weights"] == {"tier": 1.0, "ber": 0.6}


@pytest.mark.parametrize("text", ["novalue", "=3", ""])
def test_an_override_without_key_and_value_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_override(text)


def test_a_settings_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        layered({}, path)


def test_evaluate_reads_adapter_options_with_the_same_code(mini_build: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", "--model", "always-yes", "--benchmark", str(mini_build),
                                      "--runs-dir", str(tmp_path), "--option", "novalue"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output
    bad = CliRunner().invoke(app, ["evaluate", "--model", "always-yes", "--benchmark", str(mini_build),
                                   "--runs-dir", str(tmp_path), "--option", "colour=red"])
    assert bad.exit_code == 2 and "takes no options (got colour)" in bad.output


def test_a_yaml_key_given_twice_is_refused_but_merge_keys_work(tmp_path: Path) -> None:
    """Plain YAML keeps the last of two equal keys silently; `<<: *base` is a merge, not a repeated key."""
    (tmp_path / "merged.yaml").write_text("base: &b {steps: 3, seed: 1}\nrun:\n  <<: *b\n  steps: 4\n")
    assert read_settings(tmp_path / "merged.yaml")["run"] == {"steps": 4, "seed": 1}
    for text, says in (("steps: 3\nsteps: 4\n", "duplicate key 'steps' at line 2"),
                       ("? [a, b]\n: 1\n", "unusable key ['a', 'b'] at line 1")):
        (tmp_path / "bad.yaml").write_text(text)
        with pytest.raises(SettingsError, match=re.escape(says)):
            read_settings(tmp_path / "bad.yaml")
