"""``MarkovChain``: a first-order Markov chain on the tokens (spec §5.2).

``pi(x) = initial[x_1] prod_{j=2..L} A[x_{j-1}, x_j]``. Conditionals come from the batched
forward-backward of :mod:`.forward_backward` with one-hot evidence at revealed positions (a
:class:`~.chain.ChainTarget` whose emission is the identity), so any length is cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import checks
from .chain import ChainTarget


class MarkovChain(ChainTarget):
    """A Markov chain with ``initial [V]`` (law of ``x_1``) and row-stochastic ``transition [V, V]``
    (``A[a, b] = p(x_{j+1} = b | x_j = a)``) over ``length`` positions."""

    def __init__(self, initial: Any, transition: Any, length: int) -> None:
        super().__init__(initial, transition, None, length)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, length={self.length})"

    @classmethod
    def random(cls, vocab_size: int, length: int, concentration: float = 1.0, seed: int = 0) -> MarkovChain:
        """A chain with a ``Dirichlet(concentration)`` initial law and ``Dirichlet(concentration)``
        transition rows, drawn from ``numpy.random.default_rng(seed)`` (initial first, then the
        ``V`` rows). Small concentrations give peaked, strongly dependent chains.

        Always returns a plain :class:`MarkovChain`.
        """
        vocab_size = checks.positive_int("vocab_size", vocab_size)
        concentration = checks.positive_float("concentration", concentration)
        seed = checks.seed("seed", seed)
        rng = np.random.default_rng(seed)
        alpha = np.full(vocab_size, concentration)
        initial = torch.from_numpy(rng.dirichlet(alpha))
        transition = torch.from_numpy(rng.dirichlet(alpha, size=vocab_size))
        return MarkovChain(initial, transition, length)

    @classmethod
    def mixing(cls, vocab_size: int, length: int, eps: float, initial: Any = None) -> MarkovChain:
        """The chain ``A = (1 - eps) I + eps E/V`` (``E`` all ones): each step keeps the token with
        probability ``1 - eps`` and otherwise redraws it uniformly. ``initial`` defaults to uniform.

        ``eps = 0`` is the copies chain; ``eps = 1`` makes the tokens independent. The tables live
        on the device of ``initial`` when it is a tensor, else on the CPU. Always returns a plain
        :class:`MarkovChain`.
        """
        vocab_size = checks.positive_int("vocab_size", vocab_size)
        eps = checks.probability("eps", eps)
        device = initial.device if torch.is_tensor(initial) else torch.device("cpu")
        eye = torch.eye(vocab_size, dtype=torch.float64, device=device)
        transition = (1 - eps) * eye + eps / vocab_size
        if initial is None:
            initial = torch.full((vocab_size,), 1.0 / vocab_size, dtype=torch.float64, device=device)
        return MarkovChain(initial, transition, length)

    def _probs(self) -> torch.Tensor:
        # pi[x_1..x_j] * A[x_j, x_{j+1}], one broadcast product per position.
        table = self.initial
        for _ in range(1, self.length):
            table = table.unsqueeze(-1) * self.transition
        return table
