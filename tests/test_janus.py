"""`janus-tp` / `janus-ip` on a tiny random Janus saved and loaded back through `from_pretrained`: the harness's
prompts string for string, its sampling loop token for token, and every task end to end through `ubpp evaluate`.

The expected prompts are written here from the harness's own definitions (`chawuciren11/Sync-R1`,
`evaluation/common.py` `build_tp_prefix_text` / `build_ip_prefix_text`, `adapters/external_baseline.py`
`_apply_tp_prefix`, `adapters/janus_base.py` `_build_conversation`, `_prepare_generation_prompt`,
`_run_generation_batch`, and Janus's DeepSeek SFT format: system, "\\n\\n", "<|User|>: ", content, "\\n\\n",
"<|Assistant|>:"), independently of the adapter's helpers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import unifybench_pp
from baselines.base import GenerateRequest, UnderstandRequest, size_label
from baselines.harness_seeds import stable_seed
from baselines.registry import create
from bench.janus_reference import harness_image
from cli import app

from .run_fixtures import every_task_predicted
from .tiny_models import make_tiny_janus

SYSTEM = ("You are a helpful language and vision assistant. You are able to understand the visual content that the "
          "user provides, and assist the user with a variety of tasks using natural language.")


@pytest.fixture(scope="module")
def tiny_janus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_janus(tmp_path_factory.mktemp("janus") / "tiny")


def model(mode: str, checkpoint: Path):
    return create(f"janus-{mode}", str(checkpoint))


def photos(bench, concept_id: str) -> list[Path]:
    return [bench.image_path(p) for p in bench.concepts[concept_id].train_images]


def personalized(janus, bench, concept_id: str):
    concept = bench.concepts[concept_id]
    janus.personalize(concept, photos(bench, concept_id))
    return concept


def test_understanding_prompts_are_the_harness_s(tiny_janus: Path, bench: unifybench_pp.Benchmark) -> None:
    rec = bench.tasks["rec"][0]
    rea = bench.tasks["rea"][0]
    for mode in ("tp", "ip"):
        janus = model(mode, tiny_janus)
        concept = personalized(janus, bench, rec.concept)
        for item in (rec, rea):
            request = UnderstandRequest(item.id, "rea" if item is rea else "rec", concept, item.question,
                                        bench.image_path(item.image))
            prompt, images = janus.understanding_input(request)
            shown = 0 if item is rea else 1  # the black image of Rea. is not shown
            if mode == "tp":
                text = f"name: {concept.id}\ninfo: {concept.info}\n{request.prompt}"
            else:
                shown += 1  # the first training photo comes first
                text = f"a photo of {concept.id}\n{request.prompt.strip()}"
            content = "\n".join(["<image_placeholder>"] * shown + [text.strip()])
            assert prompt == f"{SYSTEM}\n\n<|User|>: {content}\n\n<|Assistant|>:"
            assert len(images) == shown


def test_generation_prompts_are_the_harness_s(tiny_janus: Path, bench: unifybench_pp.Benchmark) -> None:
    item = bench.tasks["pure_gen"][0]
    tp, ip = model("tp", tiny_janus), model("ip", tiny_janus)
    concept = personalized(tp, bench, item.concept)
    personalized(ip, bench, item.concept)
    bare = item.prompt.replace(concept.token, concept.id)  # the harness's Pure Gen. templates name it bare
    request = GenerateRequest(item.id, "pure_gen", concept, item.prompt)
    assert tp.generation_prompt(request) == \
        f"<|User|>: name: {concept.id}\ninfo: {concept.info}\n{bare}\n\n<|Assistant|>:"
    caption = ip._caption(item.concept)
    assert ip.generation_prompt(request) == (f"<|User|>: a photo of {concept.id}\n{bare}\nReference appearance "
                                             f"details: {caption.strip()}\n\n<|Assistant|>:")
    dense = bench.tasks["dense_gen"][0]
    request = GenerateRequest(dense.id, "dense_gen", concept, dense.prompt)
    assert concept.token in dense.prompt and concept.token in tp.generation_prompt(request)  # kept as written


def test_images_follow_the_harness_s_loop_token_for_token(tiny_janus: Path, bench: unifybench_pp.Benchmark) -> None:
    """CFG 4.0 on raw logits with pad-filled unconditional rows, temperature 1.0, no top-k (transformers' default
    top_k=50 would cut the 64-code tiny codebook), the harness's image seed: the same tokens as its loop."""
    janus = model("tp", tiny_janus)
    with torch.no_grad():  # peaked logits, so that a wrong input or guidance changes the samples
        for weight in janus.model.model.generation_head.parameters():
            weight.mul_(8)
    item = bench.tasks["dense_gen"][0]
    concept = personalized(janus, bench, item.concept)
    request = GenerateRequest(item.id, "dense_gen", concept, item.prompt, seed=janus.request_seed(3407, "dense_gen",
                                                                                                  concept.id, item.id))
    expected = harness_image(janus, janus.generation_prompt(request), stable_seed(request.seed, "janus_image_batch", 0))
    image = janus.generate([request])[0]
    assert np.array_equal(np.asarray(image), expected)
    other = GenerateRequest(item.id, "dense_gen", concept, item.prompt, seed=request.seed + 1)
    assert not np.array_equal(np.asarray(janus.generate([other])[0]), expected)  # sampled: the seed matters
    assert janus.recipe["top_k"] is None and janus.recipe["cfg"] == 4.0 and janus.recipe["temperature"] == 1.0


