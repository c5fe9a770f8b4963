"""First-hitting sampler (Zheng et al. 2024; spec §2.2): exact, one token per denoiser call.

With ``n`` tokens masked at time ``t``, each stays masked until ``s`` with probability
``m(s)/m(t)`` (``m = 1 - alpha``), independently, so the first unmasking time ``tau`` solves
``m(tau) = m(t) u^(1/n)`` with ``u ~ U(0, 1)``. At ``tau`` one masked position, uniform among the
masked ones, is revealed from ``p(. | z, tau)``. Rows finish at different times; each row uses one
call per masked token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import Sampler, StepContext


@dataclass(frozen=True)
class FirstHitting(Sampler):
    """Exact event-driven sampler: the next unmasking time is drawn exactly (computed in log space)."""

    name: ClassVar[str] = "first-hitting"
    uses_grid: ClassVar[bool] = False
    exact: ClassVar[bool] = True
    takes_steps: ClassVar[bool] = False

    def step(self, ctx: StepContext, z, t, s, index):
        schedule = ctx.process.schedule
        remaining = ctx.masked(z).sum(-1)
        u = ctx.uniform(z)
        shrink = torch.exp(torch.log(u) / remaining.clamp(min=1))
        hit = schedule.time_of_masked_fraction(schedule.masked_fraction(t) * shrink)
        t_next = torch.where(remaining > 0, hit, t)
        probs = ctx.denoise(z, t_next)
        return ctx.choose(z, (remaining > 0).long(), probs), t_next
