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
from ..laws import ClippedCombination, per_position
from .base import Sampler, StepContext, force_last

#: The trapezoid's order falls back to 1 when its clipped mass exceeds this fraction of its TV.
CLIP_TO_TV = 0.5


def extrapolation_weights(theta: float) -> tuple[float, float]:
    """``a1 = 1/(2 theta (1-theta))`` and ``a2 = ((1-theta)^2 + theta^2)/(2 theta (1-theta))``;
    ``a1 - a2 = 1``."""
    denominator = 2 * theta * (1 - theta)
    return 1 / denominator, ((1 - theta) ** 2 + theta**2) / denominator


def _stage_one(ctx: StepContext, theta: float, z, t, s):
    """First stage: rates at ``t`` for ``theta Delta``. Returns ``(probs, y*, rho)``."""
    probs = ctx.denoise(z, t)
    delta = t - s
    reveal = -torch.expm1(-ctx.process.hazard(t) * theta * delta)
    return probs, ctx.move(z, reveal[:, None], probs), t - theta * delta


def _second_stage(ctx: StepContext, z, law: ClippedCombination, duration, s):
    """Reveal the masked positions of ``z`` with the total rate of ``law`` over ``duration [n]``
    (forced when ``s = 0``), values drawn from ``law``; records the clipped mass times the duration."""
    total, clipped = law.totals_and_clipped(ctx.masked(z))
    ctx.record("clipped_mass", clipped.sum(-1) * duration)
    reveal = force_last(-torch.expm1(-total * duration[:, None]), s)
    return ctx.move(z, reveal, law)


@dataclass(frozen=True)
class Trapezoidal(Sampler):
    """theta-trapezoidal (default ``theta = 1/2``: ``a1 = 2``, ``a2 = 1``)."""

    theta: float = 0.5
    name: ClassVar[str] = "trapezoidal"
    calls_per_step: ClassVar[int] = 2

    def __post_init__(self) -> None:
        checks.probability("theta", self.theta, open_low=True, open_high=True)

    def predicted_order(self, clipped_mass, tv):
        if clipped_mass is not None and clipped_mass > CLIP_TO_TV * tv:
            return "1", f"clipping active: clipped mass {clipped_mass:.2g} against TV {tv:.2g}"
        return "2", "weak second order: clipped mass small against the TV"

    def step(self, ctx: StepContext, z, t, s, index):
        theta = self.theta
        a1, a2 = extrapolation_weights(theta)
        s_start = s
        probs, y_star, rho = _stage_one(ctx, theta, z, t, s)
        t, s, rho, probs = ctx.align(t), ctx.align(s), ctx.align(rho), ctx.align(probs)
        probs_star = ctx.denoise(y_star, rho)
        weight_rho = a1 * ctx.process.hazard(rho)
        weight_t = a2 * ctx.process.hazard(t)
        length = y_star.shape[-1]

        def combine(rows, index):
            star, now = rows
            return (-per_position(weight_t, index, length) * now).addcmul_(
                star, per_position(weight_rho, index, length)
            )

        law = ClippedCombination((probs_star, probs), combine, fallback=0)
        return _second_stage(ctx, y_star, law, (1 - theta) * (t - s), s), s_start


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
        t, s, rho, probs, y = ctx.align(t), ctx.align(s), ctx.align(rho), ctx.align(probs), ctx.align(z)
        probs_star = ctx.denoise(y_star, rho)
        # raw = 1[mu_t > 0] ((1 - 1/(2 theta)) lambda(t) p + 1[masked in y*] lambda(rho) p* / (2 theta))
        weight_t = (1 - 1 / (2 * theta)) * ctx.process.hazard(t)
        weight_rho = ctx.process.hazard(rho).unsqueeze(-1) / (2 * theta) * ctx.masked(y_star)
        length = y.shape[-1]

        def combine(rows, index):
            now, star = rows
            raw = (per_position(weight_t, index, length) * now).addcmul_(
                star, per_position(weight_rho, index, length)
            )
            return raw.masked_fill_(now <= 0, 0.0)

        law = ClippedCombination((probs, probs_star), combine, fallback=0)
        return _second_stage(ctx, y, law, t - s, s), s_start
