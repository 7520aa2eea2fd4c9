"""Sync-GRPO loss against a direct scalar computation of the formula, and its Dr.GRPO properties."""

from __future__ import annotations

import math

import pytest
import torch

from training.loss import group_advantages, k3, sync_grpo_loss

G, C_UND, C_GEN, EPS, BETA, L_UND, L_GEN = 3, 4.0, 6.0, 0.2, 0.05, 0.4, 0.6
C = C_UND


def _fixed() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    text_old = -torch.rand(G, 4) * 3
    image_old = -torch.rand(G, 2, 3) * 3
    return {
        # new log-probs move the ratio both inside and outside [1 - ε, 1 + ε]
        "text": text_old + torch.tensor([[0.05, -0.4, 0.3, 0.0], [0.1, 0.25, -0.05, 0.5], [-0.3, 0.02, 0.4, -0.1]]),
        "text_old": text_old,
        "text_ref": text_old + torch.randn(G, 4) * 0.3,
        "mask": torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool),
        "image": image_old + torch.randn(G, 2, 3) * 0.3,
        "image_old": image_old,
        "image_ref": image_old + torch.randn(G, 2, 3) * 0.3,
        "rewards": torch.tensor([0.2, 0.9, 0.4]),
    }


def _by_hand(t: dict[str, torch.Tensor]) -> tuple[float, list[list[float]], list[list[list[float]]]]:
    """The formula with Python floats, and its derivative in each log-prob (derived on paper)."""
    rewards = t["rewards"].tolist()
    mean = sum(rewards) / G
    total = 0.0
    text_grad = [[0.0] * 4 for _ in range(G)]
    image_grad = [[[0.0] * 3 for _ in range(2)] for _ in range(G)]

    def term(logp: float, old: float, ref: float, advantage: float) -> tuple[float, float]:
        ratio = math.exp(logp - old)
        clipped = min(max(ratio, 1 - EPS), 1 + EPS)
        unclipped_wins = ratio * advantage <= clipped * advantage
        value = min(ratio * advantage, clipped * advantage) - BETA * (math.exp(ref - logp) - (ref - logp) - 1)
        grad = (ratio * advantage if unclipped_wins else 0.0) - BETA * (1 - math.exp(ref - logp))
        return value, grad

    for i in range(G):
        advantage = rewards[i] - mean
        for k in range(4):
            if t["mask"][i, k]:
                value, grad = term(float(t["text"][i, k]), float(t["text_old"][i, k]), float(t["text_ref"][i, k]),
                                   advantage)
                total += L_UND * value / C_UND
                text_grad[i][k] = -L_UND * grad / (G * C_UND)
        for s in range(2):
            for j in range(3):
                value, grad = term(float(t["image"][i, s, j]), float(t["image_old"][i, s, j]),
                                   float(t["image_ref"][i, s, j]), advantage)
                total += L_GEN * value / C_GEN
                image_grad[i][s][j] = -L_GEN * grad / (G * C_GEN)
    return -total / G, text_grad, image_grad


