"""Checks of a study grid (vocabulary sizes, lengths, seeds, budgets): every message names the
argument."""

from __future__ import annotations

from typing import Any

from ...exact.laws import MAX_STATES
from ...exact.limit import MAX_PLANS, count_plans

Grid = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def _int_tuple(name: str, values: Any, minimum: int) -> tuple[int, ...]:
    """``values`` as a tuple of distinct integers ``>= minimum``, in first-seen order."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a non-empty sequence of integers >= {minimum}, got {values!r}")
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} must be a non-empty sequence of integers >= {minimum}, got {values!r}")
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must hold integers >= {minimum}, got {value!r} in {values!r}")
        out.append(int(value))
    return tuple(dict.fromkeys(out))


def check_grid(vocab_sizes: Any, lengths: Any, seeds: Any, calls: Any) -> Grid:
    """The grid as tuples of distinct integers. Raises ``ValueError`` naming the argument when one
    is empty or holds a non-integer, ``V < 2``, ``L < 2``, a negative seed, ``K < 1`` or
    ``K > L``, or when ``V^L`` exceeds the exact-law limit or ``K! S(L, K)`` the limit search's."""
    vocab_sizes = _int_tuple("vocab_sizes", vocab_sizes, 2)
    lengths = _int_tuple("lengths", lengths, 2)
    seeds = _int_tuple("seeds", seeds, 0)
    calls = _int_tuple("calls", calls, 1)
    if max(calls) > min(lengths):
        raise ValueError(
            f"calls must be at most every length (a plan splits L positions into K non-empty blocks), "
            f"got calls={calls} with lengths={lengths}"
        )
    for v in vocab_sizes:
        for n in lengths:
            if v**n > MAX_STATES:
                raise ValueError(
                    f"vocab_sizes and lengths give V^L = {v}^{n} states, above the exact-law limit "
                    f"{MAX_STATES:,}; use smaller vocab_sizes or lengths"
                )
            for k in calls:
                if count_plans(n, k) > MAX_PLANS:
                    raise ValueError(
                        f"calls={k} on lengths={n} gives {count_plans(n, k):,} plans, above the limit "
                        f"search's {MAX_PLANS:,}; use fewer calls or shorter lengths"
                    )
    return vocab_sizes, lengths, seeds, calls
