"""Uniform-process Euler (spec §3).

Per position ``i``, with reverse rates ``Rhat(z -> z^{i <- v})`` at ``t`` and ``Delta = t - s``::

    P_i(v) = Delta Rhat(z -> z^{i <- v})  (v != z_i),    P_i(z_i) = 1 - sum_{v != z_i} P_i(v)

A negative stay mass (``Delta`` too large for the rates) is clipped to 0 and the law renormalised;
the clipped amount, summed over positions, is recorded as ``clipped_mass`` (0 for small ``Delta``).
First order in ``Delta``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...processes import UniformProcess
from ..base import Sampler, StepContext


@dataclass(frozen=True)
class Euler(Sampler):
    """Uniform Euler: one jump law per position from the rates at the left end point."""

    name: ClassVar[str] = "euler"
    process_type: ClassVar[type] = UniformProcess

    def step(self, ctx: StepContext, z, t, s, index):
        return ctx.jump(z, ctx.process.euler_jump(ctx.denoise(z, t), z, t, s)), s
