"""``ChainTarget``: tokens emitted by a hidden first-order Markov chain (shared by ``HMM`` and
``MarkovChain``; spec §5.2).

``pi(x) = sum_h initial[h_1] E[h_1, x_1] prod_{j>1} A[h_{j-1}, h_j] E[h_j, x_j]`` with transition
``A [H, H]`` and emission ``E [H, V]`` (a Markov chain is the case ``E = I``). Every conditional
comes from one :func:`forward_backward` pass over evidence vectors ``e[B, L, H]``:

==============================  ==========================================
position ``j``                  evidence ``e_j[h]``
==============================  ==========================================
masked (``z_j = V``)            ``1``
unmasked                        ``E[h, z_j]``
uniform noise at time ``t``     ``sum_a E[h, a] K_t[a, z_j]``
==============================  ==========================================

Token marginals: ``p(x_j = a | e_{-j}, own_j) ∝ (loo_j @ E)[a] * own_j[a]``, with ``loo_j`` the
hidden leave-one-out marginal and ``own_j[a]`` the evidence that ``x_j = a`` gives itself (1 for
the masked and leave-one-out conditionals, ``K_t[a, z_j]`` for the uniform posterior).
Cost ``O(B L H^2)``: any length.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import checks
from .base import Target, as_distribution, categorical
from .forward_backward import forward_backward


class ChainTarget(Target):
    """Tokens ``x_j ~ E[h_j]`` emitted by a hidden Markov chain ``h`` (``initial``, ``transition``).

    Attributes: ``initial [H]``, ``transition [H, H]``, ``emission [H, V]`` (float64, row-stochastic)
    and ``hidden_size = H``. ``emission=None`` means the identity (a Markov chain on the tokens).
    The tables live on the device of ``initial`` (the CPU when it is not a tensor).
    """

    def __init__(self, initial: Any, transition: Any, emission: Any, length: int) -> None:
        initial = as_distribution("initial", initial, (None,))
        device = initial.device
        hidden = initial.shape[0]
        transition = as_distribution("transition", transition, (hidden, hidden), device)
        identity = torch.eye(hidden, dtype=torch.float64, device=device)
        emission = (
            identity if emission is None else as_distribution("emission", emission, (hidden, None), device)
        )
        super().__init__(emission.shape[1], checks.positive_int("length", length), device)
        self.hidden_size = hidden
        self.initial = initial
        self.transition = transition
        self.emission = emission
        self._identity_emission = hidden == self.vocab_size and torch.equal(emission, identity)

    # ----------------------------------------------------------------------------- hooks

    def _log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return forward_backward(self.initial, self.transition, self._token_evidence(x)).log_likelihood

    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        hidden = torch.empty(n, self.length, dtype=torch.long, device=self.device)
        if n == 0:
            return hidden
        hidden[:, 0] = categorical(self.initial.expand(n, -1), generator)
        for j in range(1, self.length):
            hidden[:, j] = categorical(self.transition[hidden[:, j - 1]], generator)
        if self._identity_emission:
            return hidden
        tokens = categorical(self.emission[hidden.reshape(-1)], generator)
        return tokens.reshape(n, self.length)

    def _probs(self) -> torch.Tensor:
        # joint[x_1..x_j, h_j], grown one position at a time.
        joint = self.emission.T * self.initial  # [V, H]
        for _ in range(1, self.length):
            joint = (joint @ self.transition).unsqueeze(-2) * self.emission.T  # [..., V, H]
        return joint.sum(-1)

    def _masked_weights(self, z: torch.Tensor) -> torch.Tensor:
        # A masked position has evidence 1, so its leave-one-out marginal is its posterior.
        return self._leave_one_out_weights(z)

    def _leave_one_out_weights(self, z: torch.Tensor) -> torch.Tensor:
        result = forward_backward(self.initial, self.transition, self._token_evidence(z))
        return result.leave_one_out @ self.emission

    def _uniform_weights(self, z: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        # own[b, j, a] = K_t[b][a, z_j]
        own = torch.gather(kernel.transpose(1, 2), 1, z.unsqueeze(-1).expand(-1, -1, self.vocab_size))
        result = forward_backward(self.initial, self.transition, own @ self.emission.T)
        return (result.leave_one_out @ self.emission) * own

    # ----------------------------------------------------------------------------- helpers

    def _token_evidence(self, z: torch.Tensor) -> torch.Tensor:
        """``e[B, L, H]``: ``E[:, z_j]`` at revealed positions, ``1`` at masked ones (id ``V``)."""
        unknown = torch.ones(1, self.hidden_size, dtype=torch.float64, device=self.device)
        columns = torch.cat([self.emission.T, unknown])
        return columns[z]
