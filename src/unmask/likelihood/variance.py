"""Exact mean and variance of one Monte-Carlo unit, by enumerating the ``2^L`` mask sets (spec §8).

For a masked estimator with moments ``a_k = E[W 1{M = A}]`` and ``b_k = E[W^2 1{M = A}]``
(``|A| = k``, :meth:`~.estimators.MaskedEstimator.moments`) and ``g(A) = sum_{i in A} -log p(x_i |
x with A masked)``, one plain draw ``Y = W g(M)`` has

    E[Y] = sum_A a_|A| g(A),        Var[Y] = sum_A b_|A| g(A)^2 - E[Y]^2.

The antithetic and stratified time-integral units couple the times of their draws, so their
variances go through the conditional moments given the time, with ``G_p[k] = sum_{|A| = k} g(A)^p``:

    E[Y | t] = W(t) sum_k m^k alpha^(n-k) G_1[k],   E[Y^2 | t] = W(t)^2 sum_k m^k alpha^(n-k) G_2[k],

* antithetic pair ``U = (Y(t) + Y(t'))/2``, ``t' = 1 + eps - t``:
  ``E[U^2] = E[Y^2]/2 + E_t[E[Y | t] E[Y | t']]/2``;
* ``S`` strata: ``Var U = (1/S^2) sum_j Var_j Y`` with ``Var_j`` the variance within stratum ``j``,

integrated by Gauss-Legendre quadrature in ``log t``. For a coupled pair the same sums with
``g_x - g_y`` give the coupled variance, and ``Var Y_x + Var Y_y`` is the variance of independent
estimates. Small ``L`` only (``L <= 16``); the denoiser is evaluated once per mask set (a
time-agnostic denoiser, as every exact one is).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, NamedTuple

import torch

from .. import checks
from .estimators import MaskedEstimator, TimeIntegral
from .exact import all_masks, per_row_weights, subset_losses
from .options import BUDGET_OPTIONS, LikelihoodOptions
from .positions import check_sequences, scored_positions
from .quadrature import log_time_nodes

#: Gauss-Legendre nodes (in log t) per stratum, or over ``[eps, 1]``, for coupled-time units.
UNIT_NODES = 256
#: The options the exact moments take: every option that is not a Monte-Carlo budget.
MOMENT_OPTIONS = tuple(f.name for f in fields(LikelihoodOptions) if f.name not in (*BUDGET_OPTIONS, "method"))


class DrawMoments(NamedTuple):
    """``mean [B]`` and ``variance [B]`` of one unit's estimate (one draw unless the variant
    couples draws: an antithetic pair or a set of strata)."""

    mean: torch.Tensor
    variance: torch.Tensor


class RatioMoments(NamedTuple):
    """Exact moments of one unit of ``Y_x - Y_y``: its ``mean [B]``, its ``coupled`` variance with
    shared masks and the ``independent`` variance ``Var Y_x + Var Y_y`` (all ``[B]``)."""

    mean: torch.Tensor
    coupled: torch.Tensor
    independent: torch.Tensor


class _Problem(NamedTuple):
    estimator: MaskedEstimator
    masks: torch.Tensor
    eligible: torch.Tensor
    n: torch.Tensor


def _options(caller: str, method: str, options: dict[str, Any]) -> LikelihoodOptions:
    """The options of an exact moment computation: a masked Monte-Carlo method, no budget."""
    chosen = LikelihoodOptions.build(caller, {"method": method, **options}, ("method", *MOMENT_OPTIONS))
    if chosen.uniform or chosen.method == "exact":
        raise ValueError(
            f"{caller} gives the moments of one draw of a masked Monte-Carlo estimator; "
            f"got method={chosen.method!r} on the {chosen.forward_process.name} process"
        )
    return chosen


def _problem(chosen: LikelihoodOptions, shape: torch.Size, device: torch.device) -> _Problem:
    eligible, n = scored_positions(chosen.response, shape, device)
    return _Problem(chosen.masked_estimator(), all_masks(shape[1], device), eligible, n)


def _sum(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    return torch.where(weights > 0, weights * values, 0.0).sum(-1)


def _by_size(problem: _Problem, values: torch.Tensor) -> torch.Tensor:
    """``G[b, k] = sum over sets A of size k inside row b's scored positions of values[b, A]``."""
    inside = ~(problem.masks[None] & ~problem.eligible[:, None, :]).any(-1)
    size = problem.masks.sum(-1).expand(len(values), -1)
    out = torch.zeros(len(values), problem.masks.shape[1] + 1, dtype=torch.float64, device=values.device)
    return out.scatter_add_(1, size, torch.where(inside, values, 0.0))


def _time_conditional(estimator: TimeIntegral, t, n, g1, g2):
    """``E[Y | t]`` and ``E[Y^2 | t]`` ``[B, Q]`` for times ``t [Q]``."""
    schedule = estimator.schedule
    k = torch.arange(g1.shape[1], dtype=torch.float64, device=g1.device)[None, :, None]
    m, alpha = schedule.masked_fraction(t), schedule.alpha(t)
    power = (n.to(torch.float64)[:, None, None] - k).clamp(min=0)
    law = m**k * alpha**power  # P(M = A | t) for |A| = k, [B, K, Q]
    weight = (1 - estimator.eps) * schedule.hazard(t)
    return weight * (law * g1[..., None]).sum(1), weight**2 * (law * g2[..., None]).sum(1)


