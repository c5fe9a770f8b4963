"""Helpers for the likelihood tests: every sequence of a small target, its law, and exact moments
of one Monte-Carlo draw computed by enumeration."""

from __future__ import annotations

import torch

from unmask.likelihood.estimators import MaskedEstimator
from unmask.likelihood.exact import all_masks, per_row_weights, subset_losses

#: |estimate - exact| <= Z_LIMIT standard errors (two-sided 0.27 % per comparison, fixed seeds).
Z_LIMIT = 3.0


def all_sequences(vocab_size: int, length: int) -> torch.Tensor:
    """Every sequence ``[V^L, L]`` in row-major order."""
    grids = torch.meshgrid(*[torch.arange(vocab_size)] * length, indexing="ij")
    return torch.stack([g.reshape(-1) for g in grids], dim=-1)


def support(target) -> tuple[torch.Tensor, torch.Tensor]:
    """The sequences of positive probability and their probabilities ``pi(x)``."""
    x = all_sequences(target.vocab_size, target.length)
    p = target.log_prob(x).exp()
    return x[p > 0], p[p > 0]


def entropy(target) -> float:
    """``H(pi)`` in nats."""
    _, p = support(target)
    return float(-(p * p.log()).sum())


def power_moments(estimator: MaskedEstimator, denoiser, x: torch.Tensor, vocab_size: int, powers=(1, 2, 4)):
    """``E[Y^p]`` ``[B]`` for each ``p`` in ``powers``, by enumerating the ``2^L`` mask sets."""
    masks, g = subset_losses(denoiser, x, vocab_size, estimator.schedule)
    eligible = torch.ones_like(x, dtype=torch.bool)
    n = torch.full((len(x),), x.shape[1])
    out = []
    for p in powers:
        w = per_row_weights(
            lambda size, p=p: estimator.weight_moment(size, p), all_masks(x.shape[1]), eligible, n
        )
        out.append((w * g**p).sum(-1))
    return out


def z_scores(estimate: torch.Tensor, exact: torch.Tensor, stderr: torch.Tensor) -> torch.Tensor:
    """``(estimate - exact) / stderr`` per sequence."""
    return (estimate - exact) / stderr
