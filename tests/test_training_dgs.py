"""Dynamic Group Scaling: the variance formula by simulation, the bounded screen, and the threshold controllers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from training.config import DGSConfig, load_config
from training.dgs import (
    MIN_TAU,
    TrendController,
    UniCTokensController,
    inverse_mills,
    make_controller,
    screen,
    selected_variance,
)


def test_inverse_mills_known_values() -> None:
    assert inverse_mills(0.0) == pytest.approx(math.sqrt(2 / math.pi))  # φ(0) / (1 - Φ(0))
    assert inverse_mills(1.0) == pytest.approx(norm.pdf(1.0) / norm.sf(1.0))
    assert inverse_mills(30.0) == pytest.approx(30.0, rel=2e-3)  # λ(α) ~ α in the far tail, no overflow


@pytest.mark.parametrize(("rho", "alpha"), [(0.0, 0.5), (0.6, -0.5), (0.8, 0.8), (0.95, 1.5)])
def test_selected_variance_matches_a_bivariate_normal_simulation(rho: float, alpha: float) -> None:
    rng = np.random.default_rng(7)
    sigma, n = 1.7, 1_000_000
    surrogate = rng.standard_normal(n)
    reward = sigma * (rho * surrogate + math.sqrt(1 - rho**2) * rng.standard_normal(n))
    kept = reward[surrogate > alpha]
    expected = selected_variance(sigma, rho, alpha)
    # standard error of a sample variance ~ var * sqrt(2 / (n - 1)) for near-normal data; allow 5 of them
    tolerance = 5 * expected * math.sqrt(2 / (len(kept) - 1)) + 1e-9
    assert abs(kept.var(ddof=1) - expected) < tolerance
    assert expected <= sigma**2 + 1e-12


def test_screening_keeps_rewards_with_the_predicted_variance() -> None:
    """Through `screen` itself: groups of K kept by a threshold on a correlated surrogate."""
    rng = np.random.default_rng(3)
    sigma, rho, alpha, keep = 1.0, 0.8, 0.6, 4
    kept_rewards = []
    for _ in range(4000):
        surrogate, noise = rng.standard_normal(64), rng.standard_normal(64)
        reward = sigma * (rho * surrogate + math.sqrt(1 - rho**2) * noise)
        result = screen(lambda first, count, s=surrogate: s[first : first + count], keep, 64, 8, alpha)
        assert result.passed >= keep
        kept_rewards.extend(reward[result.kept])
    kept_rewards = np.array(kept_rewards)
    expected = selected_variance(sigma, rho, alpha)
    assert abs(kept_rewards.var(ddof=1) - expected) < 5 * expected * math.sqrt(2 / len(kept_rewards))
    assert kept_rewards.var() < 0.7 * sigma**2  # the point of DGS: less variance than unselected sampling


def test_screen_is_bounded_and_falls_back_to_the_top_k() -> None:
    calls = []

    def never_passes(first: int, count: int) -> list[float]:
        calls.append((first, count))
        return [0.1 * ((first + k) % 7) for k in range(count)]  # all below the threshold 1.0

    result = screen(never_passes, keep=3, budget=10, batch_size=4, threshold=1.0)
    assert calls == [(0, 4), (4, 4), (8, 2)] and result.screened == 10 and result.passed == 0
    assert result.kept == [6, 5, 4]  # scores 0, .1, ... .6, 0, .1, .2: the best three, best first

    early = screen(lambda first, count: [2.0] * count, keep=3, budget=100, batch_size=4, threshold=1.0)
    assert early.screened == 4 and early.kept == [0, 1, 2] and early.pass_rate == 1.0
    with pytest.raises(ValueError):
        screen(never_passes, keep=5, budget=4, batch_size=2, threshold=0.0)


def _run(controller, pass_rate_at, iterations: int) -> list[float]:
    taus = []
    for k in range(iterations):
        controller.update(pass_rate_at(k, controller.tau))
        taus.append(controller.tau)
    return taus


def test_trend_controller_tracks_the_target_on_a_drifting_reward_distribution() -> None:
    rng = np.random.default_rng(0)
    target = 0.3

    def observed(k: int, tau: float) -> float:  # 64 candidates screened; the surrogate's mean drifts up
        scores = rng.normal(0.3 + 0.0015 * k, 0.05, size=64)
        return float((scores > tau).mean())

    controller = TrendController(tau=0.5, target=target, eta=0.5, mu=0.8, gamma=0.25)
    taus = _run(controller, observed, 400)
    rates = [float(norm.sf(tau, 0.3 + 0.0015 * k, 0.05)) for k, tau in enumerate(taus)]
    assert abs(np.mean(rates[150:]) - target) < 0.06
    assert taus[-1] > taus[150] + 0.2  # the threshold followed the drift


def _deterministic_gain(gain: float) -> tuple[TrendController, float, callable]:
    """A controller whose linearized gain η τ* f(τ*) equals `gain` (no momentum, no damping)."""
    mean, sd, target = 1.0, 0.2, 0.5
    tau_star = norm.isf(target, mean, sd)
    eta = gain / (tau_star * norm.pdf(tau_star, mean, sd))
    controller = TrendController(tau=tau_star * 1.05, target=target, eta=eta, mu=0.0, gamma=1.0)
    return controller, tau_star, lambda k, tau: float(norm.sf(tau, mean, sd))


def test_controller_is_stable_inside_the_condition_and_not_outside() -> None:
    for gain in (0.5, 1.5, 1.9):
        controller, tau_star, rate = _deterministic_gain(gain)
        taus = _run(controller, rate, 300)
        assert abs(taus[-1] - tau_star) < 1e-6, gain
    for gain in (2.2, 3.0):
        controller, tau_star, rate = _deterministic_gain(gain)
        taus = _run(controller, rate, 300)
        assert max(abs(t - tau_star) for t in taus[-50:]) > 1e-2, gain  # oscillates, never settles
        signs = np.sign(np.array(taus[-50:]) - tau_star)
        assert (signs[1:] != signs[:-1]).mean() > 0.9  # flips side every step


def _authors_rule(tau: float, pass_rate: float, target: float = 0.25) -> float:
    """grpo.py's arithmetic, step by step: delta = 0.12 (p* - p); tmp = τ^(1 + delta); ±0.005 outside the dead zone."""
    tmp = tau ** (1 + 0.12 * (target - pass_rate))
    if tmp - tau > 0.005:
        tau += 0.005
    if tmp - tau < -0.005:
        tau -= 0.005
    return tau


