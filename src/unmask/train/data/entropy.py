"""Exact Shannon entropy ``H(pi) = -sum_x pi(x) log pi(x)`` (nats per sequence) of an exact target.

It is the benchmark a trained model's validation NELBO is compared with, so only exact methods
are used, chosen in this order:

1. **Chains whose tokens reveal the hidden state** (a :class:`~unmask.targets.MarkovChain`, or an
   :class:`~unmask.targets.HMM` in which every token is emitted by at most one hidden state). The
   hidden path is then a function of the tokens, so ``H(X) = H(X, H) = H(H) + sum_j H(X_j | H_j)``:

   ``H(X) = H(initial) + sum_{j=2..L} sum_h p_{j-1}(h) H(A[h]) + sum_{j=1..L} sum_h p_j(h) H(E[h])``

   with ``p_j`` the law of the hidden state at position ``j`` (``p_1 = initial``,
   ``p_{j+1} = p_j A``). Cost ``O(L H^2)``: any length.
2. **Any target with a dense table** (``V**L <= 2**22``): ``-sum p log p`` over ``probs()``.

Otherwise (an HMM whose emissions overlap, with ``V**L > 2**22``) the entropy of the token law has
no exact finite formula and :func:`exact_entropy` raises ``ValueError``. All sums are float64.
"""

from __future__ import annotations

import torch
from torch.special import xlogy

from ... import checks
from ...targets import Target
from ...targets.base import MAX_TABLE_ENTRIES
from ...targets.chain import ChainTarget


def _row_entropy(probs: torch.Tensor) -> torch.Tensor:
    """``-sum_v p_v log p_v`` along the last axis (``0 log 0 = 0``), float64."""
    return -xlogy(probs, probs).sum(-1)


def _hidden_state_is_revealed(target: Target) -> bool:
    """Whether ``target`` is a chain whose every token has positive emission probability from at
    most one hidden state (the identity emission of a Markov chain included)."""
    if not isinstance(target, ChainTarget):
        return False
    return bool(((target.emission > 0).sum(0) <= 1).all())


def _revealed_chain_entropy(target: ChainTarget) -> float:
    """``H(H) + sum_j H(X_j | H_j)`` (module docstring, case 1)."""
    transition_entropy = _row_entropy(target.transition)  # [H]
    emission_entropy = _row_entropy(target.emission)  # [H]
    state = target.initial  # p_1
    total = _row_entropy(state) + state @ emission_entropy
    for _ in range(1, target.length):
        total = total + state @ transition_entropy
        state = state @ target.transition
        total = total + state @ emission_entropy
    return float(total)


def has_exact_entropy(target: Target) -> bool:
    """Whether :func:`exact_entropy` can compute the entropy of ``target`` exactly."""
    checks.instance("target", target, Target, "an exact target (unmask.targets.Target)")
    return _hidden_state_is_revealed(target) or target.vocab_size**target.length <= MAX_TABLE_ENTRIES


def exact_entropy(target: Target) -> float:
    """The exact entropy of the law of ``target`` in nats per sequence (a Python float).

    Raises ``ValueError`` for an HMM whose emissions overlap when ``V**L > 2**22`` (module
    docstring); :func:`has_exact_entropy` says beforehand.
    """
    checks.instance("target", target, Target, "an exact target (unmask.targets.Target)")
    if _hidden_state_is_revealed(target):
        return _revealed_chain_entropy(target)
    if target.vocab_size**target.length <= MAX_TABLE_ENTRIES:
        return float(_row_entropy(target.probs().reshape(-1)))
    raise ValueError(
        f"target {target!r} has no exact entropy: its hidden state is not revealed by the tokens "
        "(some token is emitted by two hidden states) and its table has V**L = "
        f"{target.vocab_size}**{target.length} entries, more than 2**22 to enumerate; use an HMM whose "
        "states emit disjoint sets of tokens (as default_target() does), a Markov chain, or a shorter length"
    )
