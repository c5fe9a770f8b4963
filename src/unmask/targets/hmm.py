"""``HMM``: tokens emitted by a hidden Markov chain (spec §5.2).

``pi(x) = sum_h initial[h_1] E[h_1, x_1] prod_{j>1} A[h_{j-1}, h_j] E[h_j, x_j]``. Revealed tokens
enter the forward-backward as evidence ``E[:, z_j]``, uniform noise as ``E @ K_t[:, z_j]``, masked
positions as ``1`` (see :mod:`.chain`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import checks
from .chain import ChainTarget


class HMM(ChainTarget):
    """Hidden chain ``(initial [H], transition [H, H])`` emitting the tokens through
    ``emission [H, V]`` (``E[h, v] = p(x_j = v | h_j = h)``) over ``length`` positions."""

    def __init__(self, initial: Any, transition: Any, emission: Any, length: int) -> None:
        super().__init__(initial, transition, emission, length)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(hidden_size={self.hidden_size}, vocab_size={self.vocab_size}, "
            f"length={self.length})"
        )

    @classmethod
    def random(
        cls, hidden_size: int, vocab_size: int, length: int, concentration: float = 1.0, seed: int = 0
    ) -> HMM:
        """An HMM whose initial law, transition rows and emission rows are ``Dirichlet(concentration)``
        draws from ``numpy.random.default_rng(seed)`` (in that order). Always returns a plain
        :class:`HMM`."""
        hidden_size = checks.positive_int("hidden_size", hidden_size)
        vocab_size = checks.positive_int("vocab_size", vocab_size)
        concentration = checks.positive_float("concentration", concentration)
        seed = checks.seed("seed", seed)
        rng = np.random.default_rng(seed)
        initial = torch.from_numpy(rng.dirichlet(np.full(hidden_size, concentration)))
        transition = torch.from_numpy(rng.dirichlet(np.full(hidden_size, concentration), size=hidden_size))
        emission = torch.from_numpy(rng.dirichlet(np.full(vocab_size, concentration), size=hidden_size))
        return HMM(initial, transition, emission, length)
