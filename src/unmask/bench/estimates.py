"""Monte Carlo error estimates for targets too large for an exact output law (spec §6.3).

Plug-in TV over ``S^L`` cells is heavily biased, so the estimates use low-dimensional statistics
that are exact under the target:

* ``pair_tv``: the mean over adjacent position pairs of the TV between the samples' pair
  frequencies and the target's exact pair marginals (the pair TV is a lower bound on the full TV),
  with a 95% percentile-bootstrap interval. The plug-in estimate is biased upwards by about
  ``sqrt(V^2 / n)`` for ``n`` samples, so a TV below that level is not resolved: raise
  ``--samples`` until the interval is well above it;
* ``leakage``: the fraction of samples outside the target's support, with a 95% Wilson interval.
"""

from __future__ import annotations

import math

import torch

from ..targets.chain import ChainTarget

BOOTSTRAP_RESAMPLES = 200


def pair_marginals(target: ChainTarget) -> torch.Tensor:
    """Exact adjacent-pair marginals ``[L - 1, V, V]`` of a chain target:
    ``E^T diag(h_j) A E`` with ``h_j = initial A^j`` the hidden marginal at position ``j``."""
    hidden = target.initial
    pairs = []
    for _ in range(target.length - 1):
        joint = hidden[:, None] * target.transition  # p(h_j, h_{j+1})
        pairs.append(target.emission.T @ joint @ target.emission)
        hidden = hidden @ target.transition
    return torch.stack(pairs)


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a binomial proportion."""
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return (max(0.0, centre - half), min(1.0, centre + half))


def pair_tv(
    target: ChainTarget, tokens: torch.Tensor, generator: torch.Generator
) -> tuple[float, tuple[float, float]]:
    """Mean adjacent-pair TV of ``tokens [n, L]`` against the target, with a bootstrap interval."""
    vocab = target.vocab_size
    exact = pair_marginals(target).reshape(target.length - 1, -1)  # [L-1, V^2]
    cells = tokens[:, :-1] * vocab + tokens[:, 1:]  # [n, L-1]
    onehot = torch.nn.functional.one_hot(cells, vocab * vocab).to(torch.float64)  # [n, L-1, V^2]
    n = len(tokens)
    weights = torch.ones(1, n, dtype=torch.float64)
    resampled = torch.multinomial(
        torch.full((n,), 1.0 / n), n * BOOTSTRAP_RESAMPLES, replacement=True, generator=generator
    ).reshape(BOOTSTRAP_RESAMPLES, n)
    counts = torch.zeros(BOOTSTRAP_RESAMPLES, n, dtype=torch.float64).scatter_add_(
        1, resampled, torch.ones_like(resampled, dtype=torch.float64)
    )
    weights = torch.cat([weights, counts])  # first row: the sample itself
    freqs = torch.einsum("rn,nlc->rlc", weights, onehot) / n
    tvs = 0.5 * (freqs - exact).abs().sum(-1).mean(-1)
    low, high = torch.quantile(tvs[1:], torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return float(tvs[0]), (low, high)


def leakage_estimate(target, tokens: torch.Tensor) -> tuple[float, tuple[float, float]]:
    """Fraction of samples with ``pi(x) = 0`` and its Wilson interval."""
    outside = int(torch.isneginf(target.log_prob(tokens)).sum())
    return outside / len(tokens), wilson_interval(outside, len(tokens))
