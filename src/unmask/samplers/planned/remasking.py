"""Low-confidence remasking (LLaDA, Nie et al. 2025; spec §9.10): draw everywhere, keep the surest.

Step ``j`` draws a value at every masked position from its conditional, then keeps the ``k_j``
draws of highest probability ``p(drawn value)`` (ties to the lower position) and masks the others
again. Sizes come from ``k``, ``sizes`` or ``steps`` exactly as for k-random.

The choice depends on the drawn values, so even with ``k = 1`` this is not exact: it favours
probable values. It runs on the context's operations as they are: a reveal of every masked position,
then a remask with probability 1 of the draws not kept, so its exact law comes from the same
step; the path log-probability (``result.log_prob``) includes the draws that were masked again.
LLaDA's Gumbel temperature is not offered: every draw is from the model's own conditional.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..base import Sampler
from .plan import BlockSizes, first, masked_time, on_tie_grid, order


@dataclass(frozen=True)
class LowConfidenceRemasking(BlockSizes, Sampler):
    """Draw every masked token, keep the ``k`` (or ``sizes[j]``, or one of ``blocks`` even blocks)
    most probable draws and mask the rest again."""

    name: ClassVar[str] = "low-confidence-remasking"
    uses_grid: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self._check_sizes()

    def predicted_order(self, clipped_mass, tv):
        return "none", "keeps the most probable draws: biased towards probable values at any k"

    def step(self, ctx, z, t, s, index):
        masked, lengths = ctx.masked(z), ctx.lengths
        remaining = masked.sum(-1)
        probs = ctx.denoise(z, masked_time(ctx, remaining, lengths))
        count = self.block_size(index, lengths).minimum(remaining)
        t_next = masked_time(ctx, remaining - count, lengths)
        drawn, confidence = ctx.reveal_scored(z, masked, probs)
        masked, count = ctx.align(masked), ctx.align(count)
        keep = first(order(on_tie_grid(-confidence), masked), count)
        return ctx.remask(drawn, masked & ~keep), t_next
