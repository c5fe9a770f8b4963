"""Uniform-process Tweedie / analytic step (spec §1.2, §3).

Each position draws ``z_s^i`` from its exact reverse marginal
``p(z_s^i = b | z_t) = sum_a p(a | z_t) K_{t|s}[b, z_t^i] K_s[a, b] / K_t[a, z_t^i]``
(:meth:`unmask.UniformProcess.tweedie_law`), independently over positions. The only error is that
factorisation; on a target with independent positions one step is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...processes import UniformProcess
from ..base import Sampler, StepContext


@dataclass(frozen=True)
class Tweedie(Sampler):
    """Uniform Tweedie: the exact per-position reverse marginal, positions drawn independently."""

    name: ClassVar[str] = "tweedie"
    process_type: ClassVar[type] = UniformProcess

    def step(self, ctx: StepContext, z, t, s, index):
        return ctx.jump(z, ctx.process.tweedie_jump(ctx.denoise(z, t), z, t, s)), s