def test_every_task_end_to_end_with_the_recipe_recorded(tiny_janus: Path, mini_build: Path, tmp_path: Path) -> None:
    for mode in ("tp", "ip"):
        result = CliRunner().invoke(app, ["evaluate", "--model", f"janus-{mode}", "--checkpoint", str(tiny_janus),
                                          "--benchmark", str(mini_build), "--limit", "1", "--runs-dir",
                                          str(tmp_path / "runs"), "--judge-cache", str(tmp_path / "j.sqlite")])
        assert result.exit_code == 0, (result.stderr, result.exception)
        [run] = (tmp_path / "runs" / f"janus-{mode}").glob("*/*/run.json")
        info = json.loads(run.read_text())
        assert info["recipe"]["cfg"] == 4.0 and info["recipe"]["resolution"] == 32
        assert re.fullmatch(r"\d{3}\.\dK", info["model_size"])  # the adapter's count for its tiny checkpoint
        assert "sampling: " in result.stdout and "cfg 4.0" in result.stdout
        every_task_predicted(run.parent, image_size=(32, 32))
    site = CliRunner().invoke(app, ["leaderboard", str(tmp_path / "runs"), "--out", str(tmp_path / "site")])
    assert site.exit_code == 0, site.stderr
    page = (tmp_path / "site" / "index.html").read_text()
    assert "Janus-Pro+IP; sampling: answers harness; batching one request at a time; cfg 4.0;" in page


def test_a_missing_checkpoint_is_one_line(tmp_path: Path) -> None:
    from baselines.base import ModelError

    with pytest.raises(ModelError, match="weights for janus not found"):
        create("janus-tp", str(tmp_path / "nothing"))


def test_a_long_answer_to_a_short_prompt_is_cut_as_the_harness_cuts_it(tiny_janus: Path,
                                                                        bench: unifybench_pp.Benchmark) -> None:
    """The harness gets only the new tokens back and drops the first prompt-length of them when there are more;
    `answers=whole` (strict) keeps them all. A text-only prompt of L tokens and an answer of 3L tokens: the
    harness's answer is the whole answer's last 2L tokens."""
    harness, whole = model("tp", tiny_janus), create("janus-tp", str(tiny_janus), answers="whole")
    tokenizer = whole.processor.tokenizer
    prompt = "<|User|>: hi\n\n<|Assistant|>:"
    length = len(tokenizer(prompt)["input_ids"])
    full = whole._chat(prompt, [], max_new_tokens=3 * length)
    cut = harness._chat(prompt, [], max_new_tokens=3 * length)
    ids = whole.model.generate(**whole.processor(text=[prompt], return_tensors="pt"), max_new_tokens=3 * length,
                               do_sample=False)[0, length:]
    assert len(ids) > length
    assert full == tokenizer.decode(ids, skip_special_tokens=True).strip()
    assert cut == tokenizer.decode(ids[length:], skip_special_tokens=True).strip() and cut != full


