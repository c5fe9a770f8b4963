"""theta-trapezoidal and theta-RK-2 for the masked process (Ren et al. 2025; spec §2.4).

Both take a stage of length ``theta Delta`` with the rates at ``t``, reaching ``y*`` at
``rho = t - theta Delta``, then

* trapezoidal: from ``y*``, a stage of length ``(1 - theta) Delta`` with the extrapolated rates
  ``(a1 lambda(rho) p(.|y*) - a2 lambda(t) p(.|y))_+``, ``a1 = 1/(2 theta (1-theta))``,
  ``a2 = ((1-theta)^2 + theta^2) / (2 theta (1-theta))``; weak second order when nothing is clipped;
* RK-2: from ``y`` again (``y*`` only serves to evaluate rates), a stage of length ``Delta`` with
  ``1[mu_t > 0] ((1 - 1/(2 theta)) mu_t(y) + (1/(2 theta)) mu_rho(y*))_+``.

A masked position jumps at most once per stage: it is revealed with probability
``1 - exp(-Delta_stage * sum_v r_v)`` and takes a value drawn from ``r / sum_v r``. The clipped
intensity mass times the stage length (the expected jumps lost to clipping) is recorded as
``clipped_mass``; when it is not negligible the order falls back to 1. Two calls per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .. import checks
from .base import Sampler, StepContext, force_last


def extrapolation_weights(theta: float) -> tuple[float, float]:
    """``a1 = 1/(2 theta (1-theta))`` and ``a2 = ((1-theta)^2 + theta^2)/(2 theta (1-theta))``;
    ``a1 - a2 = 1``."""
    denominator = 2 * theta * (1 - theta)
    return 1 / denominator, ((1 - theta) ** 2 + theta**2) / denominator


def _stage_one(ctx: StepContext, theta: float, z, t, s):
    """First stage: rates at ``t`` for ``theta Delta``. Returns ``(probs, y*, rho)``."""
    probs = ctx.denoise(z, t).dense()
    delta = t - s
    reveal = -torch.expm1(-ctx.process.hazard(t) * theta * delta)
    return probs, ctx.move(z, reveal[:, None], probs), t - theta * delta


def _reveal_with_rates(ctx: StepContext, z, rates, fallback, duration, s):
    """Reveal masked positions of ``z`` with total rate ``sum_v rates`` over ``duration`` (forced
    when ``s = 0``); values from ``rates``, or from ``fallback`` where the total rate is 0."""
    total = rates.sum(-1)
    reveal = force_last(-torch.expm1(-total * duration[:, None]), s)
    values = torch.where((total > 0).unsqueeze(-1), rates, fallback)
    return ctx.move(z, reveal, values)


@dataclass(frozen=True)
class Trapezoidal(Sampler):
    """theta-trapezoidal (default ``theta = 1/2``: ``a1 = 2``, ``a2 = 1``)."""

    theta: float = 0.5
    name: ClassVar[str] = "trapezoidal"
    calls_per_step: ClassVar[int] = 2

    def __post_init__(self) -> None:
        checks.probability("theta", self.theta, open_low=True, open_high=True)

    def step(self, ctx: StepContext, z, t, s, index):
        theta = self.theta
        a1, a2 = extrapolation_weights(theta)
        s_start = s
        probs, y_star, rho = _stage_one(ctx, theta, z, t, s)
        t, s, rho, probs = ctx.align(t), ctx.align(s), ctx.align(rho), ctx.align(probs)
        probs_star = ctx.denoise(y_star, rho).dense()
        hazard_t = ctx.process.hazard(t)[:, None, None]
        hazard_rho = ctx.process.hazard(rho)[:, None, None]
        raw = a1 * hazard_rho * probs_star - a2 * hazard_t * probs
        masked = ctx.masked(y_star).unsqueeze(-1)
        rates = torch.where(masked, raw.clamp(min=0), 0.0)
        duration = (1 - theta) * (t - s)
        clipped = torch.where(masked, (-raw).clamp(min=0), 0.0).sum((-1, -2)) * duration
        ctx.record("clipped_mass", clipped)
        return _reveal_with_rates(ctx, y_star, rates, probs_star, duration, s), s_start


@dataclass(frozen=True)
class RK2(Sampler):
    """theta-RK-2 (default ``theta = 1/2``, the midpoint rule); stage 2 restarts from ``y``."""

    theta: float = 0.5
    name: ClassVar[str] = "rk2"
    calls_per_step: ClassVar[int] = 2

    def __post_init__(self) -> None:
        checks.probability("theta", self.theta, open_low=True)

    def step(self, ctx: StepContext, z, t, s, index):
        theta = self.theta
        s_start = s
        probs, y_star, rho = _stage_one(ctx, theta, z, t, s)
        t, s, rho, probs, y = (
            ctx.align(t),
            ctx.align(s),
            ctx.align(rho),
            ctx.align(probs),
            ctx.align(z),
        )
        probs_star = ctx.denoise(y_star, rho).dense()
        rate_t = ctx.process.hazard(t)[:, None, None] * probs
        rate_rho = ctx.process.hazard(rho)[:, None, None] * torch.where(
            ctx.masked(y_star).unsqueeze(-1), probs_star, 0.0
        )
        raw = (1 - 1 / (2 * theta)) * rate_t + rate_rho / (2 * theta)
        active = ctx.masked(y).unsqueeze(-1) & (rate_t > 0)
        rates = torch.where(active, raw.clamp(min=0), 0.0)
        duration = t - s
        clipped = torch.where(active, (-raw).clamp(min=0), 0.0).sum((-1, -2)) * duration
        ctx.record("clipped_mass", clipped)
        return _reveal_with_rates(ctx, y, rates, probs, duration, s), s_start
