"""What the metrics and the training presets' rewards need, grouped by need, and whether each is here.

The data behind `ubpp doctor`: evaluators know the metrics' needs, training the
rewards'; this is the one place that sees both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evaluators.availability import Availability, check
from evaluators.metrics import METRICS
from evaluators.scoring_config import ScoringConfig

from .config import PRESETS, load_config
from .rewards import REWARDS, scoring_config, training_option


@dataclass
class Requirement:
    status: Availability
    metrics: list[str] = field(default_factory=list)
    rewards: list[str] = field(default_factory=list)
    """`<reward> (<preset>)` for every preset that uses it (as a reward or as the DGS surrogate)."""


@dataclass
class Report:
    requirements: list[Requirement]
    missing_metrics: list[str]
    missing_rewards: dict[str, dict[str, str]]
    """Preset -> the rewards (and surrogate) it lacks here -> how to enable each in training's own words (`--set
    rewards.X=`; the table's rows speak for the metrics, in evaluate's options)."""


def _preset_rewards(preset: str) -> tuple[list[str], ScoringConfig]:
    settings = load_config(None, preset)
    names = list(dict.fromkeys([*settings.rewards.weights, settings.dgs.surrogate]))
    return names, scoring_config(settings.rewards)


def requirements(scoring: ScoringConfig) -> Report:
    """Metrics are checked with `scoring` (the evaluate options); rewards with each preset's own model settings."""
    by_need: dict[str, Requirement] = {}
    for name, spec in METRICS.items():
        need = spec.needs
        if need not in by_need:
            by_need[need] = Requirement(check(need, scoring))
        by_need[need].metrics.append(name if spec.table1 else f"{name} (suppl.)")
    missing_metrics = [m for r in by_need.values() if not r.status.available for m in r.metrics]
    missing_rewards: dict[str, dict[str, str]] = {}
    for preset in PRESETS:
        names, reward_scoring = _preset_rewards(preset)
        missing_rewards[preset] = {}
        for name in names:
            need = REWARDS[name].needs
            if need is None:  # computed from the text alone
                continue
            status = check(need, reward_scoring, training_option)
            by_need.setdefault(need, Requirement(status)).rewards.append(f"{name} ({preset})")
            if not status.available:
                missing_rewards[preset][name] = status.enable
    return Report(list(by_need.values()), missing_metrics, missing_rewards)
