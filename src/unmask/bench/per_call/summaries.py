"""Summaries over the targets at each budget: the per-target best against the limit and today's
samplers, and every candidate as one sampler over all targets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .rows import PerCallRow, check_rows, tv_ratio
from .study import AIM_GAP, AIM_RATIO


@dataclass(frozen=True)
class SamplerSummary:
    """One candidate over the targets at one budget.

    ``ratio_of_means`` is ``mean(today_tv) / mean(tv)``; ``ratio_min`` the least per-target
    ``today_tv / tv`` where defined (targets where both are exact are left out; ``inf`` where only
    this one is exact); ``gap_max`` the largest ``tv - limit_tv``. The aims: ``aim_ratio_mean``
    (``ratio_of_means >= AIM_RATIO``), ``aim_ratio_every`` (``ratio_min >= AIM_RATIO``; held when
    no ratio is defined), ``aim_gap`` (``gap_max <= AIM_GAP``).
    """

    label: str
    tv_mean: float
    tv_max: float
    ratio_of_means: float
    ratio_min: float
    gap_max: float
    aim_ratio_mean: bool
    aim_ratio_every: bool
    aim_gap: bool


@dataclass(frozen=True)
class PerCallSummary:
    """Means and maxima over the targets at one budget ``calls = K``.

    The ``best_*``, ``ratio_*``, ``gap_*`` and ``aim_*`` fields are about the **per-target best**
    candidate (chosen after seeing every TV: an oracle choice of sampler, not one sampler).
    ``ratio_of_means`` is ``mean(today_tv) / mean(best_tv)`` (robust to exact targets);
    ``ratio_min`` / ``ratio_max`` are over the targets where the ratio is defined
    (``ratio_undefined`` targets have both today's best and the best exact and are left out).
    ``aim_ratio_mean``: ``ratio_of_means >= AIM_RATIO``; ``aim_ratio_every``: every defined ratio
    is ``>= AIM_RATIO``; ``aim_gap``: ``gap_max <= AIM_GAP``. The aims are stated at
    ``AIM_CALLS`` calls and evaluated at every ``K``.

    ``best_counts``: how often each candidate is the per-target best. ``samplers``: every
    candidate as one sampler over all targets (:class:`SamplerSummary`), by increasing mean TV, so
    ``samplers[0]`` is the best single sampler.
    """

    calls: int
    targets: int
    best_tv_mean: float
    best_tv_max: float
    limit_tv_mean: float
    limit_tv_max: float
    today_tv_mean: float
    today_tv_max: float
    ratio_of_means: float
    ratio_min: float
    ratio_max: float
    ratio_undefined: int
    gap_mean: float
    gap_max: float
    aim_ratio_mean: bool
    aim_ratio_every: bool
    aim_gap: bool
    best_counts: tuple[tuple[str, int], ...]
    samplers: tuple[SamplerSummary, ...]


def mean(values: Sequence[float]) -> float:
    """``sum(values) / len(values)``."""
    return sum(values) / len(values)


def _ratios(today: Sequence[float], tvs: Sequence[float]) -> tuple[float, float, float, int]:
    """(ratio of means, min and max of the defined per-target ratios, count undefined)."""
    defined = [r for r in (tv_ratio(a, b) for a, b in zip(today, tvs, strict=True)) if not math.isnan(r)]
    of_means = tv_ratio(mean(today), mean(tvs))
    low = min(defined) if defined else math.nan
    high = max(defined) if defined else math.nan
    return of_means, low, high, len(today) - len(defined)


def _sampler_summary(label: str, tvs: Sequence[float], rows: Sequence[PerCallRow]) -> SamplerSummary:
    of_means, low, _, _ = _ratios([row.today_tv for row in rows], tvs)
    gap = max(value - row.limit_tv for value, row in zip(tvs, rows, strict=True))
    return SamplerSummary(
        label=label,
        tv_mean=mean(tvs),
        tv_max=max(tvs),
        ratio_of_means=of_means,
        ratio_min=low,
        gap_max=gap,
        aim_ratio_mean=of_means >= AIM_RATIO,
        aim_ratio_every=not (low < AIM_RATIO),  # nan (no defined ratio) counts as held
        aim_gap=gap <= AIM_GAP,
    )


def summary(rows: Sequence[PerCallRow]) -> tuple[PerCallSummary, ...]:
    """One :class:`PerCallSummary` per budget in ``rows``, by increasing ``K``."""
    rows = check_rows(rows)
    out = []
    for k in sorted({row.calls for row in rows}):
        at = [row for row in rows if row.calls == k]
        best = [row.best_tv for row in at]
        today = [row.today_tv for row in at]
        gaps = [row.gap for row in at]
        of_means, low, high, undefined = _ratios(today, best)
        counts: dict[str, int] = {}
        for row in at:
            counts[row.best] = counts.get(row.best, 0) + 1
        labels = [e.label for e in at[0].entries]
        labels = [label for label in labels if all(any(e.label == label for e in r.entries) for r in at)]
        samplers = sorted(
            (_sampler_summary(label, [row.entry(label).tv for row in at], at) for label in labels),
            key=lambda s: s.tv_mean,
        )
        out.append(
            PerCallSummary(
                calls=k,
                targets=len(at),
                best_tv_mean=mean(best),
                best_tv_max=max(best),
                limit_tv_mean=mean([row.limit_tv for row in at]),
                limit_tv_max=max(row.limit_tv for row in at),
                today_tv_mean=mean(today),
                today_tv_max=max(today),
                ratio_of_means=of_means,
                ratio_min=low,
                ratio_max=high,
                ratio_undefined=undefined,
                gap_mean=mean(gaps),
                gap_max=max(gaps),
                aim_ratio_mean=of_means >= AIM_RATIO,
                aim_ratio_every=not (low < AIM_RATIO),
                aim_gap=max(gaps) <= AIM_GAP,
                best_counts=tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0]))),
                samplers=tuple(samplers),
            )
        )
    return tuple(out)
