"""Time grids ``1 = t_0 > t_1 > ... > t_N = t_end`` for samplers that step on a grid.

* ``"uniform"``: equal steps in ``t``;
* ``"uniform-alpha"``: equal steps in ``alpha`` (equal expected numbers of revealed tokens for the
  masked process), through the schedule's inverse;
* a 1-D tensor or sequence of times given by the user, strictly decreasing within ``[0, 1]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import checks
from .schedules import Schedule

GRID_KINDS = ("uniform", "uniform-alpha")

#: The most steps a grid may have: a step is at least one pass of the sampler (about a
#: millisecond on a CPU even for a tiny model), so more would run for hours.
MAX_STEPS = 10**6


def check_steps(steps) -> int:
    """Return ``steps`` as an int, or raise unless it is an integer in ``1..MAX_STEPS``."""
    return checks.positive_int(
        "steps", steps, maximum=MAX_STEPS,
        why=" (each step is a pass of the sampler, so that many would run for hours); use fewer steps",
    )  # fmt: skip


def uniform_time(steps: int, t_end: float = 0.0, t_start: float = 1.0) -> torch.Tensor:
    """``steps + 1`` equally spaced times from ``t_start`` down to ``t_end`` (float64)."""
    steps = checks.positive_int("steps", steps)
    grid = torch.linspace(t_start, t_end, steps + 1, dtype=torch.float64, device="cpu")
    grid[-1] = t_end  # exact end point, whatever linspace rounds to
    return grid


def uniform_alpha(steps: int, schedule: Schedule, t_end: float = 0.0, t_start: float = 1.0) -> torch.Tensor:
    """Times whose ``alpha`` values are equally spaced between ``alpha(t_start)`` and ``alpha(t_end)``."""
    steps = checks.positive_int("steps", steps)
    m_start = schedule.masked_fraction(t_start)
    m_end = schedule.masked_fraction(t_end)
    fractions = torch.linspace(0, 1, steps + 1, dtype=torch.float64, device="cpu")
    grid = schedule.time_of_masked_fraction(m_start + (m_end - m_start) * fractions)
    grid[0], grid[-1] = t_start, t_end
    return grid


def given(times: torch.Tensor | Sequence[float]) -> torch.Tensor:
    """Validate a user grid: 1-D, at least two times, within ``[0, 1]``, strictly decreasing."""
    grid = (
        times.to(torch.float64)
        if torch.is_tensor(times)
        else torch.tensor(times, dtype=torch.float64, device="cpu")
    )
    if grid.dim() != 1 or grid.numel() < 2:
        raise ValueError(f"grid must be a 1-D sequence of at least two times, got shape {tuple(grid.shape)}")
    checks.times_in_unit_interval("grid", grid)
    if not bool((grid[1:] < grid[:-1]).all()):
        raise ValueError("grid must be strictly decreasing (samplers run from t = 1 down to 0)")
    return grid


def make_grid(
    grid: str | torch.Tensor | Sequence[float],
    steps: int | None,
    schedule: Schedule,
    t_end: float = 0.0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Resolve a grid argument (a kind name with ``steps``, or explicit times) into a float64
    tensor on ``device`` (given times keep their device, and their gradient, when it is None)."""
    grid = _resolve(grid, steps, schedule, t_end)
    return grid if device is None else grid.to(device)


def _resolve(grid, steps, schedule, t_end) -> torch.Tensor:
    if isinstance(grid, str):
        if grid not in GRID_KINDS:
            raise ValueError(
                f"unknown grid {grid!r}; use one of {', '.join(GRID_KINDS)} or a tensor of times"
            )
        if steps is None:
            raise ValueError(
                "steps is required for a grid sampler (got steps=None); pass steps=N with N >= 1"
            )
        check_steps(steps)
        if grid == "uniform":
            return uniform_time(steps, t_end)
        return uniform_alpha(steps, schedule, t_end)
    result = given(grid)
    if steps is not None and steps != len(result) - 1:
        raise ValueError(
            f"steps={steps} disagrees with the given grid of {len(result) - 1} steps; pass one of them"
        )
    return result
