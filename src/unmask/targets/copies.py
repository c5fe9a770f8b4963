"""``Copies``: one uniform token copied to every position (spec §5.2, the chain with ``eps = 0``).

``pi(x) = 1/V`` if ``x_1 = ... = x_L`` and 0 otherwise. Revealing two different tokens in one
parallel step leaves an impossible context, so this target exercises the impossible-context
convention of :mod:`.base`.
"""

from __future__ import annotations

import torch

from .. import checks
from .markov import MarkovChain


class Copies(MarkovChain):
    """``x_1 ~ Unif{0..V-1}`` and ``x_j = x_1`` for every ``j``: a :class:`MarkovChain` with uniform
    initial law and identity transition."""

    def __init__(self, vocab_size: int, length: int) -> None:
        vocab_size = checks.positive_int("vocab_size", vocab_size)
        initial = torch.full((vocab_size,), 1.0 / vocab_size, dtype=torch.float64, device="cpu")
        super().__init__(initial, torch.eye(vocab_size, dtype=torch.float64, device="cpu"), length)
