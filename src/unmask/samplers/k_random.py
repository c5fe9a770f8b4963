"""Random-order sampler with fixed block sizes (Lavenant–Zanella; parallel first-hitting; spec §2.3).

Step ``j`` reveals ``k_j`` masked positions chosen uniformly at random, each drawn independently
from the model's conditional given the revealed tokens. With ``k_j = 1`` it is exact. Sizes come
from ``k`` (the same every step), from ``sizes`` (any schedule summing to at least ``L``; each
step is capped by what is still masked), or from ``steps`` (``L`` split as
evenly as possible, larger blocks first). The denoiser is called at the time whose masked fraction
equals the row's current masked fraction, ``t = m^{-1}(n / L)`` (``L`` the positions that exist
in the row, prompt included, padding excluded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import Sampler, StepContext
from .block_sizes import BlockSizes


@dataclass(frozen=True)
class KRandom(BlockSizes, Sampler):
    """Reveal ``k`` (or ``sizes[j]``, or a block of ``blocks`` even blocks) uniformly chosen masked
    tokens per denoiser call.

    ``blocks`` (set from ``steps``) splits each row's own length ``L_b`` (its existing positions)
    into ``min(blocks, L_b)`` sizes that differ by at most one, larger first, so that a padded row
    takes the blocks it takes alone.
    """

    name: ClassVar[str] = "k-random"
    uses_grid: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self._check_sizes()

    def predicted_order(self, clipped_mass, tv):
        return "1", "first order in steps/L; exact (one token per call) once steps reach L"

    def step(self, ctx: StepContext, z, t, s, index):
        schedule = ctx.process.schedule
        remaining = ctx.masked(z).sum(-1)
        lengths = ctx.lengths
        count = self.block_size(index, lengths).minimum(remaining)
        t_now = schedule.time_of_masked_fraction(remaining / lengths.to(torch.float64))
        probs = ctx.denoise(z, t_now)
        z_next = ctx.choose(z, count, probs)
        return z_next, schedule.time_of_masked_fraction((remaining - count) / lengths.to(torch.float64))
