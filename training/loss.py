"""The Sync-GRPO objective: Dr.GRPO over one trajectory that holds reasoning text and image denoising steps.

Per group of G trajectories with advantages A_i = r_i - mean(r):

    L = -(1/G) Σ_i [ (λ_und / C_und) Σ_t   (min(ρ_t A_i,  clip(ρ_t,  1-ε, 1+ε) A_i) - β k3_t)
                   + (λ_gen / C_gen) Σ_s,j (min(ρ_sj A_i, clip(ρ_sj, 1-ε, 1+ε) A_i) - β k3_sj) ]

with ρ = exp(log π_θ - log π_old) per text token t and per image decision
(step s, position j), k3 = exp(ref - logp) - (ref - logp) - 1 the KL estimate
to the frozen reference. Each modality is divided by its own constant — C_und
the reasoning token budget, C_gen the image decisions of one trajectory
(S·N when every position counts, the still-masked positions summed over the
schedule when only those do) — so λ_und : λ_gen weighs reasoning against
generation per trajectory, as the paper intends. One shared constant
(L + S·N) left the text ~0.1% of the gradient. Neither constant depends on
what was sampled, so a longer answer is not discounted (Dr.GRPO).
The KL sits inside the per-token sum with the same weights, as TRL does.
Because the loss is a plain sum, it can be computed in pieces (rows, steps)
and back-propagated piece by piece: the pieces add up to the whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def group_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """Reward minus its group's mean; no division by the standard deviation (Dr.GRPO)."""
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    grouped = rewards.view(-1, group_size)
    return (grouped - grouped.mean(dim=1, keepdim=True)).view(-1)


def k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1


def clipped_objective(logp: torch.Tensor, old_logp: torch.Tensor, advantage: torch.Tensor,
                      epsilon: float) -> torch.Tensor:
    """min(ρA, clip(ρ, 1-ε, 1+ε)A) per token; `advantage` broadcasts over the token dimensions."""
    ratio = torch.exp(logp - old_logp)
    return torch.minimum(ratio * advantage, ratio.clamp(1 - epsilon, 1 + epsilon) * advantage)


@dataclass
class LossPart:
    loss: torch.Tensor
    """This piece's share of L (differentiable)."""
    objective: float
    """Sum of the clipped objective terms (before weights and the constant)."""
    kl_sum: float
    tokens: int

    def __add__(self, other: LossPart) -> LossPart:
        return LossPart(self.loss + other.loss, self.objective + other.objective, self.kl_sum + other.kl_sum,
                        self.tokens + other.tokens)


def token_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor | None, advantages: torch.Tensor,
               *, weight: float, beta: float, epsilon: float, divisor: float,
               mask: torch.Tensor | None = None) -> LossPart:
    """One modality's share of L for rows with the given advantages.

    logp, old_logp, ref_logp: (rows, ...) per-token log-probs (text: (rows, T); image: (rows, steps, N)), `mask`
    marking the decisions that count (real text tokens; image positions, all or the still-masked ones).
    `divisor` is G * C for that modality.
    """
    shape = (-1,) + (1,) * (logp.dim() - 1)
    objective = clipped_objective(logp, old_logp, advantages.view(shape), epsilon)
    kl = k3(logp, ref_logp) if ref_logp is not None and beta > 0 else torch.zeros_like(logp)
    per_token = objective - beta * kl
    if mask is not None:
        mask = mask.to(per_token.dtype)
        per_token, objective, kl = per_token * mask, objective * mask, kl * mask
    tokens = int(mask.sum()) if mask is not None else logp.numel()
    return LossPart(-weight * per_token.sum() / divisor, float(objective.detach().sum()), float(kl.detach().sum()),
                    tokens)


Tokens = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]
"""(logp, old logp, reference logp or None, mask of the decisions that count or None for all)."""


def sync_grpo_loss(advantages: torch.Tensor, *, text: Tokens | None, image: Tokens | None, lambda_und: float,
                   lambda_gen: float, beta: float, epsilon: float, und_constant: float, gen_constant: float,
                   group_size: int) -> LossPart:
    """L for one group (or a piece of it: some rows, one denoising step): each modality over its own constant."""
    total = LossPart(advantages.new_zeros(()), 0.0, 0.0, 0)
    common = dict(beta=beta, epsilon=epsilon)
    if text is not None:
        logp, old, ref, mask = text
        total = total + token_loss(logp, old, ref, advantages, weight=lambda_und, divisor=group_size * und_constant,
                                   mask=mask, **common)
    if image is not None:
        logp, old, ref, mask = image
        total = total + token_loss(logp, old, ref, advantages, weight=lambda_gen, divisor=group_size * gen_constant,
                                   mask=mask, **common)
    return total
