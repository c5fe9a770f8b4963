"""Coupled likelihood ratios ``log p(y) - log p(x)`` from shared mask sets (spec §8).

Both sequences are scored on the **same** draws (same time, same masked positions), so the noise
that the draw puts into ``Y_x(M)`` and ``Y_y(M)`` largely cancels in ``Y_x(M) - Y_y(M)`` when the
sequences share most tokens. The positions must be aligned (equal lengths, a shared response
span). The same draws also give ``var(Y_x)`` and ``var(Y_y)``, hence the standard error two
independent estimates would have had and the variance reduction, measured rather than assumed.
"""

from __future__ import annotations

from functools import partial

import torch

from .. import checks
from ..denoisers import CountingDenoiser
from ..processes import MaskedProcess
from ..schedules import Schedule
from .budget import Budget, Progress, run_units
from .estimators import MaskedEstimator, build_estimator, check_eps
from .exact import exact_nelbo
from .nelbo import DEFAULT_EPS, METHODS, as_generator, resolve_process
from .positions import check_sequences, scored_positions
from .record import RatioResult
from .scoring import draw_rows, masked_sum, token_nll, unit_means, weighted


def coupled_units(
    denoiser,
    estimator: MaskedEstimator,
    x: torch.Tensor,
    y: torch.Tensor,
    eligible: torch.Tensor,
    n: torch.Tensor,
    index: torch.Tensor,
    vocab_size: int,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Unit estimates ``[U, 3]`` of ``(Y_x - Y_y, Y_x, Y_y)`` on shared draws, in one denoiser call
    of ``2 U unit`` rows."""
    rows, draw = draw_rows(estimator, index, eligible, n, generator)
    pair = torch.cat([x[rows], y[rows]])
    masks = torch.cat([draw.masks, draw.masks])
    nll = token_nll(
        denoiser, torch.where(masks, vocab_size, pair), torch.cat([draw.t, draw.t]), pair, vocab_size
    )
    g_x, g_y = masked_sum(nll, masks).chunk(2)
    y_x, y_y = weighted(draw, g_x), weighted(draw, g_y)
    return unit_means(torch.stack([y_x - y_y, y_x, y_y], dim=-1), estimator.unit_size)


def log_ratio(
    denoiser,
    x: torch.Tensor,
    y: torch.Tensor,
    vocab_size: int,
    method: str = "time-free",
    samples: int = 128,
    generator: torch.Generator | int | None = None,
    *,
    schedule: Schedule | None = None,
    process: MaskedProcess | None = None,
    eps: float | None = None,
    variant: str = "plain",
    strata: int = 8,
    steps: int | None = None,
    response: torch.Tensor | None = None,
    target_stderr: float | None = None,
    max_samples: int | None = None,
    max_rows: int = 4096,
    progress: Progress | None = None,
) -> RatioResult:
    """Estimate ``log p(y) - log p(x)`` for aligned pairs ``x, y [B, L]`` with shared mask sets.

    Options as in :func:`unmask.likelihood.nelbo` (masked process only); with ``response`` both
    sequences share the prompt positions' role (typically the same prompt and two answers).
    ``target_stderr`` applies to the ratio's standard error. ``method="exact"`` gives the exact
    difference of the two NELBOs (standard errors 0).
    """
    if not callable(denoiser):
        raise TypeError(f"denoiser must be callable as f(x_t, t) -> logits, got {type(denoiser).__name__}")
    vocab_size = checks.positive_int("vocab_size", vocab_size)
    x, y = check_sequences(x, vocab_size, "x"), check_sequences(y, vocab_size, "y")
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same shape (aligned positions), got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    eligible, n = scored_positions(response, x.shape)
    generator = as_generator(generator)
    process = resolve_process(process, schedule)
    if not isinstance(process, MaskedProcess):
        raise ValueError("coupled ratios share mask sets, so they need the masked process")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known methods: {', '.join(METHODS)}")
    eps = check_eps(DEFAULT_EPS if eps is None else eps)
    budget = Budget(samples, target_stderr, max_samples, max_rows)
    counting = CountingDenoiser(denoiser)
    if method == "exact":
        nll_x = exact_nelbo(counting, x, vocab_size, process.schedule, eligible)
        nll_y = exact_nelbo(counting, y, vocab_size, process.schedule, eligible)
        zero, count = torch.zeros_like(nll_x), torch.full_like(n, 1 << x.shape[1])
        return RatioResult(
            log_ratio=nll_x - nll_y, stderr=zero, independent_stderr=zero.clone(),
            variance_reduction=torch.full_like(zero, torch.nan), nll_x=nll_x, nll_y=nll_y,
            samples=count, tokens=n, nfe=counting.calls, nfe_per_row=2 * count, method=method,
        )  # fmt: skip
    if steps is not None and method != "discrete":
        raise ValueError(f"steps applies to method='discrete', not {method!r}")
    estimator = build_estimator(
        method, process.schedule, eps=eps, variant=variant, strata=strata, steps=steps
    )
    evaluate = partial(
        coupled_units, counting, estimator, x, y, eligible, n, vocab_size=vocab_size, generator=generator
    )
    stats = run_units(evaluate, len(x), 3, estimator.unit_size, 2, budget, progress)
    variance, units = stats.variance(), stats.count.to(torch.float64)
    independent = variance[:, 1] + variance[:, 2]
    samples_used = stats.count * estimator.unit_size
    return RatioResult(
        log_ratio=stats.mean[:, 0].clone(),
        stderr=stats.stderr()[:, 0],
        independent_stderr=torch.where(units > 1, (independent / units).sqrt(), torch.inf),
        variance_reduction=independent / variance[:, 0],
        nll_x=stats.mean[:, 1].clone(),
        nll_y=stats.mean[:, 2].clone(),
        samples=samples_used,
        tokens=n,
        nfe=counting.calls,
        nfe_per_row=2 * samples_used,
        method=method,
    )
