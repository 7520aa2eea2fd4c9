"""Every malformed release folder and every leak: one clear line naming file, item and fix, exit 2, no output."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import unifybench_pp
from bench.release_fixture import AUTHORS_ROOT
from unifybench_pp import SourceError, SplitConfig


def edit_json(path: Path, change: Callable[[object], object]) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps(change(data) or data, indent=2))


def assert_fails(source: Path, *fragments: str) -> SourceError:
    out = source.parent / "out"
    with pytest.raises(SourceError) as info:
        unifybench_pp.build(source, out, SplitConfig(), quiet=True)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    assert "(fix: " in message
    assert not out.exists()
    assert [p.name for p in source.parent.iterdir() if p.name.startswith(".out")] == []
    return info.value


def set_item(path: Path, index: int, **fields: object) -> None:
    edit_json(path, lambda items: items[:index] + [{**items[index], **fields}] + items[index + 1:])


# --- files and images ---------------------------------------------------------------------------------

def test_missing_image_listed_in_train_images(release: Path) -> None:
    edit_json(release / "concept/train/train_images.json", lambda d: {**d, "ada": ["0.png", "7.png"]})
    assert_fails(release, "concept/train/train_images.json:ada[1]", "image '7.png' not found")


def test_test_data_image_that_resolves_to_nothing_is_an_error_not_a_guess(release: Path) -> None:
    # 2.png exists under concept/test/ada: a guess by file name would find it; the release path names another folder.
    set_item(release / "test_data/ada.json", 0, image=f"{AUTHORS_ROOT}/concept/test/ghost/2.png")
    assert_fails(release, "test_data/ada.json:[0].image", "not found", "concept/test/ghost/2.png")


def test_relative_test_data_path_resolves_against_the_root(release: Path, tmp_path: Path) -> None:
    set_item(release / "test_data/ada.json", 0, image="concept/test/ada/2.png")
    bench = unifybench_pp.load(unifybench_pp.build(release, tmp_path / "out", quiet=True).out)
    assert bench.item("rec", "rec/ada/000").image == bench.concepts["ada"].test_images[1]  # 2.png sorts after 10.png


def test_absolute_path_without_the_release_anchor(release: Path) -> None:
    set_item(release / "test_data/rex.json", 2, image="/etc/passwd")
    assert_fails(release, "test_data/rex.json:[2].image", "no 'unictokens_data/' part")


def test_image_path_escaping_the_source_root(release: Path) -> None:
    set_item(release / "test_data/rex.json", 2, image=f"{AUTHORS_ROOT}/../../outside.png")
    assert_fails(release, "test_data/rex.json:[2].image", "escapes the source root")


def test_corrupt_image(release: Path) -> None:
    (release / "concept/train/mug/1.png").write_bytes(b"\x89PNG this is not a png")
    assert_fails(release, "concept/train/mug/1.png", "corrupt")


def test_truncated_image(release: Path) -> None:
    path = release / "concept/test/rex/2.png"
    path.write_bytes(path.read_bytes()[:60])
    assert_fails(release, "concept/test/rex/2.png", "corrupt")


def test_missing_black_image(release: Path) -> None:
    (release / "black_512x512.png").unlink()
    assert_fails(release, "black_512x512.png", "not found")


# --- JSON ---------------------------------------------------------------------------------------------

def test_malformed_json_reports_line(release: Path) -> None:
    path = release / "test_data/rex.json"
    path.write_text(path.read_text().replace('"type": "vqa",', '"type": "vqa"', 1))
    assert_fails(release, "test_data/rex.json:line", "malformed JSON")


def test_duplicate_json_keys(release: Path) -> None:
    path = release / "concept/train/train_images.json"
    path.write_text('{"ada": ["0.png"], "rex": ["0.png"], "mug": ["0.png"], "ada": ["1.png"]}')
    assert_fails(release, "concept/train/train_images.json", "duplicate key 'ada'")


@pytest.mark.parametrize(("change", "fragments"), [
    (lambda i: {**i, "num_testing_info": 4}, ("info.json:num_testing_info", "between 1 and the 3")),
    (lambda i: {**i, "num_testing_info": 0}, ("info.json:num_testing_info",)),
    (lambda i: {**i, "generation_type": "animal"}, ("info.json:generation_type", "unknown generation_type")),
    (lambda i: {**i, "conversation_type": "robot"}, ("info.json:conversation_type",)),
    (lambda i: {**i, "class": ""}, ("info.json:class", "class noun is empty")),
    (lambda i: {**i, "extra_info": ["a", "", "c"]}, ("info.json:extra_info[1]", "empty")),
])
def test_bad_info_json(release: Path, change: Callable[[dict], dict], fragments: tuple[str, ...]) -> None:
    edit_json(release / "concept/train/ada/info.json", change)
    assert_fails(release, "concept/train/ada/", *fragments)


def test_t2i_conditions_missing_key(release: Path) -> None:
    edit_json(release / "concept/test/mug/t2i_conditions.json",
              lambda d: {k: v for k, v in d.items() if k != "dense_prompt_generation"})
    assert_fails(release, "concept/test/mug/t2i_conditions.json:dense_prompt_generation", "missing key")


def test_explicit_prompts_must_align_with_implicit_ones(release: Path) -> None:
    edit_json(release / "concept/test/mug/t2i_conditions.json",
              lambda d: {**d, "explicit_personalized_dense_prompt_generation": []})
    assert_fails(release, "explicit_personalized_dense_prompt_generation", "0 explicit prompts for 1 implicit")


def test_implicit_prompts_must_align_with_extra_info(release: Path) -> None:
    edit_json(release / "concept/test/mug/t2i_conditions.json", lambda d: {
        **d, "personalized_driven_generation": d["personalized_driven_generation"][:1],
        "explicit_personalized_driven_generation": d["explicit_personalized_driven_generation"][:1]})
    assert_fails(release, "personalized_driven_generation", "1 prompts for 2 extra_info entries")


@pytest.mark.parametrize(("fields", "fragment"), [
    ({"type": "caption"}, "without a type"),
    ({"conversations": [{"from": "human", "value": "Q"}]}, "'conversations'"),
    ({"conversations": [{"from": "human", "value": " "}, {"from": "gpt", "value": "A"}]}, "question is empty"),
])
def test_bad_test_data_item(release: Path, fields: dict, fragment: str) -> None:
    set_item(release / "test_data/mug.json", 1, **fields)
    assert_fails(release, "test_data/mug.json:[1]", fragment)


# --- leaks: one test per kind -------------------------------------------------------------------------

def test_held_out_entry_equal_to_a_training_entry(release: Path) -> None:
    edit_json(release / "concept/train/rex/info.json",
              lambda i: {**i, "extra_info": [i["extra_info"][2], i["extra_info"][1], i["extra_info"][2]]})
    assert_fails(release, "held-out leak", "text of held-out entry rex-x2 is also training entry rex-x0")


def test_held_out_implicit_prompt_in_another_task_input(release: Path) -> None:
    edit_json(release / "concept/test/ada/t2i_conditions.json", lambda d: {
        **d, "dense_prompt_generation": ["A photo of <ada> holding her lucky charm, at night, in the rain"]})
    assert_fails(release, "implicit prompt of held-out entry ada-x2 appears in the input of dense_gen item "
                          "dense_gen/ada/000")


def test_held_out_explicit_prompt_in_a_question(release: Path) -> None:
    set_item(release / "test_data/mug.json", 2, conversations=[
        {"from": "human", "value": "<image>\nDescribe: A photo of <mug> on an oak desk."},
        {"from": "gpt", "value": "Yes."}])
    assert_fails(release, "explicit prompt of held-out entry mug-x1 appears in the input of vqa item vqa/mug/000")


def test_held_out_explicit_prompt_in_a_rewrite_instruction(release: Path) -> None:
    # The answer of Rea. must not be given away in its own input (here through the extra_info list).
    edit_json(release / "concept/train/mug/info.json",
              lambda i: {**i, "extra_info": [i["extra_info"][0], "A photo of <mug> on an oak desk"]})
    assert_fails(release, "explicit prompt of held-out entry mug-x1 appears in the input of rea item rea/mug/000")


def test_held_out_text_in_a_question(release: Path) -> None:
    set_item(release / "test_data/ada.json", 3, conversations=[
        {"from": "human", "value": "<image>\n<ada>'s lucky charm is a silver coin. What is it made of?"},
        {"from": "gpt", "value": "Silver."}])
    assert_fails(release, "text of held-out entry ada-x2 appears in the input of qa item qa/ada/000")


def test_test_image_that_is_a_training_image(release: Path) -> None:
    shutil.copyfile(release / "concept/test/rex/10.png", release / "concept/train/rex/1.png")
    assert_fails(release, "concept/train/rex/1.png", "held-out leak", "training image of concept rex")


# --- output handling ----------------------------------------------------------------------------------

def test_output_that_is_not_a_build_is_not_replaced(release: Path, tmp_path: Path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(SourceError, match="not a UnifyBench\\+\\+ build"):
        unifybench_pp.build(release, out, SplitConfig(), quiet=True)
    assert (out / "notes.txt").read_text() == "keep me"


def test_failed_rebuild_keeps_the_previous_build(release: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    unifybench_pp.build(release, out, SplitConfig(), quiet=True)
    before = (out / "manifest.json").read_bytes()
    (release / "concept/train/ada/0.png").write_bytes(b"garbage")
    with pytest.raises(SourceError):
        unifybench_pp.build(release, out, SplitConfig(), quiet=True)
    assert (out / "manifest.json").read_bytes() == before


def test_cli_prints_one_line_and_exits_2_on_a_leak(release: Path) -> None:
    edit_json(release / "concept/test/ada/t2i_conditions.json", lambda d: {
        **d, "dense_prompt_generation": ["A photo of <ada> holding a silver coin, at night"]})
    out = release.parent / "out"
    result = subprocess.run([sys.executable, "-m", "cli", "build-dataset", "--source", str(release), "--out", str(out),
                             "--quiet"], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: concept/test/ada:dense_gen/ada/000: held-out leak: the explicit prompt")
    assert not out.exists()


def test_a_held_out_entry_of_punctuation_only_is_no_leak(release: Path, tmp_path: Path) -> None:
    """"..." normalizes to nothing, which every text contains: it used to be reported as leaking everywhere."""
    edit_json(release / "concept/train/ada/info.json",
              lambda info: {**info, "extra_info": [*info["extra_info"][:2], "..."]})
    bench = unifybench_pp.load(unifybench_pp.build(release, tmp_path / "out", quiet=True).out)
    assert [e.text for e in bench.extra_info if e.concept == "ada" and e.split == "heldout"] == ["..."]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to build as another user")
@pytest.mark.parametrize("unreadable", ["concept/train/ada/info.json", "concept/test/ada"])
def test_a_file_or_folder_the_user_cannot_read_is_one_line(unreadable: str) -> None:
    """Run as user 65534 (root reads everything): an unreadable info.json or photo folder is one line, exit 2."""
    import tempfile

    from bench.release_fixture import write_release

    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    probe = subprocess.run([*as_nobody, "-c", "import cli"], capture_output=True, text=True,
                           env={**env, "HOME": "/tmp"}, cwd="/tmp")
    if probe.returncode != 0:  # e.g. a checkout under a folder only root may enter
        pytest.skip(f"user 65534 cannot run this checkout's python: {probe.stderr.strip()[-200:]}")
    work = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        work.chmod(0o777)
        source = write_release(work / "release")
        for path in [source, *source.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        (source / unreadable).chmod(0)
        result = subprocess.run(
            [*as_nobody, "-m", "cli", "build-dataset", "--source", str(source), "--out", str(work / "out"), "-q"],
            capture_output=True, text=True, cwd=work, env={**env, "HOME": str(work)})
        [line] = result.stderr.strip().splitlines()
        assert result.returncode == 2 and line.startswith(f"error: {unreadable}"), result.stderr
        assert ("cannot be read: Permission denied" if unreadable.endswith(".json")
                else "cannot be listed: Permission denied") in line
        assert not (work / "out").exists()
    finally:
        shutil.rmtree(work)


@pytest.mark.parametrize(("value", "whole", "least", "expected"), [
    (3, True, 1, 3), (5, False, 0, 5), ("4", True, 1, 4), (4.0, True, 1, 4), (0.5, False, 0, 0.5),
    ("1e-1", False, 0, 0.1),
    (0, True, 1, None), (1.5, True, 1, None), ("abc", False, 0, None), (-1, False, 0, None), (float("nan"), False, 0,
    None), ("inf", False, 0, None), (True, True, 1, None), (None, False, 0, None),
])
def test_adapter_numbers_are_checked_before_a_run_starts(value: object, whole: bool, least: float,
                                                         expected: float | None) -> None:
    from baselines.base import ModelError, checked_number

    if expected is None:
        with pytest.raises(ModelError, match=f"x: n must be a {'whole ' if whole else ''}number >= {least:g}"):
            checked_number("x", "n", value, whole=whole, least=least)
    else:
        got = checked_number("x", "n", value, whole=whole, least=least)
        assert got == pytest.approx(expected) and isinstance(got, int) == (whole or isinstance(value, int))


def test_janus_and_bagel_numbers_are_checked_too() -> None:
    from baselines.bagel import BagelSampling
    from baselines.base import ModelError
    from baselines.registry import create

    with pytest.raises(ModelError, match="janus: temperature must be a number >= 0, not -1"):
        create("janus-tp", None, temperature=-1)
    with pytest.raises(ModelError, match="janus: prompt_batch must be a whole number >= 1, not 0"):
        create("janus-tp", None, prompt_batch=0)
    with pytest.raises(ModelError, match="bagel-tp: num_timesteps must be a whole number >= 1, not 0"):
        BagelSampling("tp", num_timesteps=0)
    with pytest.raises(ModelError, match="bagel-ip: cfg_text_scale must be a number >= 0, not 'abc'"):
        BagelSampling("ip", cfg_text_scale="abc")
    with pytest.raises(ModelError, match="multiples of 16, not 1000 x 1024"):
        BagelSampling("tp", height=1000)
    assert BagelSampling("tp", num_timesteps="25").num_timesteps == 25



@pytest.mark.parametrize(("model", "extra", "option", "says"), [
    ("emu3-tp", {"gen": "x"}, {"top_k": 0}, "emu3-tp: top_k must be a whole number >= 1, not 0"),
    ("omnigen-ip", {}, {"steps": "many"}, "omnigen-ip: steps must be a whole number >= 1, not 'many'"),
    ("diffusers-t2i", {"dreambooth": {"a": "x"}}, {"guidance_scale": -7.5},
     "diffusers-t2i: guidance_scale must be a number >= 0, not -7.5"),
    ("hf-vlm", {}, {"max_new_tokens": 1.5}, "hf-vlm-tp: max_new_tokens must be a whole number >= 1, not 1.5"),
    ("gpt-4o-tp", {}, {"concurrency": 0}, "gpt-4o-tp: concurrency must be a whole number >= 1, not 0"),
])
def test_every_adapter_checks_its_numbers_before_loading(model: str, extra: dict, option: dict, says: str) -> None:
    """A checkpoint that does not exist: the number is refused first, so nothing is loaded or downloaded."""
    from baselines.base import ModelError
    from baselines.registry import create

    with pytest.raises(ModelError, match=re.escape(says)):
        create(model, "/nonexistent", **extra, **option)


@pytest.mark.parametrize(("given", "says"), [
    ("org/name", "not in the local Hugging Face cache, and HF_HUB_OFFLINE is set"),
    ("/no/such/model", "no such file or folder"),
    ("./model", "no such file or folder"),
    ("runs/train/model", "no such file or folder"),
    ("runs\\train\\model", "no such file or folder"),
    ("~/models/showo", "a leading ~ is not expanded here"),
    ("FILE", "a file: give the folder that holds it"),
])
def test_missing_weights_say_what_the_path_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str,
                                               says: str) -> None:
    """A local path that names nothing must not be answered with the hub's rules for repository names."""
    from baselines.base import weights_not_found

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "weights.safetensors").write_bytes(b"")
    checkpoint = str(tmp_path / "weights.safetensors") if given == "FILE" else given
    message = str(weights_not_found("showo-tp", checkpoint, OSError("hub says: Repo id must use alphanumeric chars")))
    assert says in message and message.startswith(f"weights for showo-tp not found at {checkpoint!r}"), message
    assert message.endswith("pass --checkpoint PATH or a hub id")


