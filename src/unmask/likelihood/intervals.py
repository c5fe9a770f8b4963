"""Confidence intervals for Monte-Carlo means: Student-t quantiles and a skewness correction.

A Monte-Carlo estimate is the mean of ``n`` i.i.d. units with sample standard deviation ``s``;
its standard error is ``s / sqrt(n)``. Two things make the textbook ``mean +- 1.96 stderr``
under-cover when ``n`` is small or the units are skewed, as likelihood draws are (a long right
tail: a rare mask set with a large weight):

* ``s`` is itself noisy, so the studentised mean ``T = (mean - mu) / stderr`` has heavier tails
  than a normal law: with normal units it is Student-t with ``n - 1`` degrees of freedom
  (:func:`t_quantile`; ``t_{0.975, 7} = 2.3646``, ``t_{0.975, 63} = 1.9983``).
* With right-skewed units a low mean comes with a low ``s``, so ``T`` is skewed to the left.
  Hall's (1992) transformation removes the ``n^{-1/2}`` skewness term of its Edgeworth expansion:
  with ``gamma`` the units' skewness, ``a = gamma / (3 sqrt(n))``, ``b = gamma / (6 sqrt(n))``,

      g(T) = T + a T^2 + a^2 T^3 / 3 + b = ((1 + a T)^3 - 1) / (3 a) + b

  is nearly symmetric; ``g`` is increasing, ``g^{-1}(y) = ((1 + 3 a (y - b))^{1/3} - 1) / a``, and
  the interval is ``[mean - stderr g^{-1}(q), mean - stderr g^{-1}(-q)]`` with ``q`` the
  t quantile (:func:`skew_corrected_interval`).
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import torch

#: Above this many degrees of freedom the Cornish-Fisher series (error below 1e-9) replaces the
#: exact finite sum.
SERIES_DOF = 200


def _abs_t_cdf(t: float, dof: int) -> float:
    """``P(|T| <= t)`` for Student-t with integer ``dof`` (Abramowitz & Stegun 26.7.3-4), ``t >= 0``."""
    theta = math.atan(t / math.sqrt(dof))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if dof % 2 == 0:  # sin(theta) [1 + 1/2 c^2 + 1.3/(2.4) c^4 + ... up to c^(dof-2)]
        term = total = 1.0
        for k in range(1, dof // 2):
            term *= c2 * (2 * k - 1) / (2 * k)
            total += term
        return s * total
    if dof == 1:
        return 2 * theta / math.pi
    term = total = math.cos(theta)  # (2/pi)[theta + sin cos (1 + 2/3 c^2 + ... up to c^(dof-3))]
    for k in range(1, (dof - 1) // 2):
        term *= c2 * (2 * k) / (2 * k + 1)
        total += term
    return 2 / math.pi * (theta + s * total)


def _cornish_fisher(z: float, dof: int) -> float:
    """The Student-t quantile from the normal one ``z``, to ``O(dof^-5)``."""
    v = float(dof)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4)
    )


@lru_cache(maxsize=4096)
def t_quantile(probability: float, dof: int) -> float:
    """The ``probability`` quantile of Student's t with ``dof`` (a positive integer) degrees of
    freedom: ``t`` with ``P(T <= t) = probability``; ``dof = inf`` (or above 10^9) gives the normal
    quantile. Exact sum and bisection up to :data:`SERIES_DOF`, Cornish-Fisher above."""
    if not 0 < probability < 1:
        raise ValueError(f"probability must lie in (0, 1), got {probability}")
    if probability < 0.5:
        return -t_quantile(1 - probability, dof)
    if probability == 0.5:
        return 0.0
    if not (dof == math.inf or (isinstance(dof, int) and dof >= 1)):
        raise ValueError(f"dof must be a positive integer or inf, got {dof!r}")
    z = NormalDist().inv_cdf(probability)
    if dof == math.inf or dof > 10**9:
        return z
    if dof > SERIES_DOF:
        return _cornish_fisher(z, dof)
    goal = 2 * probability - 1  # P(|T| <= t)
    low, high = z, max(2 * z, 1.0)
    while _abs_t_cdf(high, dof) < goal:
        high *= 2
    for _ in range(200):
        mid = 0.5 * (low + high)
        if _abs_t_cdf(mid, dof) < goal:
            low = mid
        else:
            high = mid
        if high - low <= 1e-13 * high:
            break
    return 0.5 * (low + high)


def t_quantiles(probability: float, dof: torch.Tensor) -> torch.Tensor:
    """:func:`t_quantile` for each entry of ``dof [B]`` (float64 on its device; NaN where
    ``dof < 1``)."""
    values = {
        int(d): (t_quantile(probability, int(d)) if d >= 1 else math.nan) for d in dof.unique().tolist()
    }
    return torch.tensor([values[int(d)] for d in dof.tolist()], dtype=torch.float64, device=dof.device)


def skew_corrected_interval(
    mean: torch.Tensor,
    stderr: torch.Tensor,
    skewness: torch.Tensor,
    units: torch.Tensor,
    quantile: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hall's skewness-corrected interval (module docstring) ``(low, high)`` ``[B]``, with
    ``quantile [B]`` the two-sided quantile ``q`` of the studentised mean. A NaN skewness (fewer
    than three units, or zero variance) gives the symmetric ``mean -+ q stderr``."""
    n = units.to(torch.float64)
    gamma = torch.nan_to_num(skewness.to(torch.float64), nan=0.0)
    a = gamma / (3 * n.clamp(min=1).sqrt())
    b = a / 2

    def inverse(y: torch.Tensor) -> torch.Tensor:
        small = a.abs() < 1e-12
        safe = torch.where(small, 1.0, a)
        inner = 1 + 3 * safe * (y - b)
        root = inner.sign() * inner.abs().pow(1 / 3)
        return torch.where(small, y - b, (root - 1) / safe)

    return mean - stderr * inverse(quantile), mean - stderr * inverse(-quantile)
