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


def _reveal_with_rates(ctx: StepContext, z, values, total, duration, s):
    """Reveal masked positions of ``z`` with total rate ``total [n, L]`` over ``duration`` (forced
    when ``s = 0``), values drawn from ``values [n, L, V]``."""
    reveal = force_last(-torch.expm1(-total * duration[:, None]), s)
    return ctx.move(z, reveal, values)


# Positions are processed a block of rows of the flattened ``[n * L, V]`` tensors at a time: the
# temporaries of a block stay in cache and only the output is a fresh ``[n, L, V]`` tensor.
_BLOCK_VALUES = 1 << 16


def _clipped_rates(raw_and_active, fallback, rows, columns):
    """Rates ``r = 1[active] raw_+`` per position, computed a block of positions at a time.

    ``raw_and_active(*row_blocks, *column_blocks) -> (raw [m, V], active [m, V] or [m, 1])`` gives
    the extrapolated intensities of ``m`` positions; ``rows`` are ``[n, L, V]`` tensors and
    ``columns`` ``[n, L]`` ones, both read per position. Returns ``(values, total, clipped)``:
    ``values [n, L, V]`` is ``r`` where ``total = sum_v r > 0`` and ``fallback [n, L, V]`` elsewhere,
    ``total [n, L]`` and ``clipped [n, L] = sum_v 1[active] (-raw)_+``.
    """
    shape = fallback.shape
    size = shape[-1]
    rows = [x.reshape(-1, size) for x in (*rows, fallback)]
    columns = [c.reshape(-1, 1) for c in columns]
    values = torch.empty(rows[0].shape, dtype=torch.float64)
    total = torch.empty(len(values), 1, dtype=torch.float64)
    clipped = torch.empty(len(values), dtype=torch.float64)
    step = max(1, _BLOCK_VALUES // max(size, 1))
    for start in range(0, len(values), step):
        part = slice(start, start + step)
        *inputs, backup = (x[part] for x in rows)
        raw, active = raw_and_active(*inputs, *(c[part] for c in columns))
        rates = torch.where(active, raw.clamp(min=0), 0.0)
        clipped[part] = torch.where(active, (-raw).clamp(min=0), 0.0).sum(-1)
        # Slice assignment rather than out=: the rates may carry gradients from the model.
        total[part] = rates.sum(-1, keepdim=True)
        values[part] = torch.where(total[part] > 0, rates, backup)
    return values.reshape(shape), total.reshape(shape[:-1]), clipped.reshape(shape[:-1])


def _per_position(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-row values ``x [n]`` repeated over the positions of ``like [n, L]``."""
    return x.reshape(-1, 1).expand(like.shape)


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
        weight_rho = a1 * ctx.process.hazard(rho)
        weight_t = a2 * ctx.process.hazard(t)

        def raw_and_active(probs_star, probs, masked, weight_rho, weight_t):
            return weight_rho * probs_star - weight_t * probs, masked

        values, total, clipped = _clipped_rates(
            raw_and_active,
            probs_star,
            (probs_star, probs),
            (ctx.masked(y_star), _per_position(weight_rho, y_star), _per_position(weight_t, y_star)),
        )
        duration = (1 - theta) * (t - s)
        ctx.record("clipped_mass", clipped.sum(-1) * duration)
        return _reveal_with_rates(ctx, y_star, values, total, duration, s), s_start


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
        hazard_t, hazard_rho = ctx.process.hazard(t), ctx.process.hazard(rho)

        def raw_and_active(probs, probs_star, masked_star, masked, hazard_t, hazard_rho):
            rate_t = hazard_t * probs
            rate_rho = hazard_rho * torch.where(masked_star, probs_star, 0.0)
            raw = (1 - 1 / (2 * theta)) * rate_t + rate_rho / (2 * theta)
            return raw, masked & (rate_t > 0)

        values, total, clipped = _clipped_rates(
            raw_and_active,
            probs,
            (probs, probs_star),
            (ctx.masked(y_star), ctx.masked(y), _per_position(hazard_t, y), _per_position(hazard_rho, y)),
        )
        duration = t - s
        ctx.record("clipped_mass", clipped.sum(-1) * duration)
        return _reveal_with_rates(ctx, y, values, total, duration, s), s_start
