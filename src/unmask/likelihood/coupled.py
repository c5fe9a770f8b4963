"""Coupled likelihood ratios ``log p(y) - log p(x)`` from shared mask sets (spec §8).

Both sequences are scored on the **same** draws (same time, same masked positions), so the noise
that the draw puts into ``Y_x(M)`` and ``Y_y(M)`` largely cancels in ``Y_x(M) - Y_y(M)`` when the
sequences share most tokens. The positions must be aligned (equal lengths, a shared response
span). The same draws also give ``var(Y_x)`` and ``var(Y_y)``, hence the standard error two
independent estimates would have had and the variance reduction, measured rather than assumed.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch

from .. import checks
from ..denoisers import CountingDenoiser
from ..processes import UniformProcess
from .budget import run_units
from .estimators import MaskedEstimator
from .exact import exact_nelbo
from .masks import as_generator
from .nelbo import check_denoiser
from .options import LikelihoodOptions
from .positions import check_sequences, scored_positions
from .record import RatioResult
from .scoring import draw_rows, masked_sum, token_nll, unit_means, weighted

COUPLING = "coupled ratios share mask sets, so they need the masked process"


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
    z, t = torch.where(masks, vocab_size, pair), torch.cat([draw.t, draw.t])
    nll = token_nll(denoiser, z, t, pair, vocab_size, where=masks)
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
    **options: Any,
) -> RatioResult:
    """Estimate ``log p(y) - log p(x)`` for aligned pairs ``x, y [B, L]`` with shared mask sets.

    ``method``, ``samples``, ``generator`` and ``options`` (the fields of
    :class:`~.options.LikelihoodOptions`) as in :func:`unmask.likelihood.nelbo`, masked process
    only; with ``response`` both sequences share the prompt positions' role (typically the same
    prompt and two answers). ``target_stderr`` applies to the ratio's standard error.
    ``method="exact"`` gives the exact difference of the two NELBOs (standard errors 0).
    """
    vocab_size = checks.positive_int("vocab_size", vocab_size)
    check_denoiser(denoiser, vocab_size)
    x, y = check_sequences(x, vocab_size, "x"), check_sequences(y, vocab_size, "y")
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same shape (aligned positions), got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if isinstance(options.get("process"), UniformProcess):
        raise ValueError(COUPLING)
    chosen = LikelihoodOptions.build("log_ratio", {"method": method, "samples": samples, **options})
    y = y.to(x.device)
    eligible, n = scored_positions(chosen.response, x.shape, x.device)
    generator = as_generator(generator, x.device)
    counting = CountingDenoiser(denoiser)
    if chosen.method == "exact":
        schedule = chosen.forward_process.schedule
        nll_x = exact_nelbo(counting, x, vocab_size, schedule, eligible)
        nll_y = exact_nelbo(counting, y, vocab_size, schedule, eligible)
        zero, count = torch.zeros_like(nll_x), torch.full_like(n, 1 << x.shape[1])
        return RatioResult(
            log_ratio=nll_x - nll_y, stderr=zero, independent_stderr=zero.clone(),
            variance_reduction=torch.full_like(zero, torch.nan), nll_x=nll_x, nll_y=nll_y,
            samples=count, tokens=n, nfe=counting.calls, nfe_per_row=2 * count, method=chosen.method,
        )  # fmt: skip
    estimator = chosen.masked_estimator()
    evaluate = partial(
        coupled_units, counting, estimator, x, y, eligible, n, vocab_size=vocab_size, generator=generator
    )
    stats = run_units(
        evaluate, len(x), 3, estimator.unit_size, 2, chosen.budget, chosen.progress, device=x.device
    )
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
        method=chosen.method,
    )