def test_unictokens_controller_is_the_authors_rule_with_its_dead_zone() -> None:
    controller = make_controller(DGSConfig(controller="unictokens"))
    assert (controller.tau, controller.target) == (0.5, 0.25)  # the authors' start and target
    rates = [1.0, 0.25, 0.3, 0.0, 0.0, 0.5, 0.2, 1.0]
    taus = [controller.update(p) for p in rates]
    # worked by hand: 0.5^0.91 = 0.532 (> +0.005: up); p = p*: no change; 0.505^0.994 = 0.50708 (+0.0021, inside
    # the dead zone: no change, where a clamp would move it); 0.505^1.03 = 0.4947 (down); ...
    assert taus[:4] == pytest.approx([0.505, 0.505, 0.505, 0.500], abs=1e-12)
    expected, tau = [], 0.5
    for p in rates:
        tau = _authors_rule(tau, p)
        expected.append(tau)
    assert taus == pytest.approx(expected, abs=1e-12)
    assert 0.5 ** (1 + 0.12 * 0.05) - 0.5 < 0.005 and taus[6] == taus[5]  # p = 0.2: inside the dead zone
    other = UniCTokensController(tau=0.1)
    other.load_state_dict(controller.state_dict())
    assert other.tau == controller.tau


def test_trend_controller_keeps_tau_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TrendController(tau=0.0, target=0.5)
    with pytest.raises(ValueError, match="initial_threshold must be positive"):
        load_config(None, "tiny", ["dgs.initial_threshold=-0.1"])
    controller = TrendController(tau=1e-5, target=0.5, eta=50.0, mu=0.0)
    for _ in range(20):  # nothing ever passes: τ falls fast, but stays a positive threshold
        assert controller.update(0.0) > 0
    assert controller.tau == MIN_TAU
