"""Drawing the random pieces of the likelihood estimators: times, masked counts and mask sets.

Every draw is vectorised over rows, uses float64 uniforms from a ``torch.Generator`` and respects
an ``eligible [R, L]`` bool pattern (the scored positions; a prompt is never masked).
"""

from __future__ import annotations

import torch

from ..streams import choose_subset

VARIANTS = ("plain", "antithetic", "stratified")


def harmonic(n: torch.Tensor) -> torch.Tensor:
    """``H_n = sum_{m=1}^{n} 1/m`` for a LongTensor ``n`` (float64, same shape)."""
    top = max(int(n.max()) if n.numel() else 0, 1)
    table = torch.cat(
        [torch.zeros(1, dtype=torch.float64), (1 / torch.arange(1, top + 1, dtype=torch.float64)).cumsum(0)]
    )
    return table[n]


def uniform(shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    """Float64 uniforms in ``[0, 1)``."""
    return torch.rand(shape, generator=generator, dtype=torch.float64)


def unit_times(
    units: int, size: int, variant: str, low: float, high: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Times in ``[low, high]`` for ``units`` units of ``size`` draws each, ``[units * size]``.

    * ``plain`` (``size = 1``): i.i.d. uniform;
    * ``antithetic`` (``size = 2``): ``u`` and its mirror ``1 - u``;
    * ``stratified``: one uniform draw in each of ``size`` equal strata ``[j/size, (j+1)/size)``.

    Every time is marginally uniform on ``[low, high]``, so any of them keeps an estimator unbiased;
    units are i.i.d., so the spread of unit means gives an honest standard error.
    """
    if variant == "plain":
        u = uniform((units, size), generator)
    elif variant == "antithetic":
        first = uniform((units, 1), generator)
        u = torch.cat([first, 1 - first], dim=1)
    else:
        u = (torch.arange(size, dtype=torch.float64) + uniform((units, size), generator)) / size
    return (low + (high - low) * u).reshape(-1)


def harmonic_counts(n: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Masked counts ``m in 1..n_r`` with ``P(m) = 1 / (m H_{n_r})`` per row (inverse CDF; ``n [R]``)."""
    top = int(n.max())
    cdf = (1 / torch.arange(1, top + 1, dtype=torch.float64)).cumsum(0)  # H_1..H_top
    u = uniform(tuple(n.shape), generator) * harmonic(n)
    return (torch.searchsorted(cdf, u, right=True) + 1).clamp(max=n)


def uniform_counts(n: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Masked counts ``m`` uniform on ``1..n_r`` per row."""
    u = uniform(tuple(n.shape), generator)
    return ((u * n).floor().long() + 1).clamp(max=n)


def sized_masks(
    eligible: torch.Tensor, counts: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """A uniformly random subset of ``counts[r]`` eligible positions per row, bool ``[R, L]``."""
    return choose_subset(uniform(tuple(eligible.shape), generator), eligible, counts)


def bernoulli_masks(
    eligible: torch.Tensor, prob: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """Each eligible position masked independently with probability ``prob[r]``, bool ``[R, L]``."""
    return eligible & (uniform(tuple(eligible.shape), generator) < prob[:, None])
