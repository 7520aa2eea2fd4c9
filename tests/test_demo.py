"""`ubpp demo` end to end (with a shortened training), and that a second run resumes instead of redoing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console
from safetensors.torch import load_file

from embedded_demo import run_demo
from tests.training_settings import FAST
from training.pretrain_tiny import ASSET
from training.sft import ConceptSFTConfig

QUICK = {"train_overrides": ["steps=2", *FAST], "sft": ConceptSFTConfig(steps=2, views_per_photo=2)}


def test_every_demo_stage_hands_its_output_to_the_next(tmp_path: Path) -> None:
    """The stages' wiring (concept tokens -> Sync-R1's start -> five evaluations -> the page) on one item per task;
    the full demo is the slow test below."""
    console = Console(file=open(tmp_path / "log.txt", "w"), width=120)  # noqa: SIM115
    result = run_demo(tmp_path / "demo", console, train_overrides=["steps=1", *FAST],
                      sft=ConceptSFTConfig(steps=1, views_per_photo=1), limit=1)
    assert set(result.runs) == {"syncr1", "unictokens", "showo-tp", "real-images", "always-yes"}
    assert all(run.predicted > 0 for run in result.runs.values())
    assert result.runs["syncr1"].info.compared_with == "UniCTokens (tiny, demo)"
    weights = load_file(ASSET / "showo" / "model.safetensors")  # the tiny rows' size: their parameter count
    size = f"{sum(t.numel() for t in weights.values()) / 1e3:.1f}K"  # some 200K: thousands, with their digits
    assert [result.runs[m].info.model_size for m in ("syncr1", "unictokens", "showo-tp")] == [size] * 3
    assert Path(result.runs["unictokens"].info.checkpoint) == tmp_path / "demo" / "sft" / "model"
    start = tmp_path / "demo" / "sft" / "model" / "concepts"
    assert f"concept_init: {start}" in (tmp_path / "demo" / "train" / "chelsea" / "config.yaml").read_text()
    page = result.site.read_text()
    for name in ("Sync-R1 (tiny, demo)", "UniCTokens (tiny, demo)", "Show-o+TP (tiny, demo)"):
        assert name in page, name
    log = " ".join((tmp_path / "log.txt").read_text().split())
    # one item per task is one concept: no paired test, and the demo says so rather than counting zero of zero
    assert ("Sync-R1 (tiny, demo) vs UniCTokens (tiny, demo): no column has two concepts both runs scored: nothing "
            "to test") in log


@pytest.mark.slow  # over 20 s: several processes or a whole run (pytest -m slow)
def test_demo_builds_trains_evaluates_and_publishes_then_resumes(tmp_path: Path) -> None:
    console = Console(file=open(tmp_path / "log.txt", "w"), width=120)  # noqa: SIM115
    result = run_demo(tmp_path / "demo", console, **QUICK)
    assert (tmp_path / "demo" / "sft" / "model" / "concepts" / "chelsea.safetensors").is_file()
    assert (tmp_path / "demo" / "train" / "chelsea" / "model" / "concepts" / "chelsea.safetensors").is_file()
    assert set(result.runs) == {"syncr1", "unictokens", "showo-tp", "real-images", "always-yes"}
    assert all(run.predicted > 0 and run.results for run in result.runs.values())
    page = result.site.read_text()
    for name in ("Sync-R1 (tiny, demo)", "UniCTokens (tiny, demo)", "Show-o+TP (tiny, demo)", "Real Images (mini)",
                 "always-yes"):
        assert re.search(re.escape(name) + r".{0,400}measured", page, re.S), name
    assert page.count("reported</span>") >= 10  # the paper's Table 1 rows are there too
    supplementary = page[page.index("Supplementary metrics"):]
    assert "Colour (stand-in)" in supplementary and "SSIM (stand-in)" in supplementary
    assert "Sync-R1 (tiny, demo)" in supplementary and "reported</span>" not in supplementary.split("</table>")[0]
    again = run_demo(tmp_path / "demo", console, **QUICK)
    assert all(run.predicted == 0 and run.skipped > 0 for run in again.runs.values())
    log = (tmp_path / "log.txt").read_text()
    assert "reusing" in log and "mean reward" in log
    assert re.search(r"Sync-R1 \(tiny, demo\) vs UniCTokens \(tiny, demo\): columns with p < 0\.05: \d+ of 1[45], "
                     r"where chance alone gives 0\.\d\d;.*? "
                     r"\(per column: ubpp compare \S+/syncr1/\S+ \S+/unictokens/\S+\)",
                     " ".join(log.split()))
