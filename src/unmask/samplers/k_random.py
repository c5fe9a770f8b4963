"""Random-order sampler with fixed block sizes (Lavenant–Zanella; parallel first-hitting; spec §2.3).

Step ``j`` reveals ``k_j`` masked positions chosen uniformly at random, each drawn independently
from the model's conditional given the revealed tokens. With ``k_j = 1`` it is exact. Sizes come
from ``k`` (the same every step), from ``sizes`` (any schedule), or from ``steps`` (``L`` split as
evenly as possible, larger blocks first). The denoiser is called at the time whose masked fraction
equals the row's current masked fraction, ``t = m^{-1}(n / L)`` (``L`` the positions that exist
in the row, prompt included, padding excluded).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import torch

from .. import checks
from .base import Sampler, StepContext


def even_sizes(total: int, blocks: int) -> tuple[int, ...]:
    """``total`` split into ``blocks`` sizes that differ by at most one, larger first."""
    base, extra = divmod(total, blocks)
    return tuple(base + 1 if j < extra else base for j in range(blocks))


@dataclass(frozen=True)
class KRandom(Sampler):
    """Reveal ``k`` (or ``sizes[j]``, or a block of ``blocks`` even blocks) uniformly chosen masked
    tokens per denoiser call.

    ``blocks`` (set from ``steps``) splits each row's own length ``L_b`` (its existing positions)
    into ``min(blocks, L_b)`` sizes that differ by at most one, larger first, so that a padded row
    takes the blocks it takes alone.
    """

    k: int | None = None
    sizes: tuple[int, ...] | None = None
    blocks: int | None = None
    name: ClassVar[str] = "k-random"
    uses_grid: ClassVar[bool] = False

    def __post_init__(self) -> None:
        given = [name for name in ("k", "sizes", "blocks") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(
                f"give one of k, sizes or blocks to k-random, not several (got k={self.k}, "
                f"sizes={self.sizes}, blocks={self.blocks})"
            )
        if self.k is not None:
            checks.positive_int("k", self.k)
        if self.blocks is not None:
            checks.positive_int("blocks", self.blocks)
        if self.sizes is not None:
            if isinstance(self.sizes, (str, bytes)) or not hasattr(self.sizes, "__iter__"):
                raise TypeError(f"sizes must be a sequence of positive integers, got {self.sizes!r}")
            object.__setattr__(self, "sizes", tuple(self.sizes))
            if not self.sizes:
                raise ValueError("sizes must hold at least one block size, got an empty sequence")
            for size in self.sizes:
                checks.positive_int("sizes[j]", size)

    def resolve(self, steps: int | None, length: int) -> KRandom:
        if steps is not None:
            steps = checks.positive_int("steps", steps)
            if self.blocks == steps:
                return self  # already resolved for these steps
            if self.k is not None or self.sizes is not None or self.blocks is not None:
                raise ValueError(
                    f"k-random got steps={steps} and also k={self.k}, sizes={self.sizes}, "
                    f"blocks={self.blocks}; give one of them"
                )
            return replace(self, blocks=steps)
        if self.sizes is not None and sum(self.sizes) < length:
            raise ValueError(
                f"k-random sizes {self.sizes} sum to {sum(self.sizes)}, fewer than the length {length}"
            )
        if self.k is None and self.sizes is None and self.blocks is None:
            return replace(self, k=1)
        return self

    def sizes_for(self, length: int) -> tuple[int, ...]:
        """The block sizes of a row of ``length`` positions (the last one reveals what remains)."""
        if self.blocks is not None:
            return even_sizes(length, min(self.blocks, length))
        if self.sizes is not None:
            return self.sizes
        return (self.k or 1,) * -(-length // (self.k or 1))

    def block_size(self, index: int, lengths: torch.Tensor) -> torch.Tensor:
        """Tokens to reveal at step ``index`` per row of ``lengths [n]`` (a last block reveals all
        that remain)."""
        if self.blocks is not None:
            blocks = lengths.clamp(max=self.blocks)
            base, extra = torch.div(lengths, blocks, rounding_mode="floor"), lengths % blocks
            size = base + (index < extra).long()
            return torch.where(index >= blocks - 1, lengths, size)
        if self.sizes is None:
            return torch.full_like(lengths, self.k or 1)
        size = self.sizes[index] if index < len(self.sizes) - 1 else None
        return lengths if size is None else torch.full_like(lengths, size)

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
