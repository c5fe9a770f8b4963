"""Convergence orders fitted from the benchmark cells, next to what the theory predicts.

The order is minus the least-squares slope of ``log TV`` against ``log NFE`` over the asymptotic
part of the grid: the ``FIT_POINTS`` largest budgets whose TV is above the float64 floor
(spec §6.4); with fewer such points no order is fitted. Monte Carlo cells (``pair_tv``, a
lower bound on the TV) are not fitted. Each sampler states the order it predicts
(:meth:`unmask.samplers.Sampler.predicted_order`, spec §4), read at the largest budget: first
order for Euler, tau-leaping, Tweedie and RK-2; second order for the trapezoid while its clipped
mass (the expected jumps lost to clipping, which adds a first-order error) stays below half its
TV, first order otherwise; first-hitting is exact (TV at the floor of float64 arithmetic), and so
is k-random once its steps reach the length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .run import Cell

FIT_POINTS = 3
TV_FLOOR = 1e-12


@dataclass(frozen=True)
class OrderFit:
    """Measured against predicted order for one (target, process, sampler)."""

    target: str
    process: str
    sampler: str
    measured: float | None
    predicted: str
    points: int
    tv_at_largest_budget: float
    note: str


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x``."""
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    num = sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True))
    den = sum((a - mx) ** 2 for a in lx)
    return num / den


def fit_orders(cells: list[Cell]) -> list[OrderFit]:
    """One fit per (target, process, sampler) among the exact cells."""
    groups: dict[tuple[str, str, str], list[Cell]] = {}
    for cell in cells:
        if cell.method == "exact":
            groups.setdefault((cell.target, cell.process, cell.sampler), []).append(cell)
    fits = []
    for (target, process, sampler), group in groups.items():
        group.sort(key=lambda c: c.nfe_budget)
        largest = group[-1]
        predicted, note = largest.predicted, largest.prediction_note
        # One cell per budget: samplers that fix their own number of calls give the same budget
        # at every requested step count, which leaves nothing to fit.
        by_budget = {c.nfe_budget: c for c in group if c.steps is not None and c.tv > TV_FLOOR}
        usable = [by_budget[budget] for budget in sorted(by_budget)][-FIT_POINTS:]
        measured = None
        if len(usable) == FIT_POINTS:
            measured = -slope([c.nfe_budget for c in usable], [c.tv for c in usable])
        elif predicted != "exact":
            note += f"; fewer than {FIT_POINTS} distinct budgets with TV above the float64 floor: no fit"
        fits.append(OrderFit(target, process, sampler, measured, predicted, len(usable), largest.tv, note))
    return fits


def cell_error(cell: Cell) -> tuple[str, float, tuple[float, float]]:
    """The error a cell is ranked by: ``(metric, value, interval)``.

    Exact cells: ``("tv", tv, [tv, tv])``, except that a TV at the float64 floor (``TV_FLOOR``)
    is ``[0, TV_FLOOR]``: exact samplers tie. Monte Carlo cells: ``("pair_tv", estimate, its 95%
    interval)``."""
    if cell.method == "exact":
        assert cell.tv is not None
        return "tv", cell.tv, ((0.0, TV_FLOOR) if cell.tv <= TV_FLOOR else (cell.tv, cell.tv))
    assert cell.pair_tv is not None and cell.pair_tv_interval is not None
    return "pair_tv", cell.pair_tv, tuple(cell.pair_tv_interval)


def best_per_budget(cells: list[Cell]) -> list[dict]:
    """For each target, process and budget: the best sampler within that budget, or a tie.

    Each sampler enters with its lowest-error cell within the budget. A sampler is ranked first
    only when its interval lies wholly below every other's (``high < low``); otherwise every
    sampler whose interval reaches below the lowest upper end ties with it (``"tie: a, b"``).
    Exact errors are points (intervals only at the float64 floor); Monte Carlo ones have 95%
    intervals. Where a target has exact cells, only they are ranked: a Monte Carlo cell there (a
    sampler without an exact law, such as ReMDM-conf) has a pair TV, a lower bound on the TV
    that cannot be ranked against TVs. Row fields:
    ``sampler`` (a name, or ``"tie: ..."``), ``samplers`` (the tied names,
    lowest estimate first), ``steps`` (of the single best cell, ``None`` for a tie), ``metric``
    (``"tv"`` or ``"pair_tv"``), ``value`` and ``interval`` (of the lowest estimate), and ``tv``
    (``value`` when the metric is TV, else ``None``)."""
    rows = []
    keys = sorted({(c.target, c.process) for c in cells}, key=lambda k: (k[1], k[0]))
    for target, process in keys:
        group = [c for c in cells if c.target == target and c.process == process]
        if any(c.method == "exact" for c in group):
            group = [c for c in group if c.method == "exact"]
        for budget in sorted({c.nfe_budget for c in group}):
            per_sampler: dict[str, Cell] = {}
            for cell in group:
                if cell.nfe_budget <= budget:
                    held = per_sampler.get(cell.sampler)
                    if held is None or cell_error(cell)[1] < cell_error(held)[1]:
                        per_sampler[cell.sampler] = cell
            ranked = sorted(per_sampler.values(), key=lambda c: cell_error(c)[1])
            lowest_high = min(cell_error(c)[2][1] for c in ranked)
            tied = [c for c in ranked if cell_error(c)[2][0] <= lowest_high]
            metric, value, interval = cell_error(ranked[0])
            names = [c.sampler for c in tied]
            rows.append(
                {
                    "target": target,
                    "process": process,
                    "budget": budget,
                    "sampler": names[0] if len(names) == 1 else "tie: " + ", ".join(names),
                    "samplers": names,
                    "steps": ranked[0].steps if len(names) == 1 else None,
                    "metric": metric,
                    "value": value,
                    "interval": list(interval) if metric == "pair_tv" else None,
                    "tv": value if metric == "tv" else None,
                }
            )
    return rows
