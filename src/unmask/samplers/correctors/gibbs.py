"""Uniform Gibbs corrector (spec §4.8): one clean position, chosen uniformly, resampled from its
leave-one-out conditional. With exact conditionals this is a Gibbs kernel: the mask-conditional law
``pi(x_U)`` is exactly invariant, so the total variation to it can only decrease."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ... import checks
from ..base import StepContext
from .base import Corrector


@dataclass(frozen=True)
class UniformGibbs(Corrector):
    """Resample ``k`` clean free positions chosen uniformly without replacement (``k = 1``: an exact
    Gibbs kernel; ``k > 1`` a parallel update with a factorisation error) from their leave-one-out
    conditionals."""

    k: int = 1
    name: ClassVar[str] = "gibbs"

    def __post_init__(self) -> None:
        checks.positive_int("k", self.k)

    @property
    def keeps_target(self) -> bool:  # type: ignore[override]
        return self.k == 1

    def correct(self, ctx: StepContext, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        count = torch.full((z.shape[0],), self.k, dtype=torch.long, device=z.device)
        z, chosen = ctx.select(z, ctx.clean(z), count)
        # The conditionals are read after the choice: they then belong to the rows of z as they are.
        loo = ctx.loo(z, ctx.align(t))
        return ctx.resample(z, chosen, loo)