def _coupled_time_moments(problem: _Problem, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unit variance of an antithetic or stratified time-integral unit."""
    estimator = problem.estimator
    assert isinstance(estimator, TimeIntegral)  # only its variants couple draws
    g1, g2 = _by_size(problem, g), _by_size(problem, g**2)
    eps, width, device = estimator.eps, 1 - estimator.eps, g.device
    if estimator.variant == "antithetic":
        t, dt = log_time_nodes(eps, 1.0, UNIT_NODES, device)
        first, second = _time_conditional(estimator, t, problem.n, g1, g2)
        mirror, _ = _time_conditional(estimator, 1 + eps - t, problem.n, g1, g2)
        mean = (first * dt).sum(-1) / width
        square = 0.5 * (second * dt).sum(-1) / width + 0.5 * (first * mirror * dt).sum(-1) / width
        return mean, square - mean**2
    strata = estimator.strata
    edges = [eps + width * j / strata for j in range(strata + 1)]
    mean = torch.zeros(len(g), dtype=torch.float64, device=device)
    variance = torch.zeros_like(mean)
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        t, dt = log_time_nodes(low, high, UNIT_NODES // 4, device)
        first, second = _time_conditional(estimator, t, problem.n, g1, g2)
        within_mean = (first * dt).sum(-1) / (high - low)
        within_square = (second * dt).sum(-1) / (high - low)
        mean += within_mean / strata
        variance += (within_square - within_mean**2) / strata**2
    return mean, variance


def _unit_moments(problem: _Problem, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if problem.estimator.unit_size > 1:
        return _coupled_time_moments(problem, g)
    first, second = (
        per_row_weights(lambda size, p=p: problem.estimator.weight_moment(size, p, g.device), problem.masks,
                        problem.eligible, problem.n)
        for p in (1, 2)
    )  # fmt: skip
    mean = _sum(first, g)
    return mean, _sum(second, g**2) - mean**2


def unit_moments(losses: torch.Tensor, method: str = "time-free", **options: Any) -> DrawMoments:
    """Exact mean and unit variance of ``method`` from the mask-set losses ``g [B, 2^L]`` of
    :func:`~.exact.subset_losses` (compute them once, compare every method without new denoiser
    calls). ``options``: the fields of :class:`~.options.LikelihoodOptions` that are not a budget
    (:data:`MOMENT_OPTIONS`)."""
    if not torch.is_tensor(losses) or losses.dim() != 2 or losses.shape[1] & (losses.shape[1] - 1):
        raise ValueError(
            "losses must be the [B, 2^L] tensor of subset_losses(denoiser, x, vocab_size, schedule)"
        )
    chosen = _options("unit_moments", method, options)
    length = losses.shape[1].bit_length() - 1
    problem = _problem(chosen, torch.Size((len(losses), length)), losses.device)
    return DrawMoments(*_unit_moments(problem, losses.to(torch.float64)))


def draw_moments(
    denoiser, x: torch.Tensor, vocab_size: int, method: str = "time-free", **options: Any
) -> DrawMoments:
    """Exact mean and unit variance of ``method`` (``options``: ``schedule``, ``process``, ``eps``,
    ``variant``, ``strata``, ``steps``, ``response`` as for :func:`unmask.likelihood.nelbo`) for
    each sequence of ``x [B, L]``: what a Monte-Carlo run's ``nll`` averages to and what its
    ``variance`` estimates."""
    vocab_size = checks.positive_int("vocab_size", vocab_size)
    x = check_sequences(x, vocab_size)
    chosen = _options("draw_moments", method, options)
    problem = _problem(chosen, x.shape, x.device)
    _, g = subset_losses(denoiser, x, vocab_size, problem.estimator.schedule)
    return DrawMoments(*_unit_moments(problem, g))


def ratio_moments(
    denoiser, x: torch.Tensor, y: torch.Tensor, vocab_size: int, method: str = "time-free", **options: Any
) -> RatioMoments:
    """Exact moments of one unit of the coupled difference ``Y_x - Y_y`` for aligned ``x, y [B, L]``
    (``options`` as for :func:`draw_moments`)."""
    vocab_size = checks.positive_int("vocab_size", vocab_size)
    x, y = check_sequences(x, vocab_size, "x"), check_sequences(y, vocab_size, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    problem = _problem(_options("ratio_moments", method, options), x.shape, x.device)
    _, g_x = subset_losses(denoiser, x, vocab_size, problem.estimator.schedule)
    _, g_y = subset_losses(denoiser, y.to(x.device), vocab_size, problem.estimator.schedule)
    mean, coupled = _unit_moments(problem, g_x - g_y)
    _, var_x = _unit_moments(problem, g_x)
    _, var_y = _unit_moments(problem, g_y)
    return RatioMoments(mean, coupled, var_x + var_y)
