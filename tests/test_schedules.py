"""Masking schedules (spec §1.3): end points, closed-form derivatives, hazards, rates and inverses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from unmask import schedules
from unmask.schedules import (
    ConstantRateSchedule,
    GeometricSchedule,
    LinearSchedule,
    LogLinearSchedule,
    Schedule,
)

#: Every registered schedule with its default hyperparameters, plus non-default ones.
CASES: dict[str, Schedule] = {name: cls() for name, cls in schedules.SCHEDULES.items()}
CASES.update(
    {
        "log-linear(eps=0.1)": LogLinearSchedule(eps=0.1),
        "geometric(0.01, 5)": GeometricSchedule(sigma_min=0.01, sigma_max=5.0),
        "constant-rate(T=3)": ConstantRateSchedule(horizon=3.0),
    }
)
if "polynomial" in schedules.SCHEDULES:
    CASES["polynomial(p=3)"] = schedules.SCHEDULES["polynomial"](power=3.0)

IDS = list(CASES)


def expected_alpha_ends(schedule: Schedule) -> tuple[float, float] | None:
    """``(alpha(0), alpha(1))`` from the table of spec §1.3, or None for a schedule not in it."""
    if isinstance(schedule, GeometricSchedule):
        return math.exp(-schedule.sigma_min), math.exp(-schedule.sigma_max)
    if isinstance(schedule, LogLinearSchedule):
        return 1.0, schedule.eps
    if isinstance(schedule, ConstantRateSchedule):
        return 1.0, math.exp(-schedule.horizon)
    if schedule.name in ("linear", "cosine", "polynomial"):
        return 1.0, 0.0
    return None


def interior_times(n: int = 101) -> torch.Tensor:
    """``n`` float64 times strictly inside (0, 1), denser near both ends."""
    u = torch.linspace(0, 1, n + 2, dtype=torch.float64)[1:-1]
    return (1 - torch.cos(math.pi * u)) / 2


@pytest.mark.parametrize("name", IDS)
def test_end_points_match_the_table(name):
    """alpha(0) = 1 (geometric: exp(-sigma_min)) and alpha(1) as in the table of spec §1.3; the
    ``alpha_at_one`` property agrees and ``masked_fraction = 1 - alpha`` at both ends."""
    schedule = CASES[name]
    ends = expected_alpha_ends(schedule)
    alpha0, alpha1 = float(schedule.alpha(0.0)), float(schedule.alpha(1.0))
    if ends is not None:
        assert alpha0 == pytest.approx(ends[0], rel=1e-14, abs=1e-300)
        assert alpha1 == pytest.approx(ends[1], rel=1e-12, abs=1e-15)
    assert schedule.alpha_at_one == alpha1
    for t in (0.0, 1.0):
        assert float(schedule.masked_fraction(t)) == pytest.approx(1 - float(schedule.alpha(t)), abs=1e-15)


@pytest.mark.parametrize("name", IDS)
def test_alpha_is_decreasing_and_in_unit_interval(name):
    """alpha(t) lies in [0, 1] and is non-increasing, and its derivative is non-positive."""
    schedule = CASES[name]
    t = torch.linspace(0, 1, 201, dtype=torch.float64)
    alpha = schedule.alpha(t)
    assert alpha.dtype == torch.float64
    assert bool(((alpha >= 0) & (alpha <= 1)).all())
    assert bool((alpha[1:] <= alpha[:-1]).all())
    assert bool((schedule.alpha_derivative(interior_times()) <= 0).all())


@pytest.mark.parametrize("name", IDS)
def test_derivative_matches_autograd(name):
    """``alpha_derivative`` equals the autograd derivative of ``alpha`` (relative 1e-10)."""
    schedule = CASES[name]
    t = interior_times().requires_grad_(True)
    (grad,) = torch.autograd.grad(schedule.alpha(t).sum(), t)
    closed = schedule.alpha_derivative(t.detach())
    torch.testing.assert_close(closed, grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", IDS)
def test_derivative_matches_central_difference(name):
    """``alpha_derivative`` matches a central difference with step h = 1e-5 (truncation error
    O(h^2) plus round-off O(1e-16 / h): relative tolerance 1e-6)."""
    schedule = CASES[name]
    t = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    h = 1e-5
    numeric = (schedule.alpha(t + h) - schedule.alpha(t - h)) / (2 * h)
    torch.testing.assert_close(schedule.alpha_derivative(t), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", IDS)
def test_hazard_and_rate_formulas(name):
    """hazard = -alpha'/(1 - alpha) and rate = -alpha'/alpha at interior times (relative 1e-10)."""
    schedule = CASES[name]
    t = interior_times()
    slope = schedule.alpha_derivative(t)
    torch.testing.assert_close(schedule.hazard(t), -slope / schedule.masked_fraction(t), rtol=1e-10, atol=0)
    torch.testing.assert_close(schedule.rate(t), -slope / schedule.alpha(t), rtol=1e-10, atol=0)


@pytest.mark.parametrize("name", IDS)
def test_inverse_of_masked_fraction(name):
    """``time_of_masked_fraction`` inverts ``masked_fraction``: m(t(m)) = m to 1e-12 over the range
    of m, and t(m(t)) = t wherever |dm/dt| > 1e-2 (the inverse is well conditioned there);
    ``inverse(alpha(t)) = t`` likewise."""
    schedule = CASES[name]
    m_low, m_high = float(schedule.masked_fraction(0.0)), float(schedule.masked_fraction(1.0))
    m = m_low + (m_high - m_low) * torch.linspace(0, 1, 101, dtype=torch.float64)
    torch.testing.assert_close(
        schedule.masked_fraction(schedule.time_of_masked_fraction(m)), m, rtol=0, atol=1e-12
    )

    t = interior_times()
    steep = schedule.alpha_derivative(t).abs() > 1e-2
    back = schedule.time_of_masked_fraction(schedule.masked_fraction(t))
    torch.testing.assert_close(back[steep], t[steep], rtol=0, atol=1e-9)
    torch.testing.assert_close(schedule.inverse(schedule.alpha(t))[steep], t[steep], rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", IDS)
def test_inverse_is_clamped(name):
    """Masked fractions outside the schedule's range map to the ends 0 and 1 of the time axis."""
    schedule = CASES[name]
    out = schedule.time_of_masked_fraction(torch.tensor([-0.5, 0.0, 1.0, 1.5], dtype=torch.float64))
    assert out.tolist() == [0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("name", IDS)
def test_no_nan_at_the_ends(name):
    """No method returns NaN at t = 0 or t = 1. Infinities appear only where documented: the
    hazard at t = 0 (when alpha(0) = 1) and the rate where alpha = 0."""
    schedule = CASES[name]
    ends = torch.tensor([0.0, 1.0], dtype=torch.float64)
    values = {
        "alpha": schedule.alpha(ends),
        "masked_fraction": schedule.masked_fraction(ends),
        "alpha_derivative": schedule.alpha_derivative(ends),
        "hazard": schedule.hazard(ends),
        "rate": schedule.rate(ends),
        "time_of_masked_fraction": schedule.time_of_masked_fraction(ends),
        "inverse": schedule.inverse(ends),
    }
    for method, value in values.items():
        assert not bool(value.isnan().any()), f"{method} is NaN at t in {{0, 1}}: {value.tolist()}"
        for end, entry in zip((0, 1), value.tolist(), strict=True):
            if math.isinf(entry):
                allowed = (method == "hazard" and end == 0 and float(schedule.alpha(0.0)) == 1.0) or (
                    method == "rate" and float(schedule.alpha(float(end))) == 0.0
                )
                assert allowed, f"{method}({end}) = {entry} is infinite where the docs promise a number"
    if float(schedule.alpha(0.0)) == 1.0:
        assert float(schedule.hazard(0.0)) == math.inf


@pytest.mark.parametrize("name", IDS)
def test_float_and_tensor_inputs_agree(name):
    """A float time and a 0-d tensor time give the same float64 value."""
    schedule = CASES[name]
    for method in ("alpha", "masked_fraction", "alpha_derivative", "hazard", "rate"):
        a = getattr(schedule, method)(0.3)
        b = getattr(schedule, method)(torch.tensor(0.3, dtype=torch.float64))
        assert a.dtype == torch.float64 and torch.equal(a, b)


@settings(max_examples=60, deadline=None, database=None)
@given(t=st.floats(min_value=1e-6, max_value=1 - 1e-6), name=st.sampled_from(IDS))
def test_properties_at_random_times(t, name):
    """Hypothesis, t in (0, 1): alpha in [0, 1], alpha' <= 0 and equal to autograd, hazard =
    -alpha'/(1 - alpha) >= 0, rate = -alpha'/alpha, and m(t(m(t))) = m(t)."""
    schedule = CASES[name]
    tt = torch.tensor(t, dtype=torch.float64, requires_grad=True)
    alpha = schedule.alpha(tt)
    (grad,) = torch.autograd.grad(alpha, tt)
    alpha = float(alpha.detach())
    slope = float(schedule.alpha_derivative(t))
    assert 0.0 <= alpha <= 1.0
    assert slope <= 0.0
    assert slope == pytest.approx(float(grad), rel=1e-10, abs=1e-14)
    m = float(schedule.masked_fraction(t))
    assert float(schedule.hazard(t)) == pytest.approx(-slope / m, rel=1e-10)
    assert float(schedule.hazard(t)) >= 0
    if alpha > 0:
        assert float(schedule.rate(t)) == pytest.approx(-slope / alpha, rel=1e-10)
    assert float(schedule.masked_fraction(schedule.time_of_masked_fraction(m))) == pytest.approx(m, abs=1e-12)


def test_get_schedule_builds_and_rejects():
    """``get_schedule`` builds each registered schedule and names the known ones on a bad name."""
    for name in schedules.SCHEDULES:
        assert schedules.get_schedule(name).name == name
    assert schedules.get_schedule("log-linear", eps=0.2) == LogLinearSchedule(eps=0.2)
    with pytest.raises(ValueError, match="unknown schedule 'nope'.*linear"):
        schedules.get_schedule("nope")


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: LogLinearSchedule(eps=1.0), "eps"),
        (lambda: LogLinearSchedule(eps=-0.1), "eps"),
        (lambda: GeometricSchedule(sigma_min=0.0), "sigma_min"),
        (lambda: GeometricSchedule(sigma_min=2.0, sigma_max=1.0), "sigma_max"),
        (lambda: ConstantRateSchedule(horizon=-1.0), "horizon"),
        (lambda: ConstantRateSchedule(horizon="10"), "horizon"),
    ],
)
def test_bad_hyperparameters_are_named(build, match):
    """Invalid hyperparameters raise ValueError/TypeError naming the argument."""
    with pytest.raises((ValueError, TypeError), match=match):
        build()


@pytest.mark.parametrize("name", IDS)
@pytest.mark.parametrize("t", [1.5, -0.1, float("nan"), torch.tensor([0.5, 1.5])])
def test_times_outside_the_unit_interval_are_refused(name, t):
    """Every function of time refuses t outside [0, 1] (numbers, and tensors on the CPU)."""
    schedule = CASES[name]
    for method in (schedule.alpha, schedule.masked_fraction, schedule.alpha_derivative, schedule.hazard):
        with pytest.raises(ValueError, match=r"t must lie in \[0, 1\] \(forward time\), got"):
            method(t)


def test_time_must_be_a_number_or_a_tensor():
    with pytest.raises(TypeError, match=r"t must be a time in \[0, 1\].*'0\.5' \(str\)"):
        LinearSchedule().alpha("0.5")
    assert float(LinearSchedule().alpha(np.float64(0.25))) == 0.75
