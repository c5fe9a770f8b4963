"""``default_target()``: the built-in HMM that training runs learn when no data is named.

Hidden chain of ``H = 2`` states over ``L = 8`` positions (by default) emitting ``V = 4`` tokens;
state ``h`` emits only the tokens ``2h, 2h + 1``, so the tokens reveal the hidden path and the
entropy of the sequence law is exact at any length (:func:`~.entropy.exact_entropy`). Its
parameters are drawn from ``numpy.random.default_rng(seed)``:

* ``initial``: uniform over the 2 states;
* ``transition``: ``0.8 I + 0.2 D`` with the rows of ``D`` drawn ``Dirichlet(1, 1)`` (sticky
  states);
* ``emission``: state ``h`` puts ``Dirichlet(1, 1)`` weights on its 2 tokens (drawn after the
  transition rows, state by state).

It is small on purpose: ``V^L = 4^8 = 65,536`` sequences, so the exact output law of any sampler
driven by a trained model (``unmask.exact.run_law(..., denoiser=model)``) is computable, and a
training run reports the exact KL of its samples to the target. With the default ``seed = 0`` the
exact entropy is 1.069 nats per token (``log 4 = 1.386``; a model that ignores the context cannot
go below the entropy of the token marginals, about 1.305), so a denoiser has structure to learn.
"""

from __future__ import annotations

import numpy as np
import torch

from ... import checks
from ...targets import HMM

#: Hidden states of the default target.
HIDDEN_SIZE = 2
#: Tokens each hidden state emits (disjoint blocks), so ``V = HIDDEN_SIZE * TOKENS_PER_STATE = 4``.
TOKENS_PER_STATE = 2
#: Extra probability of staying in the same hidden state.
STAY = 0.8
#: Default sequence length.
LENGTH = 8


def default_target(length: int = LENGTH, seed: int = 0) -> HMM:
    """The built-in HMM (module docstring): ``V = 4`` tokens, ``H = 2`` hidden states, ``length``
    positions, parameters drawn from ``numpy.random.default_rng(seed)``."""
    length = checks.positive_int("length", length)
    seed = checks.seed("seed", seed)
    rng = np.random.default_rng(seed)
    ones = np.ones(HIDDEN_SIZE)
    transition = STAY * np.eye(HIDDEN_SIZE) + (1 - STAY) * rng.dirichlet(ones, size=HIDDEN_SIZE)
    emission = np.zeros((HIDDEN_SIZE, HIDDEN_SIZE * TOKENS_PER_STATE))
    for state in range(HIDDEN_SIZE):
        block = slice(state * TOKENS_PER_STATE, (state + 1) * TOKENS_PER_STATE)
        emission[state, block] = rng.dirichlet(np.ones(TOKENS_PER_STATE))
    initial = torch.full((HIDDEN_SIZE,), 1.0 / HIDDEN_SIZE, dtype=torch.float64, device="cpu")
    return HMM(initial, torch.from_numpy(transition), torch.from_numpy(emission), length)
