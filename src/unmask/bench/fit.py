"""Convergence orders fitted from the benchmark cells, next to what the theory predicts.

The order is minus the least-squares slope of ``log TV`` against ``log NFE`` over the asymptotic
part of the grid: the ``FIT_POINTS`` largest budgets whose TV is above the float64 floor
(spec §6.4); with fewer such points no order is fitted. Each sampler states the order it predicts
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
        usable = [c for c in group if c.steps is not None and c.tv > TV_FLOOR][-FIT_POINTS:]
        measured = None
        if len(usable) == FIT_POINTS:
            measured = -slope([c.nfe_budget for c in usable], [c.tv for c in usable])
        elif predicted != "exact":
            note += f"; fewer than {FIT_POINTS} budgets with TV above the float64 floor: no fit"
        fits.append(OrderFit(target, process, sampler, measured, predicted, len(usable), largest.tv, note))
    return fits


def best_per_budget(cells: list[Cell]) -> list[dict]:
    """For each target, process and budget: the sampler with the lowest TV within that budget."""
    rows = []
    keys = sorted({(c.target, c.process) for c in cells}, key=lambda k: (k[1], k[0]))
    for target, process in keys:
        group = [c for c in cells if c.target == target and c.process == process]
        for budget in sorted({c.nfe_budget for c in group}):
            within = [c for c in group if c.nfe_budget <= budget]
            best = min(within, key=lambda c: c.tv)
            rows.append(
                {
                    "target": target,
                    "process": process,
                    "budget": budget,
                    "sampler": best.sampler,
                    "steps": best.steps,
                    "tv": best.tv,
                }
            )
    return rows
