"""theta-trapezoidal for the uniform process with increment semantics (Ren et al. 2025; spec §2.4).

With ``Delta = t - s`` and ``rho = t - theta Delta``:

* stage 1: Poisson increments from ``y`` over ``theta Delta`` with intensities ``mu_t(k; y)``,
  reaching ``y*``;
* stage 2: Poisson increments from ``y*`` over ``(1 - theta) Delta`` with intensities
  ``(a1 mu_rho(k; y*) - a2 mu_t(k; y))_+``, matched by increment ``k`` (not by target value),
  ``a1 = 1/(2 theta (1-theta))``, ``a2 = ((1-theta)^2 + theta^2) / (2 theta (1-theta))``.

Weak second order when nothing is clipped. The clipped intensity mass times the stage length
(summed over positions and increments) is recorded as ``clipped_mass``; when it is not negligible
the order falls back to 1. Two calls per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ... import checks
from ..base import Sampler, StepContext
from ..trapezoidal import extrapolation_weights
from .increments import by_increment, poisson_value_law


@dataclass(frozen=True)
class Trapezoidal(Sampler):
    """Uniform theta-trapezoidal (default ``theta = 1/2``: ``a1 = 2``, ``a2 = 1``)."""

    theta: float = 0.5
    name: ClassVar[str] = "trapezoidal"
    process_kind: ClassVar[str] = "uniform"
    calls_per_step: ClassVar[int] = 2

    def __post_init__(self) -> None:
        checks.probability("theta", self.theta, open_low=True, open_high=True)

    def step(self, ctx: StepContext, z, t, s, index):
        theta = self.theta
        a1, a2 = extrapolation_weights(theta)
        s_start = s
        process = ctx.process

        rates_t = by_increment(process.reverse_rates(ctx.denoise(z, t).dense(), z, t), z)
        y_star = ctx.jump(z, poisson_value_law(rates_t, z, theta * (t - s)))
        t, s, rates_t = ctx.align(t), ctx.align(s), ctx.align(rates_t)

        rho = t - theta * (t - s)
        probs_star = ctx.denoise(y_star, rho).dense()
        rates_rho = by_increment(process.reverse_rates(probs_star, y_star, rho), y_star)
        raw = a1 * rates_rho - a2 * rates_t
        duration = (1 - theta) * (t - s)
        ctx.record("clipped_mass", (-raw).clamp(min=0).sum((-1, -2)) * duration)
        law = poisson_value_law(raw.clamp(min=0), y_star, duration)
        return ctx.jump(y_star, law), s_start
