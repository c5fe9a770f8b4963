"""Convergence orders of the masked grid samplers with an exact denoiser (spec §4, §4.4, §6.4,
T3, T4, T6), from exact output laws on the mild chain ``problems.masked_mild_chain`` (V=3, L=4,
full support, no clipping) over uniform-in-t grids of N = 4, 8, ..., 128 steps.

Slopes are least-squares fits of log TV (and log KL(pi || phat)) against log N; local slopes
between consecutive N are printed in every assertion message. On a full-support target
KL ~ TV^2, so the KL slope is about twice the TV slope (spec §4).
"""

from __future__ import annotations

from functools import cache

import pytest

from problems import masked_mild_chain
from unmask.exact import kl, run_law, tv

from .helpers import fitted_slope, local_slopes

STEPS = [4, 8, 16, 32, 64, 128]

#: First-order samplers: fitted TV slope within [-1.2, -0.85] (RK-2 at theta = 1/2 is first order
#: on the masked process: it has an O(Delta^2) defect, spec §4.4 and T6).
FIRST_ORDER = ["euler", "tau-leaping", "tweedie", "rk2"]
FIRST_ORDER_RANGE = (-1.2, -0.85)

#: theta = 1/2 trapezoid: fitted TV slope at most -1.5, local slopes steepening towards -2.
SECOND_ORDER_MAX = -1.5

#: KL slope / TV slope.
KL_RATIO_RANGE = (1.8, 2.2)


@cache
def errors(name: str) -> tuple[list[float], list[float], list[float]]:
    """``(TV, KL(pi || phat), expected clipped mass)`` of ``name`` at every N in ``STEPS``."""
    target = masked_mild_chain()
    probs = target.probs()
    tvs, kls, clipped = [], [], []
    for n in STEPS:
        result = run_law(target, name, n)
        tvs.append(tv(result.law, probs))
        kls.append(kl(probs, result.law))
        clipped.append(result.diagnostics.get("clipped_mass", 0.0))
    return tvs, kls, clipped


def _report(name: str) -> str:
    tvs, kls, clipped = errors(name)
    return (
        f"{name}: TV {[f'{e:.3g}' for e in tvs]}, local TV slopes "
        f"{[f'{s:.3f}' for s in local_slopes(STEPS, tvs)]}, local KL slopes "
        f"{[f'{s:.3f}' for s in local_slopes(STEPS, kls)]}, clipped mass {[f'{c:.2g}' for c in clipped]}"
    )


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_first_order_tv_slope(name: str) -> None:
    """Euler, tau-leaping, Tweedie and RK-2 (theta = 1/2): the fitted slope of TV against N is in
    [-1.2, -0.85] (first order, spec T3, T6)."""
    tvs, _, _ = errors(name)
    slope = fitted_slope(STEPS, tvs)
    low, high = FIRST_ORDER_RANGE
    assert low <= slope <= high, f"fitted TV slope {slope:.3f}; {_report(name)}"


def test_trapezoid_is_second_order_without_clipping() -> None:
    """theta-trapezoidal (theta = 1/2) on the mild chain: its expected clipped mass is 0 (below
    1e-12) at every N, the fitted TV slope is at most -1.5, the local slopes steepen
    monotonically (towards the asymptotic -2 of spec T4; the singular hazard near t = 0 slows the
    approach, spec §9.3), and it beats Euler at equal denoiser calls (2N calls vs Euler at 2N
    steps) from N = 8 on."""
    tvs, _, clipped = errors("trapezoidal")
    assert max(clipped) <= 1e-12, _report("trapezoidal")
    slope = fitted_slope(STEPS, tvs)
    assert slope <= SECOND_ORDER_MAX, f"fitted TV slope {slope:.3f}; {_report('trapezoidal')}"
    local = local_slopes(STEPS, tvs)
    assert all(b < a for a, b in zip(local, local[1:], strict=False)), _report("trapezoidal")
    euler, _, _ = errors("euler")
    for j in range(1, len(STEPS) - 1):
        assert tvs[j] < euler[j + 1], f"N={STEPS[j]}: {tvs[j]:.3g} vs Euler {euler[j + 1]:.3g}"


@pytest.mark.parametrize("name", [*FIRST_ORDER, "trapezoidal"])
def test_kl_slope_is_twice_the_tv_slope(name: str) -> None:
    """On a full-support target KL(pi || phat) ~ (1/2) chi^2 ~ TV^2, so the fitted KL slope is
    1.8 to 2.2 times the fitted TV slope (spec §4: first order in TV is -2 in KL, second order -4)."""
    tvs, kls, _ = errors(name)
    ratio = fitted_slope(STEPS, kls) / fitted_slope(STEPS, tvs)
    low, high = KL_RATIO_RANGE
    assert low <= ratio <= high, f"KL/TV slope ratio {ratio:.3f}; {_report(name)}"
