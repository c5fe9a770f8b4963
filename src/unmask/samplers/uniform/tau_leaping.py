"""Uniform-process tau-leaping in increment form (spec §3, §6.2).

Per position ``i`` and increment ``k = 1..S-1``: ``N_ik ~ Poisson(mu_k Delta)`` with
``mu_k = Rhat_t(z -> z^{i <- z_i + k mod S})``, and ``z_i <- z_i + sum_k k N_ik mod S``. The step
draws from the exact law of that sum (:func:`.increments.increment_law`). First order in ``Delta``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..base import Sampler, StepContext
from .increments import by_increment, poisson_value_law


@dataclass(frozen=True)
class TauLeaping(Sampler):
    """Uniform tau-leaping: Poisson increments mod ``S`` with the rates frozen at ``t``."""

    name: ClassVar[str] = "tau-leaping"
    process_kind: ClassVar[str] = "uniform"

    def step(self, ctx: StepContext, z, t, s, index):
        probs = ctx.denoise(z, t).dense()
        rates = by_increment(ctx.process.reverse_rates(probs, z, t), z)
        return ctx.jump(z, poisson_value_law(rates, z, t - s)), s
