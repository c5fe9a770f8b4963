"""Dilated (spread-out) planner for data with local dependence (after Luxembourg, Permuter,
Pesin 2025, "Plan for speed: dilated scheduling for masked diffusion language models").

Step ``j`` reveals ``k_j`` masked positions spread out along the row: no two of them lie in the
same **masked run** (a maximal stretch of consecutive masked positions) unless ``k_j`` exceeds the
number of runs; then longer runs take more, spread apart. Each revealed token is drawn from its
conditional. Sizes come from ``k``, ``sizes`` or ``steps`` exactly as for k-random and top-k.

The choice does not read the model; it is a deterministic function of the mask pattern. Position
``a + o`` of a run of ``m`` masked positions starting at ``a`` gets the key ``vdc(o, m)``: the
van der Corput fraction of ``o`` (its ``w = ceil(log2 m)`` bits reversed, over ``2^w``), so the
run's first position has key 0, then its middle, then its quarters, and so on. Positions are
revealed by ascending key, ties to the lower position (the stable rule of :mod:`.plan`): the first
position of every run comes first (runs in position order), and a run of length ``m`` then takes
picks at about the rate ``m``. On a Markov chain, positions in different runs are independent
given the revealed tokens between them, so a step whose size is at most the number of runs loses
nothing; only the first steps (one long run) pay the factorisation error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .plan import BlockSizes, Planner, first, order


def masked_runs(masked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(offset, run_length)``, LongTensors ``[n, L]``: each masked position's offset from the
    start of its masked run (a maximal stretch of consecutive True in ``masked [n, L]``) and the
    run's length; ``run_length`` is 0 and ``offset`` any value off the runs."""
    n, length = masked.shape
    position = torch.arange(length, device=masked.device).expand(n, length)
    before = torch.nn.functional.pad(masked[:, :-1], (1, 0), value=False)
    starts = masked & ~before
    start = torch.where(starts, position, -1).cummax(-1).values
    offset = (position - start).clamp(min=0)
    run = starts.long().cumsum(-1) * masked  # runs numbered from 1; 0 off the runs
    run_length = torch.zeros(n, length + 1, dtype=torch.long, device=masked.device)
    run_length = run_length.scatter_add(-1, run, masked.long()).gather(-1, run)
    return offset, run_length


def spread_key(masked: torch.Tensor) -> torch.Tensor:
    """Float64 ``[n, L]``: each masked position's van der Corput key within its masked run (0 at
    the first position of every run); any value elsewhere."""
    length = masked.shape[-1]
    offset, run_length = masked_runs(masked)
    width = torch.zeros_like(offset)  # bits of m - 1: ceil(log2 m)
    reversed_ = torch.zeros_like(offset)
    for bit in range(max(length - 1, 1).bit_length()):
        width = width + ((run_length - 1) >> bit > 0).long()
    for bit in range(max(length - 1, 1).bit_length()):
        inside = bit < width
        shift = (width - 1 - bit).clamp(min=0)
        reversed_ = reversed_ + torch.where(inside, ((offset >> bit) & 1) << shift, 0)
    return reversed_.to(torch.float64) / (2.0**width).to(torch.float64)


@dataclass(frozen=True)
class Dilated(BlockSizes, Planner):
    """Reveal ``k`` (or ``sizes[j]``, or one of ``blocks`` even blocks) masked tokens per call,
    spread out: one per masked run first (runs in position order), then more in longer runs,
    spread apart within each run."""

    name: ClassVar[str] = "dilated"

    def __post_init__(self) -> None:
        self._check_sizes()

    def plan(self, probs, masked, index, lengths, free):
        count = self.block_size(index, lengths).minimum(masked.sum(-1))
        return first(order(spread_key(masked), masked), count)
