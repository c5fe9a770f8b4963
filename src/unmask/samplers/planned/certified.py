"""Certified sampling: reveal as many tokens per call as a proven KL budget allows.

The entropy-bounded bound (spec §4.7): drawing a set ``U`` of masked positions at once from the
product of their conditionals, instead of jointly, costs the total correlation
``TC(x_U | x_A) <= sum_{l in U} H_l - max_{l in U} H_l``. For a planner whose choice of ``U`` is a
function of the state, the reference process that follows the same choices but draws each set
jointly from the model generates the model's law exactly, and the chain rule of KL gives

    KL(model || sampler) <= E_model[ sum over steps of (sum_U H - max_U H) ].

This sampler keeps that sum at most ``kl_budget`` on **every** path, so the bound holds for any
model whose conditionals agree with its joint law (exact targets: always). It spends the budget in
proportion to the tokens revealed: with ``N`` free positions in the row, a call that reveals ``j``
of them may spend up to ``kl_budget * j / (N - 1)``, and the call that reveals the last ``j`` may
spend ``kl_budget * (j - 1) / (N - 1)``. Those allowances add up to ``kl_budget`` over any path
(``j_1 + ... + j_m - 1 = N - 1``), and depend on the state only, so the output law is exactly
computable. Each call reveals, among the masked positions ordered by ``proxy`` (entropy by
default, lower first, ties to the lower position), the longest prefix whose cost
``sum H - max H`` stays within its allowance (at least one token: a single token costs nothing).

Inside :class:`~unmask.samplers.planned.blocks.SemiAutoregressive` the last call of each block
gets the smaller allowance, so the budget is still kept.

The sampler records, per row, ``kl_bound``: its path's ``sum over steps of (sum_U H - max_U H)``,
at most ``kl_budget`` (``SampleResult.row_diagnostics["kl_bound"]``; the mean in
``diagnostics``). The bound is against the model's own law: it certifies the sampler's error,
not the model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ... import checks
from .entropy_bounded import prefix_costs
from .plan import SCORES, Planner, first


@dataclass(frozen=True)
class Certified(Planner):
    """Reveal, per call, the longest proxy-ordered prefix whose ``sum H - max H`` fits the call's
    share of ``kl_budget`` (nats), so that ``KL(model || sampler) <= kl_budget``."""

    kl_budget: float = 0.05
    proxy: str = "entropy"
    name: ClassVar[str] = "certified"
    takes_steps: ClassVar[bool] = False
    reports_bound: ClassVar[bool] = True

    def __post_init__(self) -> None:
        checks.non_negative_float("kl_budget", self.kl_budget, " (nats of KL(model || sampler))")
        checks.one_of("proxy", self.proxy, SCORES)

    @property
    def is_exact(self) -> bool:
        """``kl_budget = 0``: one uncertain token per call, so the law is exact."""
        return self.kl_budget == 0

    def predicted_order(self, clipped_mass, tv):
        if self.is_exact:
            return "exact", "kl_budget = 0: one uncertain token per call"
        return "none", f"certified: KL(model || sampler) <= {self.kl_budget} by construction (spec 4.7)"

    def plan(self, probs, masked, index, lengths, free):
        ranked, valid, cost = prefix_costs(probs, masked, self.proxy)
        remaining = masked.sum(-1, keepdim=True)
        size = torch.arange(1, masked.shape[-1] + 1, device=masked.device).expand_as(masked)
        per_token = self.kl_budget / (free.sum(-1, keepdim=True) - 1).clamp(min=1).to(torch.float64)
        allowance = per_token * (size - (size == remaining).long()).to(torch.float64)
        count = torch.where(valid & (cost <= allowance), size, 1).amax(-1)
        return first(ranked, count.minimum(remaining.squeeze(-1)))
