"""Dynamic Group Scaling: screen candidates at an early denoising step, keep K, finish only those.

`screen` is the bounded selection loop (the authors' code resamples without a
budget until one candidate passes; here a budget ends it and the top K by
surrogate are kept). The two threshold controllers keep the pass rate near a
target as the policy drifts. `selected_variance` is the theory the paper
states (Theorem 3.1's ingredient): the reward variance left after selecting
on a correlated surrogate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from scipy.stats import norm

if TYPE_CHECKING:
    from .config import DGSConfig


def inverse_mills(alpha: float) -> float:
    """λ(α) = φ(α) / (1 - Φ(α)), computed stably in the tail."""
    return math.exp(norm.logpdf(alpha) - norm.logsf(alpha))


def selected_variance(sigma: float, rho: float, alpha: float) -> float:
    """Var(R | Ŝ > α) for (R, Ŝ) bivariate normal with Var R = σ², correlation ρ, Ŝ standardized."""
    lam = inverse_mills(alpha)
    return sigma**2 * (1 - rho**2 * lam * (lam - alpha))


@dataclass
class Screening:
    kept: list[int]
    """Indices (in screening order) of the candidates to finish."""
    scores: list[float]
    passed: int
    screened: int

    @property
    def pass_rate(self) -> float:
        return self.passed / self.screened if self.screened else 0.0


def screen(draw: Callable[[int, int], Sequence[float]], keep: int, budget: int, batch_size: int,
           threshold: float) -> Screening:
    """Draw candidates in batches (`draw(first_index, count)` -> surrogate scores) until `keep` pass or `budget` is
    spent.

    Passing candidates are kept in the order drawn; when fewer than `keep`
    pass, the rest are the best of the others by surrogate. Never loops past
    the budget.
    """
    if budget < keep or keep < 1 or batch_size < 1:
        raise ValueError(f"need 1 <= keep <= budget and a positive batch, got keep={keep} budget={budget}")
    scores: list[float] = []
    passing: list[int] = []
    while len(passing) < keep and len(scores) < budget:
        count = min(batch_size, budget - len(scores))
        new = [float(s) for s in draw(len(scores), count)]
        if len(new) != count:
            raise ValueError(f"draw returned {len(new)} scores for {count} candidates")
        passing += [len(scores) + k for k, s in enumerate(new) if s > threshold]
        scores += new
    kept = passing[:keep]
    if len(kept) < keep:
        others = sorted((i for i in range(len(scores)) if i not in set(kept)), key=lambda i: -scores[i])
        kept += others[: keep - len(kept)]
    return Screening(kept, scores, len(passing), len(scores))


class ThresholdController(Protocol):
    tau: float

    def update(self, pass_rate: float) -> float: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


MIN_TAU = 1e-6
"""The trend controller's floor: τ is a positive scale it multiplies (at or below 0 its updates would reverse)."""


@dataclass
class TrendController:
    """τ_{k+1} = τ_k · exp(g_k · m_k), m_k = μ m_{k-1} + (1 - μ) e_k, e_k = p_k - p*,
    g_k = η γ when the momentum's sign conflicts with the new error (γ < 1 damps), η otherwise.

    A zero momentum (the first update) counts as no conflict. Locally stable
    when 0 < η τ* f(τ*) < 2, f the surrogate's density at the equilibrium.
    The update works in log space, so τ must start positive; it never goes
    below MIN_TAU (a surrogate scoring at or below 0 needs the `unictokens`
    controller, which moves additively).
    """

    tau: float
    target: float
    eta: float = 0.12
    mu: float = 0.8
    gamma: float = 0.25
    momentum: float = 0.0

    def __post_init__(self) -> None:
        if not self.tau > 0:
            raise ValueError(f"the trend controller needs a positive initial threshold, not {self.tau}")

    def update(self, pass_rate: float) -> float:
        error = pass_rate - self.target
        conflict = self.momentum != 0 and error != 0 and math.copysign(1, self.momentum) != math.copysign(1, error)
        gain = self.eta * (self.gamma if conflict else 1.0)
        self.momentum = self.mu * self.momentum + (1 - self.mu) * error
        self.tau = max(MIN_TAU, self.tau * math.exp(gain * self.momentum))
        return self.tau

    def state_dict(self) -> dict[str, Any]:
        return {"tau": self.tau, "momentum": self.momentum}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tau, self.momentum = float(state["tau"]), float(state["momentum"])


@dataclass
class UniCTokensController:
    """The authors' rule (Sync-R1 `grpo.py`): propose τ^(1 + 0.12 (p* - p)); move τ by exactly ±0.005 when the
    proposal lies more than 0.005 above or below τ, and not at all otherwise (a dead zone). They start at
    τ = 0.5 with p* = 0.25."""

    tau: float = 0.5
    target: float = 0.25
    gain: float = 0.12
    step: float = 0.005

    def update(self, pass_rate: float) -> float:
        change = self.tau ** (1 + self.gain * (self.target - pass_rate)) - self.tau
        if change > self.step:
            self.tau += self.step
        elif change < -self.step:
            self.tau -= self.step
        return self.tau

    def state_dict(self) -> dict[str, Any]:
        return {"tau": self.tau}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tau = float(state["tau"])


DEFAULT_TARGETS = {"trend": 0.5, "unictokens": 0.25}
"""Target pass rate per controller when none is set: the paper's trend controller 0.5, the authors' code 0.25."""


def make_controller(settings: DGSConfig) -> ThresholdController:
    """A fresh controller as the settings ask (one per trained concept: each concept's pass rate differs)."""
    if settings.controller not in DEFAULT_TARGETS:
        raise ValueError(f"unknown threshold controller {settings.controller!r}; choose trend or unictokens")
    target = DEFAULT_TARGETS[settings.controller] if settings.target_pass_rate is None else settings.target_pass_rate
    if settings.controller == "trend":
        return TrendController(settings.initial_threshold, target, settings.eta, settings.mu, settings.gamma)
    return UniCTokensController(settings.initial_threshold, target)
