"""Convergence orders of the uniform samplers on a mild Markov chain (spec §4.4, §6.4, T3/T4).

Exact output laws from the exact ``p_1`` (``start="exact"``, isolating the discretisation error)
are compared with ``p_{t_min}`` on ``N = 8, 16, 32, 64`` uniform-in-t steps.
"""

from __future__ import annotations

import math

import pytest
import torch

from problems import uniform_mild_chain
from unmask.exact import kl, reference_law, run_law, tv
from unmask.samplers.uniform.increments import by_increment

from .helpers import UNIFORM_SAMPLERS

STEPS = (8, 16, 32, 64)

#: Fitted TV slope must lie in this interval for the first-order samplers.
FIRST_ORDER = (-1.25, -0.8)
#: Fitted TV slope must be at most this for the theta-trapezoid (second order).
SECOND_ORDER = -1.7
#: |KL slope - 2 * TV slope| tolerance (KL ~ TV^2 on a full-support target).
KL_TOLERANCE = 0.3


def _fit_slope(errors: list[float]) -> float:
    """Least-squares slope of ``log(error)`` against ``log(N)``."""
    x = torch.log(torch.tensor(STEPS, dtype=torch.float64))
    y = torch.log(torch.tensor(errors, dtype=torch.float64))
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


def _fmt(values: list[float], spec: str = ".2f") -> str:
    return "[" + ", ".join(f"{v:{spec}}" for v in values) + "]"


def _local_slopes(errors: list[float]) -> list[float]:
    """``log2(err(2N) / err(N))`` for consecutive grids (the asymptotic value is minus the order)."""
    return [math.log2(b / a) for a, b in zip(errors, errors[1:], strict=False)]


@pytest.fixture(scope="module")
def errors() -> dict[str, dict[str, list[float]]]:
    target, process = uniform_mild_chain()
    reference = reference_law(target, process)
    out = {}
    for name in UNIFORM_SAMPLERS:
        runs = [run_law(target, name, n, process=process, start="exact") for n in STEPS]
        out[name] = {
            "tv": [tv(r.law, reference) for r in runs],
            "kl": [kl(reference, r.law) for r in runs],
            "clipped": [r.diagnostics.get("clipped_mass", 0.0) for r in runs],
        }
    return out


@pytest.mark.parametrize("name", UNIFORM_SAMPLERS)
def test_tv_order(errors, name: str) -> None:
    """Fitted log-log slope of TV(law_N, p_{t_min}) vs N is in [-1.25, -0.8] for euler,
    tau-leaping and tweedie (first order) and at most -1.7 for the trapezoid (second order, spec
    §4.4); the clipped mass of euler and the trapezoid is 0 on this problem (< 1e-12)."""
    e = errors[name]
    slope = _fit_slope(e["tv"])
    report = (
        f"{name}: TV {_fmt(e['tv'], '.2e')}, fitted slope {slope:.3f}, local slopes "
        f"{_fmt(_local_slopes(e['tv']))}, clipped mass {_fmt(e['clipped'], '.1e')}"
    )
    assert max(e["clipped"]) < 1e-12, report
    if name == "trapezoidal":
        assert slope <= SECOND_ORDER, report
    else:
        assert FIRST_ORDER[0] <= slope <= FIRST_ORDER[1], report


@pytest.mark.parametrize("name", UNIFORM_SAMPLERS)
def test_kl_slope_is_twice_tv_slope(errors, name: str) -> None:
    """On a full-support target KL(p_{t_min} || law_N) ~ TV^2: the fitted KL slope is twice the
    fitted TV slope within 0.3 (spec §9.6)."""
    e = errors[name]
    tv_slope, kl_slope = _fit_slope(e["tv"]), _fit_slope(e["kl"])
    assert abs(kl_slope - 2 * tv_slope) <= KL_TOLERANCE, (
        f"{name}: KL slope {kl_slope:.3f}, TV slope {tv_slope:.3f}, KL local slopes "
        f"{_fmt(_local_slopes(e['kl']))}"
    )


def test_problem_is_clip_free_by_construction() -> None:
    """The reason the trapezoid is not clipped here: on the grid times of [t_min, 1], one jump
    changes any increment intensity mu_t(k; y) by a factor below a1/a2 = 2 (theta = 1/2), so
    a1 mu(k; y*) - a2 mu(k; y) > 0 after a single stage-1 jump."""
    target, process = uniform_mild_chain()
    vocab, length = target.vocab_size, target.length
    states = torch.cartesian_prod(*[torch.arange(vocab)] * length)  # [n, L], row-major order
    powers = vocab ** torch.arange(length - 1, -1, -1)
    worst = 0.0
    for t in torch.linspace(process.t_min, 1.0, 2 * STEPS[-1] + 1, dtype=torch.float64):
        times = torch.full((len(states),), float(t), dtype=torch.float64)
        probs = target.uniform_posterior(states, times, process)
        mu = by_increment(process.reverse_rates(probs, states, times), states)[..., 1:]  # [n, L, S-1]
        for j in range(length):
            for shift in range(1, vocab):
                moved = states.clone()
                moved[:, j] = (moved[:, j] + shift) % vocab
                ratio = mu / mu[(moved * powers).sum(-1)]
                worst = max(worst, float(ratio.max()))
    assert worst < 2.0, f"largest one-jump intensity ratio {worst:.3f} >= a1/a2 = 2"