def _ours(t: dict[str, torch.Tensor], rows: slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    text = t["text"].clone().requires_grad_(True)
    image = t["image"].clone().requires_grad_(True)
    advantages = group_advantages(t["rewards"], G)
    part = sync_grpo_loss(advantages[rows], text=(text[rows], t["text_old"][rows], t["text_ref"][rows],
                                                  t["mask"][rows]),
                          image=(image[rows], t["image_old"][rows], t["image_ref"][rows], None), lambda_und=L_UND,
                          lambda_gen=L_GEN, beta=BETA, epsilon=EPS, und_constant=C_UND, gen_constant=C_GEN,
                          group_size=G)
    part.loss.backward()
    return part.loss.detach(), text.grad, image.grad


def test_loss_and_gradient_equal_the_formula_computed_by_hand() -> None:
    t = _fixed()
    ratios = torch.exp(t["text"] - t["text_old"])
    assert bool(((ratios < 1 - EPS) | (ratios > 1 + EPS)).any())
    assert bool(((ratios > 1 - EPS) & (ratios < 1 + EPS)).any())
    loss, text_grad, image_grad = _ours(t)
    expected, expected_text, expected_image = _by_hand(t)
    assert float(loss) == pytest.approx(expected, rel=1e-5, abs=1e-9)
    assert torch.allclose(text_grad, torch.tensor(expected_text), atol=1e-7)
    assert torch.allclose(image_grad, torch.tensor(expected_image), atol=1e-7)
    assert bool((text_grad[~t["mask"]] == 0).all())


def test_advantages_are_group_centred_and_not_rescaled() -> None:
    rewards = torch.tensor([1.0, 2.0, 4.0, 10.0, 10.0, 40.0])
    advantages = group_advantages(rewards, 3)
    assert torch.allclose(advantages, torch.tensor([-4 / 3, -1 / 3, 5 / 3, -10.0, -10.0, 20.0]))
    assert torch.allclose(advantages.view(2, 3).sum(1), torch.zeros(2), atol=1e-6)
    assert torch.allclose(group_advantages(rewards * 7, 3), advantages * 7)  # no std division
    with pytest.raises(ValueError, match="groups of 4"):
        group_advantages(rewards, 4)


def test_a_longer_answer_is_not_divided_by_its_length() -> None:
    logp, old = torch.tensor([[-1.0, -2.0]]), torch.tensor([[-1.1, -1.9]])
    common = dict(image=None, lambda_und=1.0, lambda_gen=1.0, beta=0.0, epsilon=EPS, und_constant=C,
                  gen_constant=C, group_size=2)
    advantages = torch.tensor([0.5])
    short = sync_grpo_loss(advantages, text=(logp, old, None, torch.ones(1, 2, dtype=torch.bool)), **common)
    doubled = sync_grpo_loss(advantages, text=(logp.repeat(1, 2), old.repeat(1, 2), None,
                                               torch.ones(1, 4, dtype=torch.bool)), **common)
    assert float(doubled.loss) == pytest.approx(2 * float(short.loss))
    assert doubled.tokens == 4 and short.tokens == 2


def test_pieces_of_a_group_sum_to_the_whole() -> None:
    t = _fixed()
    whole, *_ = _ours(t)
    first, *_ = _ours(t, slice(0, 2))
    last, *_ = _ours(t, slice(2, 3))
    assert float(first + last) == pytest.approx(float(whole), rel=1e-6)


def test_k3_is_a_nonnegative_kl_estimate() -> None:
    assert float(k3(torch.tensor(-1.0), torch.tensor(-1.0))) == 0.0
    samples = torch.distributions.Normal(0.0, 1.0).sample((200_000,))
    p, q = torch.distributions.Normal(0.0, 1.0), torch.distributions.Normal(0.3, 1.0)
    estimate = k3(p.log_prob(samples), q.log_prob(samples)).mean()
    assert bool((k3(p.log_prob(samples), q.log_prob(samples)) >= 0).all())
    assert float(estimate) == pytest.approx(0.3**2 / 2, rel=0.05)  # KL(N(0,1) || N(0.3,1)) = 0.045


def test_each_modality_is_divided_by_its_own_constant() -> None:
    """λ_und : λ_gen weigh one trajectory's reasoning against its image: with C_und = the text budget and C_gen = the
    image decisions, a text term and an image term of equal size contribute λ_und : λ_gen, however many image
    decisions there are (a shared constant L + S·N would give the text λ_und·T : λ_gen·S·N)."""
    advantages = torch.tensor([1.0])
    text = torch.zeros(1, 8)
    for decisions in (16, 4096):
        image = torch.zeros(1, 1, decisions)
        common = dict(lambda_und=0.4, lambda_gen=0.6, beta=0.0, epsilon=EPS, und_constant=8.0,
                      gen_constant=float(decisions), group_size=2)
        und = sync_grpo_loss(advantages, text=(text, text, None, None), image=None, **common)
        gen = sync_grpo_loss(advantages, text=None, image=(image, image, None, None), **common)
        assert float(und.loss) / float(gen.loss) == pytest.approx(0.4 / 0.6)


def test_an_image_mask_counts_only_the_marked_positions() -> None:
    logp, old = torch.tensor([[[-1.0, -2.0, -3.0]]]), torch.tensor([[[-1.1, -1.9, -2.0]]])
    mask = torch.tensor([[[True, False, True]]])
    common = dict(text=None, lambda_und=1.0, lambda_gen=1.0, beta=0.0, epsilon=EPS, und_constant=1.0,
                  gen_constant=1.0, group_size=1)
    masked = sync_grpo_loss(torch.tensor([0.5]), image=(logp, old, None, mask), **common)
    kept = sync_grpo_loss(torch.tensor([0.5]), image=(logp[..., [0, 2]], old[..., [0, 2]], None, None), **common)
    assert masked.tokens == 2 and float(masked.loss) == pytest.approx(float(kept.loss))
