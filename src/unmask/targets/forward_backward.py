"""Batched, scaled forward-backward for a first-order hidden Markov chain (spec §5.2), in float64.

Hidden chain ``h_1..h_L`` with ``p(h_1) = initial`` and ``p(h_j | h_{j-1}) = transition[h_{j-1}, h_j]``;
position ``j`` carries a non-negative evidence vector ``e_j[h]`` (a likelihood of what is observed
there given ``h_j = h``). With messages normalised at every step:

* forward:  ``f_1 ∝ initial * e_1``, ``pred_j = f_{j-1} @ A``, ``f_j ∝ pred_j * e_j``
  (``pred_1 = initial``); the normalisers ``c_j`` give ``log p(e) = sum_j log c_j``;
* backward: ``b_L = 1``, ``b_j ∝ (e_{j+1} * b_{j+1}) @ A^T``;
* posterior ``p(h_j | e_1..e_L) ∝ f_j * b_j``; leave-one-out ``p(h_j | e_{-j}) ∝ pred_j * b_j``.

Impossible evidence (total probability 0) never produces NaN: a message whose sum is 0 stays 0
(it is divided by 1), so the affected posterior rows are exactly 0, ``log p(e) = -inf`` and the
row is flagged in ``impossible``. A leave-one-out row of zeros marks ``p(e_{-j}) = 0``.
Cost ``O(B L S^2)``; the only Python loop runs over positions.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class ForwardBackward(NamedTuple):
    """Result of :func:`forward_backward` (all float64 except ``impossible``).

    Fields:
        posterior: ``[B, L, S]``, ``p(h_j | all evidence)``; rows of zeros where ``impossible``.
        leave_one_out: ``[B, L, S]``, ``p(h_j | evidence at every position but j)``; a row of
            zeros where that evidence has probability 0.
        log_likelihood: ``[B]``, ``log p(evidence) = log sum_h prod ...``; ``-inf`` if impossible.
        impossible: bool ``[B]``, whether the evidence of the row has probability 0.
    """

    posterior: torch.Tensor
    leave_one_out: torch.Tensor
    log_likelihood: torch.Tensor
    impossible: torch.Tensor


def _normalise(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(m / m.sum(-1), m.sum(-1))``, dividing by 1 where the sum is 0 (the row stays 0)."""
    total = m.sum(-1, keepdim=True)
    return m / torch.where(total > 0, total, torch.ones_like(total)), total.squeeze(-1)


def forward_backward(
    initial: torch.Tensor, transition: torch.Tensor, evidence: torch.Tensor
) -> ForwardBackward:
    """Posterior and leave-one-out marginals of the hidden states, and ``log p(evidence)``.

    Args:
        initial: ``[S]``, the law of ``h_1``.
        transition: ``[S, S]``, row-stochastic ``A[h, h'] = p(h_{j+1} = h' | h_j = h)``.
        evidence: ``[B, L, S]``, non-negative likelihoods ``e_j[h]`` (1 = no information).

    Returns:
        :class:`ForwardBackward` with shapes ``[B, L, S]``, ``[B, L, S]``, ``[B]``, ``[B]``, on the
        device of the inputs (which must share one device).
    """
    for name, value in (("initial", initial), ("transition", transition), ("evidence", evidence)):
        if not torch.is_tensor(value):
            raise TypeError(f"{name} must be a tensor, got {type(value).__name__}")
    if initial.dim() != 1 or initial.shape[0] == 0:
        raise ValueError(f"initial must have shape [S] with S >= 1, got shape {tuple(initial.shape)}")
    size = initial.shape[0]
    if tuple(transition.shape) != (size, size):
        raise ValueError(
            f"transition must have shape [S, S] = [{size}, {size}], got shape {tuple(transition.shape)}"
        )
    if evidence.dim() != 3 or evidence.shape[2] != size or evidence.shape[1] == 0:
        raise ValueError(
            f"evidence must have shape [B, L, S] with L >= 1 and S = {size}, "
            f"got shape {tuple(evidence.shape)}"
        )
    initial = initial.to(torch.float64)
    transition = transition.to(torch.float64)
    evidence = evidence.to(torch.float64)
    if bool((evidence < 0).any()) or bool(torch.isnan(evidence).any()):
        raise ValueError("evidence must hold non-negative likelihoods, got a negative or NaN entry")

    batch, length, _ = evidence.shape
    forward = torch.empty_like(evidence)
    predicted = torch.empty_like(evidence)
    backward = torch.empty_like(evidence)

    predicted[:, 0] = initial
    forward[:, 0], norm = _normalise(initial * evidence[:, 0])
    log_likelihood = norm.log()
    for j in range(1, length):
        predicted[:, j] = forward[:, j - 1] @ transition
        forward[:, j], norm = _normalise(predicted[:, j] * evidence[:, j])
        log_likelihood = log_likelihood + norm.log()

    backward[:, length - 1] = 1.0
    for j in range(length - 2, -1, -1):
        backward[:, j], _ = _normalise((evidence[:, j + 1] * backward[:, j + 1]) @ transition.T)

    posterior, _ = _normalise(forward * backward)
    leave_one_out, _ = _normalise(predicted * backward)
    impossible = torch.isneginf(log_likelihood)
    return ForwardBackward(posterior, leave_one_out, log_likelihood, impossible)
