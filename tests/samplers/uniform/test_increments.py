"""The Poisson-increment law (spec §6.2) against a brute-force sum over Poisson counts."""

from __future__ import annotations

import math

import pytest
import torch

from unmask.samplers.uniform.increments import by_increment, by_value, increment_law

#: Counts above this are dropped from the brute force; every tail left out is below 1e-30.
MAX_COUNT = 80


def _brute_force(mean: list[float]) -> list[float]:
    """P(sum_k k N_k = m mod S) for independent N_k ~ Poisson(mean[k]), k = 1..S-1, by summing the
    Poisson probabilities of each count and convolving cyclically (no DFT)."""
    size = len(mean)
    law = [1.0] + [0.0] * (size - 1)
    for k in range(1, size):
        shift = [0.0] * size
        for n in range(MAX_COUNT + 1):
            log_p = -mean[k] + (n * math.log(mean[k]) if mean[k] > 0 else (0.0 if n == 0 else -math.inf))
            shift[(k * n) % size] += math.exp(log_p - math.lgamma(n + 1))
        law = [sum(law[a] * shift[(m - a) % size] for a in range(size)) for m in range(size)]
    return law


@pytest.mark.parametrize(
    "mean",
    [
        [0.0, 0.3],
        [0.0, 5.0],
        [0.0, 0.2, 1.1],
        [0.0, 0.0, 0.7],
        [0.0, 2.5, 0.01, 4.0],
        [0.0, 1e-4, 3.0, 0.5, 6.0],
        [0.0, 0.0, 0.0, 0.0],
    ],
)
def test_dft_law_matches_poisson_sum(mean: list[float]) -> None:
    """increment_law equals the brute-force Poisson sum to 1e-12 for several sizes S = 2..5 and
    rate vectors (zeros, tiny and large rates); entry 0 of ``mean`` is ignored."""
    got = increment_law(torch.tensor([mean], dtype=torch.float64))[0]
    want = torch.tensor(_brute_force(mean), dtype=torch.float64)
    assert torch.allclose(got, want, rtol=0, atol=1e-12), (got, want)
    shifted = increment_law(torch.tensor([[7.0, *mean[1:]]], dtype=torch.float64))[0]
    assert torch.equal(shifted, got)


def test_reindexing_round_trip() -> None:
    """by_increment puts value (z + k) mod S at index k, and by_value inverts it."""
    g = torch.Generator().manual_seed(0)
    values = torch.rand(5, 4, 3, generator=g, dtype=torch.float64)
    z = torch.randint(0, 3, (5, 4), generator=g)
    increments = by_increment(values, z)
    for k in range(3):
        expected = torch.gather(values, -1, ((z + k) % 3).unsqueeze(-1)).squeeze(-1)
        assert torch.equal(increments[..., k], expected)
    assert torch.equal(by_value(increments, z), values)