def test_a_hub_id_with_the_hub_in_reach_keeps_the_loaders_reason_cut_at_a_word(monkeypatch: pytest.MonkeyPatch
                                                                               ) -> None:
    """The network is simulated (a connection that opens); the reason is the loader's first line, shortened."""
    import socket

    from baselines.base import weights_not_found
    from unifybench_pp import hub

    class Open:
        def close(self) -> None:
            pass

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", lambda *args, **kwargs: Open())
    hub._hub_unreachable.cache_clear()
    try:
        reason = "Cannot load model org/name: the model is not fully cached locally " * 4
        message = str(weights_not_found("omnigen-ip", "org/name", OSError(reason + "\nsecond line")))
    finally:
        hub._hub_unreachable.cache_clear()
    inner = message[message.index("(") + 1:message.rindex(")")]
    assert inner.startswith("Cannot load model org/name") and inner.endswith(" ...") and len(inner) <= 160
    assert reason.startswith(inner.removesuffix(" ...")) and reason[len(inner) - 4] == " "  # cut between words
    assert "second line" not in message


def test_an_unknown_adapter_option_is_named_with_the_nearest_and_all_known_ones() -> None:
    from baselines.base import ModelError
    from baselines.registry import create, option_names
    from baselines.showo.adapter import ShowoAdapter, syncr1

    with pytest.raises(ModelError) as raised:
        create("syncr1", "org/name", stpes=8)
    message = str(raised.value)
    known = option_names(syncr1)
    signature = inspect.signature(ShowoAdapter).parameters
    assert known == sorted(n for n, p in signature.items() if p.default is not p.empty and n != "device")
    assert message == f"syncr1: unknown option 'stpes' (did you mean 'steps'?); it takes {', '.join(known)}"
    with pytest.raises(ModelError, match="^janus-tp: option 'mode' is set by the adapter itself$"):
        create("janus-tp", "org/name", mode="ip")
    with pytest.raises(ModelError, match="^bagel-tp: option 'mode' is set by the adapter itself$"):
        create("bagel-tp", None, mode="ip")
    with pytest.raises(ModelError, match="^syncr1: unknown option 'resolution-x'; it takes concepts, "):
        create("syncr1", "org/name", **{"resolution-x": 1})  # a name the option parser takes, not an identifier


