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

from ..base import Sampler, StepContext


@dataclass(frozen=True)
class Euler(Sampler):
    """Uniform Euler: one jump law per position from the rates at the left end point."""

    name: ClassVar[str] = "euler"
    process_kind: ClassVar[str] = "uniform"

    def step(self, ctx: StepContext, z, t, s, index):
        probs = ctx.denoise(z, t).dense()
        moves = ctx.process.reverse_rates(probs, z, t).mul_((t - s)[:, None, None])  # [n, L, S]
        stay = 1 - moves.sum(-1)  # the diagonal of the rates is 0
        ctx.record("clipped_mass", (-stay).clamp(min=0).sum(-1))
        law = moves.scatter_(-1, z.unsqueeze(-1), stay.clamp(min=0).unsqueeze(-1))
        total = law.sum(-1, keepdim=True)
        # In place unless the model's gradients flow through (autograd needs law to divide it).
        law = law / total if law.requires_grad else law.div_(total)
        return ctx.jump(z, law), s
