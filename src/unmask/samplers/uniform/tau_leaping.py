"""Uniform-process tau-leaping in increment form (spec §3, §6.2).

Per position ``i`` and increment ``k = 1..S-1``: ``N_ik ~ Poisson(mu_k Delta)`` with
``mu_k = Rhat_t(z -> z^{i <- z_i + k mod S})``, and ``z_i <- z_i + sum_k k N_ik mod S``. The step
draws from the exact law of that sum (:func:`.increments.increment_law`). First order in ``Delta``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...laws import per_position
from ...processes import UniformProcess
from ...processes.jumps import JumpLaw
from ..base import Sampler, StepContext
from .increments import FOURIER_WEIGHT, poisson_value_law


@dataclass(frozen=True)
class TauLeaping(Sampler):
    """Uniform tau-leaping: Poisson increments mod ``S`` with the rates frozen at ``t``."""

    name: ClassVar[str] = "tau-leaping"
    process_type: ClassVar[type] = UniformProcess

    def step(self, ctx: StepContext, z, t, s, index):
        process, length, delta = ctx.process, z.shape[-1], t - s

        def compute(rows, current, index):
            rates = process.increment_rates(rows[0], current, per_position(t, index, length))
            return poisson_value_law(rates, current, per_position(delta, index, length)), None

        return ctx.jump(z, JumpLaw((ctx.denoise(z, t),), z, compute, weight=FOURIER_WEIGHT)), s