@pytest.mark.parametrize("setting", ["HF_ENDPOINT", "HTTPS_PROXY"])
def test_a_mirror_or_proxy_is_not_judged_by_a_direct_connection(monkeypatch: pytest.MonkeyPatch, setting: str
                                                                ) -> None:
    """Through a mirror or proxy the Hub may be reachable when huggingface.co itself is not (as here)."""
    from unifybench_pp import hub

    monkeypatch.setenv(setting, "http://127.0.0.1:9")
    hub._hub_unreachable.cache_clear()
    try:
        assert hub._hub_unreachable() is False
    finally:
        hub._hub_unreachable.cache_clear()


def test_a_config_yaml_that_is_not_utf8_is_no_concept_run(tmp_path: Path) -> None:
    from baselines.showo.bundle import RUN_CONFIG, is_concept_run

    (tmp_path / "ast").mkdir()
    (tmp_path / "ast" / RUN_CONFIG).write_bytes("concepts: [ast]\nrun_per_concept: true\n# caf\xe9\n".encode("latin-1"))
    assert is_concept_run(tmp_path / "ast") is False
    (tmp_path / "ast" / RUN_CONFIG).write_text("concepts: [ast]\nrun_per_concept: true\n")
    assert is_concept_run(tmp_path / "ast") is True
