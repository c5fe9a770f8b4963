"""Which positions each call reveals: a sampler wrapper that records the mask patterns entering
every step, and the plan (ordered blocks) a recording follows when it is a single plan."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import torch

from ...samplers.base import Sampler, StepContext
from ...samplers.k_random import KRandom


@dataclass(frozen=True)
class Traced(Sampler):
    """``inner`` run unchanged, appending to ``trace`` the distinct mask patterns (``[P, L]`` bool,
    one row per pattern) of the states entering each step, to tell a single plan from an adaptive
    plan or a mixture."""

    inner: Sampler = field(default_factory=KRandom)
    trace: list = field(default_factory=list, compare=False, repr=False)
    name: ClassVar[str] = "traced"

    @property
    def process_type(self):  # type: ignore[override]
        return self.inner.process_type

    @property
    def calls_per_step(self) -> int:  # type: ignore[override]
        return self.inner.calls_per_step

    @property
    def uses_grid(self) -> bool:  # type: ignore[override]
        return self.inner.uses_grid

    @property
    def takes_steps(self) -> bool:  # type: ignore[override]
        return self.inner.takes_steps

    def resolve(self, steps, length):
        return replace(self, inner=self.inner.resolve(steps, length))

    def active(self, ctx, z, index):
        return self.inner.active(ctx, z, index)

    def max_steps(self, length):
        return self.inner.max_steps(length)

    def step(self, ctx: StepContext, z, t, s, index):
        self.trace.append(torch.unique(ctx.masked(z), dim=0).cpu())
        return self.inner.step(ctx, z, t, s, index)


def blocks_of(trace: list[torch.Tensor]) -> tuple[tuple[int, ...], ...] | None:
    """The plan a trace follows (non-empty blocks ``before & ~after`` of consecutive masks, in
    call order), or None when some call saw more than one mask pattern."""
    if any(len(patterns) != 1 for patterns in trace):
        return None
    masks = [patterns[0] for patterns in trace]
    masks.append(torch.zeros_like(masks[0]))
    blocks = []
    for before, after in zip(masks[:-1], masks[1:], strict=True):
        block = tuple(int(i) for i in (before & ~after).nonzero().flatten())
        if block:
            blocks.append(block)
    return tuple(blocks)
