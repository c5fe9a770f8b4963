"""Drawing the random pieces of the likelihood estimators: times, masked counts and mask sets.

Every draw is vectorised over rows, uses float64 uniforms from a ``torch.Generator`` and respects
an ``eligible [R, L]`` bool pattern (the scored positions; a prompt is never masked). The draws
land on the device of the rows they are for; a generator draws on its own device.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import checks
from ..streams import choose_subset

VARIANTS = ("plain", "antithetic", "stratified")


def as_generator(generator: Any, device: torch.device) -> torch.Generator | None:
    """A ``torch.Generator`` from a generator, an int seed (a new generator on ``device``) or None
    (:func:`unmask.checks.generator`)."""
    return checks.generator(generator, device)


def harmonic(n: torch.Tensor, top: int) -> torch.Tensor:
    """``H_n = sum_{m=1}^{n} 1/m`` for a LongTensor ``n`` with entries at most ``top`` (float64,
    same shape and device; the bound comes from the host, so nothing waits for the device)."""
    terms = 1 / torch.arange(1, max(top, 1) + 1, dtype=torch.float64, device=n.device)
    table = torch.cat([torch.zeros(1, dtype=torch.float64, device=n.device), terms.cumsum(0)])
    return table[n]


def uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Float64 uniforms in ``[0, 1)`` on ``device``: drawn on the generator's own device (on
    ``device`` without one) and moved there."""
    home = device if generator is None else generator.device
    return torch.rand(shape, generator=generator, dtype=torch.float64, device=home).to(device)


def unit_times(
    units: int,
    size: int,
    variant: str,
    low: float,
    high: float,
    generator: torch.Generator | None,
    device: torch.device,
) -> torch.Tensor:
    """Times in ``[low, high]`` for ``units`` units of ``size`` draws each, ``[units * size]``.

    * ``plain`` (``size = 1``): i.i.d. uniform;
    * ``antithetic`` (``size = 2``): ``u`` and its mirror ``1 - u``;
    * ``stratified``: one uniform draw in each of ``size`` equal strata ``[j/size, (j+1)/size)``.

    Every time is marginally uniform on ``[low, high]``, so any of them keeps an estimator unbiased;
    units are i.i.d., so the spread of unit means gives an honest standard error.
    """
    if variant == "plain":
        u = uniform((units, size), generator, device)
    elif variant == "antithetic":
        first = uniform((units, 1), generator, device)
        u = torch.cat([first, 1 - first], dim=1)
    else:
        strata = torch.arange(size, dtype=torch.float64, device=device)
        u = (strata + uniform((units, size), generator, device)) / size
    return (low + (high - low) * u).reshape(-1)


def harmonic_counts(n: torch.Tensor, top: int, generator: torch.Generator | None) -> torch.Tensor:
    """Masked counts ``m in 1..n_r`` with ``P(m) = 1 / (m H_{n_r})`` per row (inverse CDF; ``n [R]``
    with entries at most ``top``)."""
    cdf = (1 / torch.arange(1, top + 1, dtype=torch.float64, device=n.device)).cumsum(0)  # H_1..H_top
    u = uniform(tuple(n.shape), generator, n.device) * harmonic(n, top)
    return (torch.searchsorted(cdf, u, right=True) + 1).clamp(max=n)


def uniform_counts(n: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Masked counts ``m`` uniform on ``1..n_r`` per row."""
    u = uniform(tuple(n.shape), generator, n.device)
    return ((u * n).floor().long() + 1).clamp(max=n)


def sized_masks(
    eligible: torch.Tensor, counts: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """A uniformly random subset of ``counts[r]`` eligible positions per row, bool ``[R, L]``."""
    return choose_subset(uniform(tuple(eligible.shape), generator, eligible.device), eligible, counts)


def bernoulli_masks(
    eligible: torch.Tensor, prob: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """Each eligible position masked independently with probability ``prob[r]``, bool ``[R, L]``."""
    return eligible & (uniform(tuple(eligible.shape), generator, eligible.device) < prob[:, None])
