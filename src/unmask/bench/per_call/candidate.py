"""Candidates: every registered sampler configured so that every path makes at most ``K`` calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...exact import information_profile, optimal_sizes
from ...samplers import registry
from ...samplers.base import Sampler
from ...samplers.k_random import KRandom
from ...samplers.planned import SemiAutoregressive, TopK
from ...samplers.planned.bisection import Bisection

#: Top-k scores tried (top-k alone and inside semi-autoregressive).
SCORES = ("confidence", "margin", "entropy")


@dataclass(frozen=True)
class Candidate:
    """A sampler at a fixed budget: ``sampler`` run with ``steps`` (None: its own sizes) makes at
    most ``calls`` calls on every path."""

    label: str
    sampler: Sampler
    steps: int | None
    calls: int
    detail: str = ""


def semi_autoregressive_lengths(length: int, calls: int) -> tuple[int, ...]:
    """Block lengths ``b`` that cut ``length`` positions into ``2..calls`` blocks (one of each
    block count ``ceil(length / b)``, the shortest ``b`` giving it), so that every block gets at
    least one call."""
    lengths: dict[int, int] = {}
    for count in range(2, min(calls, length) + 1):
        b = -(-length // count)
        lengths.setdefault(-(-length // b), b)
    return tuple(sorted(set(lengths.values()), reverse=True))


def candidates(target: Any, calls: int, slow: bool = False) -> list[Candidate]:
    """Every registered sampler configured to make at most ``calls = K`` calls on every path of
    ``target`` (length ``L >= K``):

    * ``k-random`` with ``steps = K`` (even sizes), and with the sizes of
      :func:`unmask.exact.optimal_sizes` from the target's exact information profile;
    * ``trapezoidal`` with ``K // 2`` steps (2 calls each; absent when ``K < 2``), and ``rk2``
      likewise when ``slow`` (its exact law enumerates many intermediate states: seconds per
      target, most of the study's run time);
    * ``euler``, ``tau-leaping``, ``tweedie`` and ``remdm`` with ``K`` steps (uniform grid);
    * ``top-k`` with each score, ``dilated``, ``bisection`` and ``low-confidence-remasking`` with
      ``K`` steps;
    * ``semi-autoregressive`` with inner top-k (each score) and ``K`` steps, for each block length
      of :func:`semi_autoregressive_lengths`.
    """
    length = target.length
    out = [Candidate("k-random", registry.get("k-random"), calls, calls)]
    sizes = optimal_sizes(information_profile(target), calls).sizes
    detail = f"sizes {'-'.join(map(str, sizes))}"
    out.append(Candidate("k-random(optimal sizes)", KRandom(sizes=sizes), None, calls, detail))
    if calls >= 2:
        for name in ("trapezoidal", "rk2") if slow else ("trapezoidal",):
            out.append(Candidate(name, registry.get(name), calls // 2, 2 * (calls // 2)))
    for name in ("euler", "tau-leaping", "tweedie", "remdm"):
        out.append(Candidate(name, registry.get(name), calls, calls))
    for score in SCORES:
        out.append(Candidate(f"top-k({score})", TopK(score=score), calls, calls))
    out.append(Candidate("dilated", registry.get("dilated"), calls, calls))
    out.append(Candidate("bisection", Bisection(), calls, calls))
    out.append(Candidate("low-confidence-remasking", registry.get("low-confidence-remasking"), calls, calls))
    for b in semi_autoregressive_lengths(length, calls):
        count = -(-length // b)
        for score in SCORES:
            sampler = SemiAutoregressive(inner=TopK(score=score), block_length=b)
            label = f"semi-ar({count} blocks, top-k {score})"
            out.append(Candidate(label, sampler, calls, calls, f"block length {b}"))
    return out
