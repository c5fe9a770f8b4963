"""The learning-rate schedule: linear warm-up then cosine decay to a floor."""

from __future__ import annotations

import math

import pytest
import torch

from unmask.train.trainer import learning_rate, set_learning_rate

PEAK, WARMUP, TOTAL, FRACTION = 3e-4, 100, 1100, 0.1


def rate(step: int) -> float:
    return learning_rate(step, PEAK, WARMUP, TOTAL, FRACTION)


def test_warmup_start_and_end():
    """Step 0 takes peak / warmup_steps (the first step already learns); step warmup_steps - 1
    reaches the peak; the rate rises linearly in between."""
    assert rate(0) == pytest.approx(PEAK / WARMUP, rel=1e-15)
    assert rate(WARMUP - 1) == pytest.approx(PEAK, rel=1e-15)
    assert rate(49) == pytest.approx(PEAK * 50 / WARMUP, rel=1e-15)


def test_cosine_middle_end_and_after():
    """The decay starts at the peak, is halfway between peak and floor in the middle, equals the
    cosine in between, reaches the floor at total_steps and stays there."""
    floor = FRACTION * PEAK
    assert rate(WARMUP) == pytest.approx(PEAK, rel=1e-15)
    assert rate(WARMUP + (TOTAL - WARMUP) // 2) == pytest.approx((PEAK + floor) / 2, rel=1e-12)
    quarter = WARMUP + (TOTAL - WARMUP) // 4
    assert rate(quarter) == pytest.approx(
        floor + (PEAK - floor) * 0.5 * (1 + math.cos(math.pi / 4)), rel=1e-12
    )
    assert rate(TOTAL) == pytest.approx(floor, rel=1e-15)
    assert rate(TOTAL + 500) == pytest.approx(floor, rel=1e-15)
    rates = [rate(s) for s in range(WARMUP, TOTAL + 1)]
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))


def test_edge_schedules():
    """No warm-up starts at the peak; final_fraction 1 is constant after warm-up; warm-up over the
    whole run ends at the floor."""
    assert learning_rate(0, 1.0, 0, 10, 0.0) == 1.0
    assert learning_rate(5, 1.0, 2, 10, 1.0) == 1.0
    assert learning_rate(9, 1.0, 10, 10, 0.0) == 1.0 and learning_rate(10, 1.0, 10, 10, 0.0) == 0.0


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ((-1, 1.0, 0, 10), ValueError, "step must be an integer >= 0, got -1"),
        ((0, 0.0, 0, 10), ValueError, "peak must be a finite number > 0, got 0.0"),
        ((0, 1.0, 11, 10), ValueError, "warmup_steps must be at most 10, got 11; warm-up cannot outlast"),
        ((0, 1.0, 0, 0), ValueError, "total_steps must be an integer >= 1, got 0"),
        ((0, 1.0, 0, 10, 1.5), ValueError, r"final_fraction must lie in \[0, 1\], got 1.5"),
        ((1.5, 1.0, 0, 10), TypeError, "step must be an integer >= 0, got 1.5"),
    ],
)
def test_bad_arguments(arguments, error, message):
    """Each bad argument is named with its value and what was expected."""
    with pytest.raises(error, match=message):
        learning_rate(*arguments)


def test_set_learning_rate_sets_every_group():
    """Every parameter group gets the rate (a tensor rate is filled in place)."""
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW([{"params": a.parameters()}, {"params": b.parameters(), "lr": 5.0}])
    set_learning_rate(optimizer, rate(0))
    assert [g["lr"] for g in optimizer.param_groups] == [rate(0), rate(0)]
    optimizer.param_groups[0]["lr"] = torch.tensor(1.0)
    set_learning_rate(optimizer, 0.25)
    assert optimizer.param_groups[0]["lr"].item() == 0.25
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        set_learning_rate(a, 0.1)
