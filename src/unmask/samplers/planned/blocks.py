"""Semi-autoregressive decoding (block diffusion as in LLaDA, Nie et al. 2025; spec §9.10).

Any planner applied block by block, left to right. A row's free positions are cut into blocks of
``block_length`` consecutive positions, counted from the row's first free position (so a prompt
ends before the first block, as in LLaDA). The **current block** of a row is the first block that
still holds a masked position; only its masked positions are eligible: the inner planner ranks and
counts among them alone, and positions of later blocks stay masked. The model still sees the whole
row (later blocks masked) and is called at the row's masked fraction, as every planner is.

Rows are independent (each has its own current block) and the choice is deterministic given the
state, so the exact law comes from the same step. ``block_length = 1`` is left-to-right ancestral
sampling (exact); a ``block_length`` of at least the row's length is the inner planner itself.

``steps`` (with an inner planner of set sizes, such as top-k) is split over the blocks as LLaDA
does: blocks of a row of ``length`` positions get ``steps`` split as evenly as possible (earlier
blocks first), and each block's tokens are split evenly over its steps. The schedule is laid out
for a row whose free positions are all ``length`` positions; a row with a prompt or padding keeps
the same per-step sizes, each capped by what its current block still holds.

Which ``block_length`` and ``steps`` are legal (``length``: the run's length):

* ``block_length`` must be an integer >= 1. It need not divide ``length``: the last block is then
  shorter (LLaDA requires a divisor; here the remainder is a block of its own), and a
  ``block_length`` above ``length`` makes one block.
* ``steps`` must be at least the number of blocks ``ceil(length / block_length)`` (one call per
  block at least), else :meth:`~SemiAutoregressive.resolve` raises.
* No block takes more steps than it has positions: the share a short last block cannot use goes to
  the other blocks (earlier first), so a full row takes exactly ``min(steps, length)`` calls;
  ``steps > length`` gives one token per call, as k-random does.
* ``steps`` goes with an inner planner of set sizes that has none of its own (top-k or dilated
  without ``k``, ``sizes``, ``blocks``); with ``k``, ``sizes`` or ``blocks`` on the inner planner,
  or an adaptive one (threshold, EB, certified), it raises. Without ``steps``, an inner planner's
  ``k`` or ``sizes`` apply per call, each capped by what the current block still holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import torch

from ... import checks
from ..base import StepContext
from ..block_sizes import even_sizes
from .plan import BlockSizes, Planner
from .top_k import TopK


def current_block(masked: torch.Tensor, free: torch.Tensor, block_length: int) -> torch.Tensor:
    """Bool ``[n, L]``: the positions of each row's current block (the first block of
    ``block_length`` positions, counted from the row's first free position, that holds a position
    of ``masked``); all False in a row with nothing masked."""
    length = masked.shape[-1]
    position = torch.arange(length, device=masked.device).expand_as(masked)
    start = torch.where(free, position, length).amin(-1, keepdim=True)
    block = torch.div(position - start, block_length, rounding_mode="floor")
    current = torch.where(masked, block, length + 1).amin(-1, keepdim=True)
    return block == current


def split_steps(steps: int, widths: tuple[int, ...]) -> tuple[int, ...]:
    """``steps`` split over blocks of ``widths`` positions: as evenly as possible (earlier blocks
    first), no block more steps than positions; the share a block cannot use goes to the blocks
    with room, again evenly. Sums to ``min(steps, sum(widths))``; equals ``even_sizes(steps,
    len(widths))`` whenever no block's share exceeds its width."""
    shares = [0] * len(widths)
    open_ = list(range(len(widths)))
    left = min(steps, sum(widths))
    while left:
        spare = 0
        for j, share in zip(open_, even_sizes(left, len(open_)), strict=True):
            take = min(share, widths[j] - shares[j])
            shares[j] += take
            spare += share - take
        left = spare
        open_ = [j for j in open_ if shares[j] < widths[j]]
    return tuple(shares)


@dataclass(frozen=True)
class SemiAutoregressive(Planner):
    """``inner`` (a planner object) applied to one block of ``block_length`` positions at a time,
    left to right: each call reveals only masked positions of the row's first block that still has
    any, chosen by ``inner`` among them.

    Args:
        inner: the planner that chooses within the block (top-k, threshold, EB, dilated, ...).
        block_length: positions per block (LLaDA uses 32).
        steps: set by :meth:`resolve` from the run's ``steps``.
    """

    inner: Planner = field(default_factory=TopK)
    block_length: int = 32
    steps: int | None = None
    name: ClassVar[str] = "semi-autoregressive"

    def __post_init__(self) -> None:
        checks.instance("inner", self.inner, Planner, "a planner object (top-k, threshold, eb, dilated, ...)")
        checks.positive_int("block_length", self.block_length)
        if self.steps is not None:
            checks.positive_int("steps", self.steps)

    @property
    def takes_steps(self) -> bool:  # type: ignore[override]
        return self.inner.takes_steps

    @property
    def reports_bound(self) -> bool:  # type: ignore[override]
        return self.inner.reports_bound

    @property
    def is_exact(self) -> bool:
        """One eligible position per call: left-to-right ancestral sampling."""
        return self.block_length == 1

    def predicted_order(self, clipped_mass, tv):
        if self.is_exact:
            return "exact", "block_length 1: left-to-right ancestral sampling"
        return self.inner.predicted_order(clipped_mass, tv)

    def resolve(self, steps: int | None, length: int) -> SemiAutoregressive:
        if steps is not None and self.steps == steps:
            return self  # already resolved for these steps
        if steps is None or not isinstance(self.inner, BlockSizes):
            return replace(self, inner=self.inner.resolve(steps, length), steps=steps)
        steps = checks.positive_int("steps", steps)
        given = {name: getattr(self.inner, name) for name in ("k", "sizes", "blocks")}
        if any(value is not None for value in given.values()):
            raise ValueError(
                f"{self.name} got steps={steps} and also its inner {self.inner.name} sizes "
                f"({', '.join(f'{k}={v}' for k, v in given.items())}); give one of them"
            )
        count = -(-length // self.block_length)
        widths = (self.block_length,) * (count - 1) + (length - self.block_length * (count - 1),)
        if steps < len(widths):
            raise ValueError(
                f"{self.name} needs at least one step per block: {len(widths)} blocks of "
                f"{self.block_length} positions on length {length}, got steps={steps}"
            )
        sizes = tuple(
            size
            for width, block_steps in zip(widths, split_steps(steps, widths), strict=True)
            for size in even_sizes(width, block_steps)
        )
        return replace(self, inner=replace(self.inner, sizes=sizes), steps=steps)

    def eligible(self, ctx: StepContext, masked: torch.Tensor) -> torch.Tensor:
        """Bool ``[n, L]``: the masked positions of each row's current block."""
        return masked & current_block(masked, ctx.free, self.block_length)

    def plan(self, probs, masked, index, lengths, free):
        return self.inner.plan(probs, masked, index, lengths, free) & masked
