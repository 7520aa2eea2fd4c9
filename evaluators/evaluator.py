"""One call from a model name to a scored run directory: what `ubpp evaluate` and the demo both go through.

The adapter registry supplies what a name implies (its leaderboard group,
size and display name, and the adapter options its protocol switches on);
the caller's own options win. Everything else is `EvalConfig`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from baselines.registry import adapters, create
from unifybench_pp.loader import Benchmark

from .runner import EvalConfig, EvalResult, run_evaluation
from .scoring import ScoringConfig


def evaluate_model(bench: Benchmark, model: str, checkpoint: str | None = None, options: dict[str, Any] | None = None,
                   scoring: ScoringConfig | None = None, device: str = "cpu",
                   on_task: Callable[[str, int], Callable[[int], None]] = lambda task, total: lambda n: None,
                   say: Callable[[str], None] = lambda message: None, **settings: Any) -> EvalResult:
    """Evaluate `model` on `bench` (resuming a finished or interrupted run); `settings` are EvalConfig fields."""
    scoring = scoring or ScoringConfig(device=device)
    spec = adapters().get(model)
    chosen = {**(spec.options_for(scoring.protocol) if spec else {}), **(options or {})}
    implied = {"model_type": spec.model_type, "model_size": spec.model_size,
               "display_name": spec.display_name or model} if spec else {"display_name": model}
    config = EvalConfig(model=model, checkpoint=checkpoint, options=chosen, device=device, scoring=scoring,
                        **{**implied, **settings})
    return run_evaluation(bench, create(model, checkpoint, device, **chosen), config, on_task, say=say)
