"""Information profile of a small target (spec §7.1–§7.2).

``hbar_k`` is the average joint entropy of ``k`` positions chosen uniformly at random, and
``H_i = hbar_{i+1} - hbar_i`` the average entropy of a fresh token when ``i`` random tokens are
revealed. ``sum_i H_i = H(pi)``; ``H_i`` is non-increasing.
"""

from __future__ import annotations

import itertools

import torch

from .metrics import entropy

MAX_PROFILE_LENGTH = 14


def subset_entropies(table: torch.Tensor) -> torch.Tensor:
    """``hbar [L + 1]``: average joint entropy (nats) of ``k`` random positions, ``k = 0..L``.

    Exact: marginalises ``table [V] * L`` onto each of the ``2^L`` position subsets.
    """
    length = table.dim()
    if length > MAX_PROFILE_LENGTH:
        raise ValueError(
            f"the information profile enumerates 2^L position subsets; L = {length} is above "
            f"{MAX_PROFILE_LENGTH}"
        )
    table = table.to(torch.float64)
    hbar = torch.zeros(length + 1, dtype=torch.float64)
    for k in range(1, length + 1):
        subsets = list(itertools.combinations(range(length), k))
        total = 0.0
        for subset in subsets:
            others = tuple(i for i in range(length) if i not in subset)
            total += entropy(table.sum(dim=others) if others else table)
        hbar[k] = total / len(subsets)
    return hbar


def information_profile(table: torch.Tensor) -> torch.Tensor:
    """``H [L]``: ``H_i = hbar_{i+1} - hbar_i``, the entropy of a fresh token given ``i`` revealed."""
    hbar = subset_entropies(table)
    return hbar[1:] - hbar[:-1]
