"""The one loop that runs a sampler, shared by the drawing driver and the exact-law runner.

Each step: the sampler says which rows still take steps (:meth:`Sampler.active`); the context
opens a step on those rows (:meth:`Frames.begin_step`; the drawing context reads the device
once here, which is the step's stopping test) or reports that none is left; the sampler's step
runs on them; the context closes the step (the drawing context writes the rows back, the exact
one merges equal states). After the steps, the process makes its last move (spec §9.2) in one
more step on the rows that need it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from .base import Sampler, StepContext

#: The step index of the process' final move (keys its random draws apart from every step's).
FINAL_STEP = -1

OnStep = Callable[[int, int | None, torch.Tensor], None]
#: ``stop(z [n, L]) -> bool [n]``: the rows that have ended (see :func:`run_steps`).
Stop = Callable[[torch.Tensor], torch.Tensor]


class Frames(Protocol):
    """What the loop asks of a step context besides the sampler's operations."""

    def begin_step(
        self, index: int, active: torch.Tensor, z: torch.Tensor, t: torch.Tensor, s: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None:
        """Open step ``index`` on the rows of ``z [n, L]`` where ``active [n]`` holds: their states,
        times and next grid times (``s`` is a scalar or None); None when no row is active."""

    def end_step(self, z: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Close the step: the step's new states and times (one row per state at the start of
        the step) merged back into the whole state."""


def run_steps(
    sampler: Sampler,
    ctx: StepContext,
    z: torch.Tensor,
    t: torch.Tensor,
    times: torch.Tensor | None,
    final_denoise: bool,
    on_step: OnStep | None = None,
    stop: Stop | None = None,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Run ``sampler`` from states ``z [n, L]`` at times ``t [n]`` until it is done, then the final
    move. ``times``: the grid (grid samplers) or None. ``stop``: rows where ``stop(z)`` holds
    before a step take no more steps and skip the final move (a row that has ended: their masked
    positions stay masked). Returns ``(z, t, steps taken)``."""
    total = None if times is None else len(times) - 1
    limit = sampler.max_steps(z.shape[-1])
    index = 0
    while total is None or index < total:
        s = None if times is None else times[index + 1]
        active = sampler.active(ctx, z, index)
        if stop is not None:
            active = active & ~stop(z)
        frame = ctx.begin_step(index, active, z, t, s)
        if frame is None:
            break
        if limit is not None and index >= limit:
            raise RuntimeError(
                f"sampler {sampler.name!r} still had rows to work on after {limit} steps; this is a bug"
            )
        z_step, t_step, s_step = frame
        z_next, t_next = sampler.step(ctx, z_step, t_step, s_step, index)
        z, t = ctx.end_step(z_next, t_next)
        del frame, z_step, z_next  # the step's states are dropped: a context may reuse their memory
        index += 1
        if on_step is not None:
            on_step(index, total, z)
    finishing = ctx.process.finishing_rows(ctx, z, final_denoise)
    if stop is not None:
        finishing = finishing & ~stop(z)
    frame = ctx.begin_step(FINAL_STEP, finishing, z, t, None)
    if frame is not None:
        z_step, t_step, _ = frame
        z, t = ctx.end_step(ctx.process.finish(ctx, z_step, t_step, final_denoise), t_step)
    return z, t, index
