"""``CyclicHMM``: the chain of the informed-corrector experiments (spec §4.8, §5.2).

``A[i, i] = p``, ``A[i, (i+1) mod V] = 1 - p``, uniform first token. Under this law every
adjacent pair ``(x_j, x_{j+1})`` is either equal or a ``+1 (mod V)`` step; any other pair is an
error, and :meth:`CyclicHMM.error_rate` measures their fraction.
"""

from __future__ import annotations

import torch

from .. import checks
from .markov import MarkovChain


class CyclicHMM(MarkovChain):
    """The cyclic chain with stay probability ``p`` (``A[i, i] = p``, ``A[i, i+1 mod V] = 1 - p``)."""

    def __init__(self, vocab_size: int, length: int, p: float) -> None:
        vocab_size = checks.positive_int("vocab_size", vocab_size)
        self.p = checks.probability("p", p)
        states = torch.arange(vocab_size, device="cpu")
        transition = torch.zeros(vocab_size, vocab_size, dtype=torch.float64, device="cpu")
        stay = torch.tensor(self.p, dtype=torch.float64, device="cpu")
        transition.index_put_((states, states), stay, accumulate=True)
        transition.index_put_((states, (states + 1) % vocab_size), 1 - stay, accumulate=True)
        initial = torch.full((vocab_size,), 1.0 / vocab_size, dtype=torch.float64, device="cpu")
        super().__init__(initial, transition, length)

    def __repr__(self) -> str:
        return f"CyclicHMM(vocab_size={self.vocab_size}, length={self.length}, p={self.p})"

    def error_rate(self, x: torch.Tensor) -> torch.Tensor:
        """Fraction of adjacent pairs of ``x [B, L]`` that are neither equal nor a ``+1 (mod V)``
        step: ``#{j: x_{j+1} - x_j mod V not in {0, 1}} / (L - 1)``. float64 ``[B]``; 0 when ``L = 1``."""
        x = self._check_tokens("x", x, allow_mask=False)
        if self.length == 1:
            return torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
        step = (x[:, 1:] - x[:, :-1]) % self.vocab_size
        errors = (step != 0) & (step != 1 % self.vocab_size)
        return errors.to(torch.float64).mean(-1)
