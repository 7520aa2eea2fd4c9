"""The validation probe's split: what it holds back never reaches a run, and its prompts ask about exactly that."""

from __future__ import annotations

from pathlib import Path

import unifybench_pp
from bench.preset_probe import hold_back, validation_prompts
from training.data import training_views
from training.rollout import PromptSchedule


def test_the_held_back_fact_and_photo_reach_no_run_and_every_validation_prompt_asks_about_one(
        mini_build: Path, tmp_path: Path) -> None:
    full = unifybench_pp.load(mini_build)
    held = hold_back(mini_build, tmp_path / "held-back")
    reduced = unifybench_pp.load(tmp_path / "held-back")
    assert set(held) == set(full.concepts)
    for concept, (fact_id, photo) in held.items():
        view = training_views(reduced)[concept]
        assert fact_id not in {f.id for f in view.facts} and reduced.image_path(photo) not in view.images
        assert len(view.facts) == len(training_views(full)[concept].facts) - 1
        assert len(view.images) == len(training_views(full)[concept].images) - 1
        fact = next(x for x in full.extra_info if x.id == fact_id)
        schedule = PromptSchedule(reduced, [concept], 0, 0.5)  # what a run of the probe trains on
        trained = [schedule.prompt(k) for k in range(200)]
        assert all(fact.text not in p.question and fact.implicit_prompt != p.base_prompt for p in trained)
        assert all(p.image is None or p.image.name != Path(photo).name for p in trained)
        asked = validation_prompts(full, concept, fact_id, photo, 12)
        assert len(asked) == 12
        assert all(p.base_prompt == fact.implicit_prompt or p.image == full.image_path(photo) for p in asked)
        assert {p.pathway for p in asked} == {"textual", "visual"}
        textual = next(p for p in asked if p.pathway == "textual")
        assert fact.text in textual.question and textual.truth[textual.candidates.index(fact.text)] == 1.0
