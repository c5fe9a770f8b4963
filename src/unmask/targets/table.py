"""``Table``: a target given by its whole probability table ``P [V] * L`` (spec §5.1).

Every query is a sum over all ``N = V^L`` sequences ``x`` of ``P[x]`` times a product of
per-position factors ``f[b, j, x_j]``; for a batch of states ``z [B, L]`` the work arrays are
``[B, N]`` in row-major order:

* masked conditionals: ``f[b, j] = onehot(z_j)`` at revealed ``j``, all ones at masked ``j``;
  ``p(x_i = v | z_U) ∝ sum_{x: x_i = v} P[x] prod_j f[b, j, x_j]``;
* leave-one-out: mismatch counts ``m[b, x] = #{j in U: x_j != z_j}`` (capped at 2). ``x`` is
  consistent with ``z_{U \\ {i}}`` iff ``m = 0``, or ``m = 1`` and the mismatch is at ``i``, so
  ``p(x_i = v | z_{U \\ {i}}) ∝ marg_i(P [m = 0])[v] + [i in U, v != z_i] marg_i(P [m = 1])[v]``;
* uniform posterior: ``f[b, j, a] = K_t[a, z_j]`` (every position), then the same marginals.

The product ``prod_j f[b, j, x_j]`` is built as an outer product one position at a time, and the
marginals ``marg_j(W)[v] = sum_{x: x_j = v} W[x]`` by summing out one leading position at a time,
so each costs ``O(N)`` per row (the one-hot matmul of spec §5.1 without storing ``X [N, L]``).
Rows are processed in blocks so that the ``[rows, N]`` work arrays stay near ``2**22`` entries;
within a block nothing loops over rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

from .base import MAX_TABLE_ENTRIES, Target, as_distribution, categorical, digits, flat_index

_BLOCK_ENTRIES = 2**22


class Table(Target):
    """The law ``pi(x) = P[x_1, ..., x_L]`` for an explicit table ``probs`` of shape ``[V] * L``.

    ``probs`` must be non-negative and finite and sum to 1 within ``1e-9`` (about one rounding
    unit per entry for float32 input); it is stored in float64 and renormalised, on its own
    device. At most ``2**22`` entries.
    """

    def __init__(self, probs: Any) -> None:
        if not torch.is_tensor(probs):
            raise TypeError(f"probs must be a tensor of shape [V] * L, got {type(probs).__name__}")
        shape = tuple(probs.shape)
        if len(shape) == 0 or len(set(shape)) != 1 or shape[0] == 0:
            raise ValueError(
                f"probs must have shape [V] * L (every axis of one size V >= 1, L >= 1), got shape {shape}"
            )
        vocab_size, length = shape[0], len(shape)
        if probs.numel() > MAX_TABLE_ENTRIES:
            raise ValueError(
                f"probs has V**L = {vocab_size}**{length} = {probs.numel()} entries, more than the limit "
                f"of 2**22 = {MAX_TABLE_ENTRIES}: a Table sums over every sequence; use a MarkovChain or HMM"
            )
        super().__init__(vocab_size, length, probs.device)
        self._flat = as_distribution("probs", probs.reshape(-1), (None,))  # [N]
        self._log_flat = self._flat.log()
        self._block = max(1, _BLOCK_ENTRIES // self._flat.shape[0])

    # ----------------------------------------------------------------------------- hooks

    def _log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self._log_flat[flat_index(x, self.vocab_size)]

    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return digits(categorical(self._flat, generator, n=n), self.vocab_size, self.length)

    def _probs(self) -> torch.Tensor:
        return self._flat.reshape([self.vocab_size] * self.length).clone()

    def _masked_weights(self, z: torch.Tensor) -> torch.Tensor:
        # Factor at position j: onehot(z_j) if revealed, all ones if masked.
        factors = self._revealed(z) | (z == self.vocab_size).unsqueeze(-1)
        return self._weighted_marginals(factors.to(torch.float64))

    def _leave_one_out_weights(self, z: torch.Tensor) -> torch.Tensor:
        unmasked = (z != self.vocab_size).unsqueeze(-1)
        mismatch = unmasked & ~self._revealed(z)  # [B, L, V]: x_j = v contradicts z_j
        out = torch.empty(*z.shape, self.vocab_size, dtype=torch.float64, device=self.device)
        for rows in self._blocks(z.shape[0]):
            count = self._outer(mismatch[rows].to(torch.uint8), torch.add, cap=2)  # [b, N]
            none = self._marginals(torch.where(count == 0, self._flat, 0.0))
            one = self._marginals(torch.where(count == 1, self._flat, 0.0))
            out[rows] = none + mismatch[rows] * one
        return out

    def _uniform_weights(self, z: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        # Factor at position j: K_t[a, z_j] for every clean a.
        factors = torch.gather(kernel.transpose(1, 2), 1, z.unsqueeze(-1).expand(-1, -1, self.vocab_size))
        return self._weighted_marginals(factors)

    # ----------------------------------------------------------------------------- helpers

    def _revealed(self, z: torch.Tensor) -> torch.Tensor:
        """``[B, L, V]`` bool: ``v == z_j`` (all False at masked positions)."""
        return torch.nn.functional.one_hot(z, self.vocab_size + 1)[..., : self.vocab_size].bool()

    def _blocks(self, batch: int) -> Iterator[slice]:
        for start in range(0, batch, self._block):
            yield slice(start, min(start + self._block, batch))

    @staticmethod
    def _outer(factors: torch.Tensor, op: Callable, cap: int | None = None) -> torch.Tensor:
        """``out[b, x] = op_j factors[b, j, x_j]`` as ``[b, V^L]`` in row-major order, built one
        position at a time from the last (cost ``N + N/V + ...``); ``cap`` clamps integer partial
        results."""
        out = factors[:, -1]
        for j in range(factors.shape[1] - 2, -1, -1):
            out = op(factors[:, j].unsqueeze(-1), out.unsqueeze(1)).flatten(1)
            if cap is not None:
                out.clamp_(max=cap)
        return out

    def _marginals(self, weights: torch.Tensor) -> torch.Tensor:
        """``out[b, j, v] = sum_{x: x_j = v} weights[b, x]`` for ``weights [b, N]``: with
        ``R_j [b, V^(L-j)]`` the sums over positions ``0..j-1``, ``out[:, j] = R_j`` summed over
        positions ``j+1..L-1`` (cost ``O(N)`` in all)."""
        rows = weights.shape[0]
        out = torch.empty(rows, self.length, self.vocab_size, dtype=torch.float64, device=self.device)
        rest = weights
        for j in range(self.length):
            view = rest.reshape(rows, self.vocab_size, -1)  # [b, V (position j), V^(L-1-j)]
            out[:, j] = view.sum(-1)
            rest = view.sum(1)
        return out

    def _weighted_marginals(self, factors: torch.Tensor) -> torch.Tensor:
        """``out[b, i, v] = sum_{x: x_i = v} P[x] prod_j factors[b, j, x_j]`` for ``factors [B, L, V]``."""
        out = torch.empty(*factors.shape, dtype=torch.float64, device=self.device)
        for rows in self._blocks(factors.shape[0]):
            out[rows] = self._marginals(self._flat * self._outer(factors[rows], torch.mul))
        return out
