"""Time grids: uniform in t, uniform in alpha, and validated user grids."""

from __future__ import annotations

import pytest
import torch

from unmask import grids
from unmask.schedules import SCHEDULES, LinearSchedule


@pytest.mark.parametrize("steps", [1, 3, 10])
def test_uniform_time_grid(steps):
    """steps + 1 float64 times from 1 down to t_end exactly, with equal spacing."""
    for t_end in (0.0, 0.02):
        grid = grids.uniform_time(steps, t_end)
        assert grid.dtype == torch.float64 and len(grid) == steps + 1
        assert float(grid[0]) == 1.0 and float(grid[-1]) == t_end
        torch.testing.assert_close(
            grid[:-1] - grid[1:], torch.full((steps,), (1 - t_end) / steps, dtype=torch.float64)
        )


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_uniform_alpha_grid_has_equal_alpha_steps(name):
    """For every schedule, the alpha values along the grid are equally spaced between alpha(1) and
    alpha(t_end), the end points are exact and the times strictly decrease."""
    schedule = SCHEDULES[name]()
    for t_end in (0.0, 0.05):
        grid = grids.uniform_alpha(6, schedule, t_end)
        assert float(grid[0]) == 1.0 and float(grid[-1]) == t_end
        assert bool((grid[1:] < grid[:-1]).all())
        alpha = schedule.alpha(grid)
        step = (alpha[-1] - alpha[0]) / 6
        torch.testing.assert_close(alpha[1:] - alpha[:-1], step.expand(6), rtol=1e-7, atol=1e-12)


def test_given_grid_is_validated():
    """A user grid must be 1-D with at least two times in [0, 1], strictly decreasing."""
    assert torch.equal(grids.given([1.0, 0.5, 0.0]), torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64))
    cases = [
        ([[1.0, 0.0]], "1-D sequence of at least two times"),
        ([1.0], "1-D sequence of at least two times"),
        ([1.2, 0.5, 0.0], r"\[0, 1\].*1.2"),
        ([1.0, -0.1], r"\[0, 1\].*-0.1"),
        ([1.0, float("nan")], r"\[0, 1\]"),
        ([1.0, 0.5, 0.5, 0.0], "strictly decreasing"),
        ([0.0, 0.5, 1.0], "strictly decreasing"),
    ]
    for times, match in cases:
        with pytest.raises(ValueError, match=match):
            grids.given(times)


def test_make_grid_resolves_kinds_and_rejects_bad_arguments():
    """make_grid builds named grids with steps, accepts explicit times, and names the problem
    with unknown kinds, missing steps, bad steps and steps that disagree with a given grid."""
    schedule = LinearSchedule()
    assert torch.equal(grids.make_grid("uniform", 4, schedule), grids.uniform_time(4))
    assert torch.equal(grids.make_grid("uniform-alpha", 4, schedule), grids.uniform_alpha(4, schedule))
    assert torch.equal(grids.make_grid([1.0, 0.3, 0.0], None, schedule), grids.given([1.0, 0.3, 0.0]))
    assert len(grids.make_grid([1.0, 0.3, 0.0], 2, schedule)) == 3
    with pytest.raises(ValueError, match="unknown grid 'cosine'.*uniform, uniform-alpha"):
        grids.make_grid("cosine", 4, schedule)
    with pytest.raises(ValueError, match="steps is required"):
        grids.make_grid("uniform", None, schedule)
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        grids.make_grid("uniform", 0, schedule)
    with pytest.raises(TypeError, match="steps must be an integer"):
        grids.make_grid("uniform", 2.5, schedule)
    with pytest.raises(ValueError, match="steps=3 disagrees with the given grid of 2 steps"):
        grids.make_grid([1.0, 0.3, 0.0], 3, schedule)
