"""Uninformed forward-backward corrector (spec §2.6, §4.8; the baseline of the informed-corrector
paper).

One move at time ``t``: the **forward** (noising) move remasks some clean free positions, chosen
without looking at their values; the **backward** move reveals exactly those positions again, each
drawn independently from the model's conditionals ``denoise(z', t)`` given the remasked state
``z'``. The mask set is the same after the move as before it, as for every corrector. Which
positions are remasked:

* ``k`` (default 1): ``k`` clean free positions chosen uniformly without replacement;
* ``p``: each clean free position independently with probability ``p``.

With one remasked position (``k = 1``) and exact conditionals, ``denoise(z', t)`` at that position
is its leave-one-out conditional, so the move is the uniform Gibbs kernel and keeps the
mask-conditional law ``pi(x_U)`` invariant. With several remasked positions they are revealed in
parallel from factorised conditionals (a factorisation error, as in a predictor step): the move
is then not exact, and it can create pairs that the target forbids. One move makes one denoiser
call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ... import checks
from ..base import StepContext
from .base import Corrector


@dataclass(frozen=True)
class ForwardBackward(Corrector):
    """Remask ``k`` uniformly chosen clean free positions (or each with probability ``p``), then
    reveal them again from the model's conditionals given the remasked state.

    Args:
        k: positions remasked per move (chosen uniformly without replacement; at most the
            clean free positions there are). Leave it at 1 when ``p`` is given: ``p`` with another
            ``k`` raises.
        p: if given, each clean free position is remasked independently with this probability
            (``0 <= p <= 1``) instead.
    """

    k: int = 1
    p: float | None = None
    name: ClassVar[str] = "forward-backward"

    def __post_init__(self) -> None:
        checks.positive_int("k", self.k)
        if self.p is not None:
            object.__setattr__(self, "p", checks.probability("p", self.p))
            if self.k != 1:
                raise ValueError(
                    f"{self.name} takes k (positions per move) or p (a probability per position), "
                    f"not both: got k={self.k}, p={self.p}; drop k to remask each position with p"
                )

    @property
    def keeps_target(self) -> bool:  # type: ignore[override]
        # One remasked position: the uniform Gibbs kernel. Bernoulli remasking may remask several.
        return self.p is None and self.k == 1 or self.p == 0

    def correct(self, ctx: StepContext, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # Forward: remask, recording which positions the move remasked.
        if self.p is None:
            count = torch.full((z.shape[0],), self.k, dtype=torch.long, device=z.device)
            z, chosen = ctx.select(z, ctx.clean(z), count)
            z = torch.where(chosen, torch.full_like(z, ctx.vocab_size), z)
        else:
            was_masked = ctx.masked(z)
            z = ctx.remask(z, torch.full((z.shape[0], 1), self.p, dtype=torch.float64, device=z.device))
            chosen = ctx.masked(z) & ~ctx.align(was_masked)
        # Backward: reveal the remasked positions from the conditionals of the rows as they are now.
        probs = ctx.denoise(z, ctx.align(t))
        return ctx.reveal(z, chosen, probs)
