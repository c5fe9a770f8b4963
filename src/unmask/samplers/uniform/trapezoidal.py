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
from ...laws import per_position
from ...processes import UniformProcess
from ...processes.jumps import JumpLaw
from ..base import Sampler, StepContext
from ..trapezoidal import CLIP_TO_TV, extrapolation_weights
from .increments import FOURIER_WEIGHT, poisson_value_law


@dataclass(frozen=True)
class Trapezoidal(Sampler):
    """Uniform theta-trapezoidal (default ``theta = 1/2``: ``a1 = 2``, ``a2 = 1``)."""

    theta: float = 0.5
    name: ClassVar[str] = "trapezoidal"
    process_type: ClassVar[type] = UniformProcess
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
        process, length = ctx.process, z.shape[-1]
        s_start = s
        first_duration = theta * (t - s)

        def stage_one(rows, current, index):
            rates = process.increment_rates(rows[0], current, per_position(t, index, length))
            return poisson_value_law(rates, current, per_position(first_duration, index, length)), None

        probs = ctx.denoise(z, t)
        y_star = ctx.jump(z, JumpLaw((probs,), z, stage_one, weight=FOURIER_WEIGHT))
        t, s, probs, y = ctx.align(t), ctx.align(s), ctx.align(probs), ctx.align(z)
        rho = t - theta * (t - s)
        duration = (1 - theta) * (t - s)
        probs_star = ctx.denoise(y_star, rho)
        flat_y, size = y.reshape(-1), probs.shape[-1]

        def stage_two(rows, current, index):
            star, now = rows
            rates_rho = process.increment_rates(star, current, per_position(rho, index, length))
            rates_t = process.increment_rates(
                now, flat_y[index].long().clamp(0, size - 1).unsqueeze(-1), per_position(t, index, length)
            )
            raw = a1 * rates_rho - a2 * rates_t
            hold = per_position(duration, index, length)
            clipped = (-raw[:, 1:]).clamp(min=0).sum(-1) * hold.squeeze(-1)
            return poisson_value_law(raw.clamp(min=0), current, hold), clipped

        law = JumpLaw((probs_star, probs), y_star, stage_two, records_clipping=True, weight=FOURIER_WEIGHT)
        return ctx.jump(y_star, law), s_start