@pytest.mark.parametrize("fmt", ["dreambench", "yollava", "mcllava"])
def test_janus_runs_on_table_5_builds(fmt: str, tiny_janus: Path, tmp_path: Path) -> None:
    from .table5_fixtures import write_dreambench, write_mcllava, write_yollava

    writer = {"dreambench": write_dreambench, "yollava": write_yollava, "mcllava": write_mcllava}[fmt]
    runner = CliRunner()
    built = runner.invoke(app, ["build-dataset", "--source", str(writer(tmp_path / "src")), "--format", fmt,
                                "--out", str(tmp_path / "bench"), "-q"])
    assert built.exit_code == 0, built.stderr
    result = runner.invoke(app, ["evaluate", "--model", "janus-ip", "--checkpoint", str(tiny_janus), "--benchmark",
                                 str(tmp_path / "bench"), "--limit", "1", "--runs-dir", str(tmp_path / "runs"),
                                 "--judge-cache", str(tmp_path / "j.sqlite")])
    assert result.exit_code == 0, (result.stderr, result.exception)
    tasks = unifybench_pp.load(tmp_path / "bench").tasks
    [log] = (tmp_path / "runs").rglob("predictions.jsonl")
    predicted = {json.loads(line)["task"] for line in log.read_text().splitlines()}
    assert predicted == {task for task, items in tasks.items() if items}


def test_prompt_batches_trade_the_harness_s_seeds_for_speed_and_say_so(tiny_janus: Path,
                                                                       bench: unifybench_pp.Benchmark) -> None:
    batched = create("janus-tp", str(tiny_janus), prompt_batch=3)
    one_by_one = model("tp", tiny_janus)
    items = bench.tasks["dense_gen"][:3]
    concept = personalized(batched, bench, items[0].concept)
    requests = [GenerateRequest(i.id, "dense_gen", bench.concepts[i.concept], i.prompt, seed=100 + k)
                for k, i in enumerate(items)]
    first, again = batched.generate(requests), batched.generate(requests)
    assert [np.asarray(a).tolist() for a in first] == [np.asarray(b).tolist() for b in again]  # deterministic
    assert len(first) == 3 and all(image.size == (32, 32) for image in first)
    alone = one_by_one.generate(requests[:1])[0]  # the harness's image of the first request
    assert np.array_equal(np.asarray(batched.generate(requests[:1])[0]), np.asarray(alone))
    assert "3 prompts per call" in batched.recipe["batching"] and concept.id == items[0].concept


def test_left_padded_prompt_batches_condition_each_image_on_its_own_prompt(tiny_janus: Path,
                                                                           bench: unifybench_pp.Benchmark) -> None:
    """Greedy (temperature 0), so no random stream is shared: prompts of different lengths give the same images
    in one left-padded batch as one by one (masks and positions right)."""
    alone = create("janus-tp", str(tiny_janus), temperature=0.0)
    batched = create("janus-tp", str(tiny_janus), temperature=0.0, prompt_batch=3)
    items = bench.tasks["dense_gen"][:2] + bench.tasks["pure_gen"][:1]
    requests = [GenerateRequest(i.id, t, bench.concepts[i.concept], i.prompt, seed=5)
                for i, t in zip(items, ("dense_gen", "dense_gen", "pure_gen"))]
    lengths = {len(alone.generation_prompt(r)) for r in requests}
    assert len(lengths) == 3  # really padded
    for one, many in zip(alone.generate(requests), batched.generate(requests)):
        assert np.array_equal(np.asarray(one), np.asarray(many))


def test_the_row_shows_the_size_the_checkpoint_is_named_by(tiny_janus: Path) -> None:
    from baselines.janus import checkpoint_size

    janus = model("tp", tiny_janus)
    assert checkpoint_size("deepseek-community/Janus-Pro-7B", janus.model) == "7B"
    assert checkpoint_size("/ckpt/janus-pro-1b", janus.model) == "1B"
    count = sum(p.numel() for p in janus.model.parameters())
    assert janus.size == size_label(count)  # "tiny" names no size: the parameter count


@pytest.mark.parametrize(("count", "label"), [(1_448_200_000, "1.4B"), (999_960_000, "1.0B"), (350_000_000, "350.0M"),
                                              (212_992, "213.0K"), (45_123, "45.1K"), (999, "1.0K"), (949, "949"),
                                              (0, "0")])
def test_a_size_label_keeps_its_digits_at_every_scale(count: int, label: str) -> None:
    assert size_label(count) == label
    assert re.fullmatch(r"\d+(\.\d+)?[KMBT]?", label)  # what --model-size accepts
