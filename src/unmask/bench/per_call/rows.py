"""One row per target and budget: every candidate's entry beside the limit, the best candidate
and today's best."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...exact import reference_law
from ...exact.limit import best_plan
from .candidate import candidates
from .entry import Entry, evaluate
from .grid import check_grid
from .study import TODAY, TV_FLOOR, chain


@dataclass(frozen=True)
class PerCallRow:
    """One target at one budget of ``calls = K`` denoiser calls.

    Attributes:
        vocab_size, length, seed: the target ``MarkovChain.random(V, L, 0.3, seed)``.
        calls: the budget ``K``.
        limit_tv: ``best_plan(target, K, metric="tv").tv``.
        limit_plan: its blocks.
        entries: every candidate's :class:`Entry`, in :func:`candidates` order.
        best: label of the candidate of least TV (the first within ``TV_FLOOR`` of the least).
        best_tv: its TV.
        today_best: label of the better of :data:`TODAY`.
        today_tv: its TV.
        ratio: ``today_tv / best_tv``; ``inf`` when only the best is exact, ``nan`` when both are.
        gap: ``best_tv - limit_tv`` (negative when a candidate the limit does not bound beats it).
        seconds: wall time of this row.
    """

    vocab_size: int
    length: int
    seed: int
    calls: int
    limit_tv: float
    limit_plan: tuple[tuple[int, ...], ...]
    entries: tuple[Entry, ...]
    best: str
    best_tv: float
    today_best: str
    today_tv: float
    ratio: float
    gap: float
    seconds: float = field(default=0.0, compare=False)

    @property
    def label(self) -> str:
        return f"V={self.vocab_size} L={self.length} seed={self.seed}"

    def entry(self, label: str) -> Entry:
        """The entry of the candidate ``label``."""
        for entry in self.entries:
            if entry.label == label:
                return entry
        raise KeyError(f"no candidate {label!r} in this row; candidates: {[e.label for e in self.entries]}")


def tv_ratio(today: float, best: float) -> float:
    """``today / best``; ``inf`` when only ``best`` is exact (``<= TV_FLOOR``), ``nan`` when both are."""
    if best <= TV_FLOOR:
        return math.nan if today <= TV_FLOOR else math.inf
    return today / best


def per_call_row(vocab_size: int, length: int, seed: int, calls: int, slow: bool = False) -> PerCallRow:
    """One :class:`PerCallRow` (inputs checked as in :func:`run_per_call`)."""
    check_grid((vocab_size,), (length,), (seed,), (calls,))
    start = time.perf_counter()
    target = chain(vocab_size, length, seed)
    reference = reference_law(target)
    limit = best_plan(target, calls, metric="tv")
    entries = tuple(evaluate(target, c, reference) for c in candidates(target, calls, slow))
    least = min(e.tv for e in entries)
    best = next(e for e in entries if e.tv <= least + TV_FLOOR)
    todays = [e for e in entries if e.label in TODAY]
    today_least = min(e.tv for e in todays)
    today = next(e for e in todays if e.tv <= today_least + TV_FLOOR)
    return PerCallRow(
        vocab_size=vocab_size,
        length=length,
        seed=seed,
        calls=calls,
        limit_tv=limit.tv,
        limit_plan=limit.blocks,
        entries=entries,
        best=best.label,
        best_tv=best.tv,
        today_best=today.label,
        today_tv=today.tv,
        ratio=tv_ratio(today.tv, best.tv),
        gap=best.tv - limit.tv,
        seconds=time.perf_counter() - start,
    )


def run_per_call(
    vocab_sizes: Sequence[int] = (2, 3),
    lengths: Sequence[int] = (4, 5, 6),
    seeds: Sequence[int] = (0, 1, 2),
    calls: Sequence[int] = (2, 4),
    slow: bool = False,
) -> list[PerCallRow]:
    """One :class:`PerCallRow` per target ``MarkovChain.random(V, L, 0.3, seed)`` and budget
    ``K in calls``, in the order ``V``, ``L``, ``seed``, ``K``. Every figure is computed here
    (exact laws and exact limits). ``slow``: also run ``rk2`` (see :func:`candidates`).

    Raises ``ValueError`` naming the argument when a grid is empty or holds a non-integer, a
    vocabulary below 2, a length below 2, a negative seed, a budget below 1 or above a length, or
    when a target is too large for exact laws or for the limit's search.
    """
    vocab_sizes, lengths, seeds, calls = check_grid(vocab_sizes, lengths, seeds, calls)
    return [
        per_call_row(v, n, s, k, slow) for v in vocab_sizes for n in lengths for s in seeds for k in calls
    ]


def check_rows(rows: Any) -> list[PerCallRow]:
    """``rows`` as a non-empty list of :class:`PerCallRow`, else ``ValueError`` naming ``rows``."""
    if isinstance(rows, (PerCallRow, str, bytes)) or not hasattr(rows, "__iter__"):
        raise ValueError(f"rows must be a sequence of PerCallRow (from run_per_call), got {rows!r}")
    rows = list(rows)
    if not rows:
        raise ValueError("rows must hold at least one PerCallRow (from run_per_call), got none")
    for row in rows:
        if not isinstance(row, PerCallRow):
            raise ValueError(f"rows must hold PerCallRow objects, got {type(row).__name__}")
    return rows
