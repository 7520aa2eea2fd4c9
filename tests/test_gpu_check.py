"""The prepared GPU check (issue 29): its whole path runs on a CPU at toy width, and its prediction is --plan's."""

from __future__ import annotations

import json
from pathlib import Path

from baselines.showo.model import ShowoConfig, tiny_llm_config
from baselines.showo.pipeline import ShowoPipeline
from bench.gpu_check import SMALL, SMALL_MAGVIT, random_base, run_check
from training.config import load_config
from training.memory import GB, MEASURED, SHOWO_512, piece_cost
from training.plan import architecture, make_plan


def test_a_local_base_of_show_o_512_s_shape_is_predicted_as_the_release(tmp_path: Path) -> None:
    """The check trains a random Show-o 512 from a folder: its plan must be the released base's (the measured
    piece costs, no probe), whatever the folder's token ids."""
    llm = tiny_llm_config(SHOWO_512.hidden, SHOWO_512.layers, SHOWO_512.heads)
    llm["intermediate_size"] = SHOWO_512.mlp
    config = ShowoConfig(vocab_size=SHOWO_512.vocab.size, llm_vocab_size=50295, codebook_size=8192,
                         num_vq_tokens=1024, llm_config=llm)
    (tmp_path / "showo").mkdir()
    (tmp_path / "showo" / "config.json").write_text(json.dumps(config.to_json()))  # all a plan reads
    common = ["benchmark=/nowhere", "concepts=[coffee]"]
    local = make_plan(load_config(preset="paper", overrides=[*common, f"showo={tmp_path / 'showo'}",
                                                             f"magvit={tmp_path}"]), processes=1)
    release = make_plan(load_config(preset="paper", overrides=common), processes=1)
    assert local.peak == release.peak and 30 * GB < release.peak < 80 * GB
    arch, _ = architecture(load_config(preset="paper", overrides=[f"showo={tmp_path / 'showo'}"]))
    assert arch != SHOWO_512  # other token ids ...
    assert piece_cost(arch, 5.0, "bf16") is MEASURED[(SHOWO_512, 5.0, "bf16")]  # ... same measured costs, no probe


def test_the_random_base_loads_through_the_real_loader_with_show_o_s_vocabulary(tmp_path: Path) -> None:
    showo, magvit = random_base(tmp_path, SMALL, SMALL_MAGVIT)
    pipe = ShowoPipeline.from_pretrained(str(showo), str(magvit))
    assert len(pipe.tokenizer) == 50305 and pipe.model.config.vocab_size == SHOWO_512.vocab.size
    assert pipe.image_size == 4 * 8  # MAGVIT's downsampling x the side of 64 image tokens


def test_the_check_runs_its_whole_path_on_a_cpu(tmp_path: Path) -> None:
    """Training steps of the paper preset through `ubpp train`'s code, the plan beside them, and the sampler against
    the official loop (identical tokens in float32); no GPU, so no peak is claimed."""
    report = run_check(tmp_path, small=True, steps=1, sampler_steps=1, overrides=[
        "generation_steps=2", "group_size=3", "dgs.screen_batch=3", "reasoning_max_new_tokens=8"])
    training = report["training"]
    assert training["steps"] == 1 and len(training["seconds_per_step"]) == 1 and not training["missing"]
    assert training["measured_peak_allocated_gb"] is None and training["predicted_peak_gb"] > 0
    assert training["plan"]["optimizer steps"] == "1"
    assert (tmp_path / "run" / "model").is_dir() and (tmp_path / "gpu_check.json").is_file()
    assert [row["image_tokens"] for row in report["sampler"]] == [256, 1024]
    assert all(row["identical_tokens"] for row in report["sampler"])
