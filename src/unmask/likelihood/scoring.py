"""Scoring drawn mask sets with a denoiser: one batched call per chunk of draws.

``token_nll`` turns a denoiser call into ``-log p(x_i | z)`` per position, read from the logits a
few positions at a time (:meth:`unmask.probabilities.Probabilities.log_prob_of`: float64
accumulation, never a float64 ``[R, L, V]``);
``masked_units`` draws one unit per requested sequence with a masked estimator and returns the
unit estimates ``mean over the unit of W g(M)``.
"""

from __future__ import annotations

import torch

from ..denoisers import check_logits
from ..probabilities import Probabilities
from .estimators import MaskDraw, MaskedEstimator


def token_nll(
    denoiser,
    z: torch.Tensor,
    t: torch.Tensor,
    x: torch.Tensor,
    vocab_size: int,
    where: torch.Tensor | None = None,
) -> torch.Tensor:
    """``-log softmax(f(z, t))[x_i]`` float64 ``[R, L]`` for states ``z [R, L]``, times ``t [R]`` and
    clean targets ``x [R, L]`` (``inf`` where the model gives ``x_i`` probability 0); with
    ``where`` (bool ``[R, L]``) only those positions are read and the others are 0."""
    logits = check_logits(denoiser(z, t), z.shape[0], z.shape[1], vocab_size)
    return -Probabilities(logits).log_prob_of(x, dtype=torch.float64, where=where)


def masked_sum(nll: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``g(M) = sum_{i in M} nll_i`` ``[R]`` (an unmasked position never contributes, even if inf)."""
    return torch.where(masks, nll, 0.0).sum(-1)


def draw_rows(
    estimator: MaskedEstimator,
    index: torch.Tensor,
    eligible: torch.Tensor,
    n: torch.Tensor,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, MaskDraw]:
    """The row ids ``[U * unit]`` of one unit per entry of ``index [U]`` and their draws."""
    rows = index.repeat_interleave(estimator.unit_size)
    return rows, estimator.draw(eligible[rows], n[rows], generator)


def unit_means(values: torch.Tensor, unit_size: int) -> torch.Tensor:
    """Means over consecutive groups of ``unit_size`` draws: ``[U * unit, ...] -> [U, ...]``."""
    return values.reshape(-1, unit_size, *values.shape[1:]).mean(1)


def weighted(draw: MaskDraw, g: torch.Tensor) -> torch.Tensor:
    """``W g(M)``, with ``0 * inf = 0`` (a zero weight never turns an infinite loss into NaN)."""
    return torch.where(draw.weight > 0, draw.weight * g, 0.0)


def masked_units(
    denoiser,
    estimator: MaskedEstimator,
    x: torch.Tensor,
    eligible: torch.Tensor,
    n: torch.Tensor,
    index: torch.Tensor,
    vocab_size: int,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One unit estimate ``[U]`` for each sequence ``index[u]`` of ``x [B, L]``."""
    rows, draw = draw_rows(estimator, index, eligible, n, generator)
    z = torch.where(draw.masks, vocab_size, x[rows])
    g = masked_sum(token_nll(denoiser, z, draw.t, x[rows], vocab_size, where=draw.masks), draw.masks)
    return unit_means(weighted(draw, g), estimator.unit_size)
