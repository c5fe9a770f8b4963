"""``nelbo``: one entry point for every likelihood estimator, with error bars and cost.

Masked process (spec §1.4, §8): ``"time-integral"`` (E1, ``t ~ U(eps, 1)``; variants ``plain``,
``antithetic``, ``stratified``), ``"time-free"`` (E2, I-MDCE), ``"uniform-count"`` (E3),
``"discrete"`` (the ``steps``-step bound) and ``"exact"`` (enumeration of the ``2^L`` mask sets,
small ``L``). With an exact denoiser E2, E3 and ``"exact"`` are unbiased for ``-log pi(x)``; E1
misses the ``[0, eps]`` part of the integral (a bias of about ``-eps sum_i -log pi(x_i | x_{-i})``).

Uniform process (``process=UniformProcess(...)``, :mod:`.uniform`): ``"time-integral"``
(continuous time on ``[t_min, 1]``), ``"discrete"`` (``steps`` Tweedie steps) and ``"exact"``
(enumeration of the ``V^L`` states: continuous time, or ``steps`` steps when given).
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any

import torch

from .. import checks
from ..denoisers import CountingDenoiser, check_vocabulary
from .budget import run_units
from .exact import MAX_EXACT_LENGTH, exact_nelbo
from .masks import as_generator
from .options import LikelihoodOptions
from .positions import check_sequences, scored_positions
from .record import LikelihoodResult
from .scoring import masked_units
from .uniform import exact_uniform_terms


def check_denoiser(denoiser: Any, vocab_size: int) -> None:
    """A denoiser must be callable as ``f(x_t, t) -> logits`` over ``vocab_size`` tokens."""
    if not callable(denoiser):
        raise TypeError(f"denoiser must be callable as f(x_t, t) -> logits, got {type(denoiser).__name__}")
    check_vocabulary(denoiser, vocab_size)


def nelbo(
    denoiser,
    x: torch.Tensor,
    vocab_size: int,
    method: str = "time-free",
    samples: int = 128,
    generator: torch.Generator | int | None = None,
    **options: Any,
) -> LikelihoodResult:
    """Estimate ``-log p(x)`` (nats per sequence) of ``x [B, L]`` under a denoiser, with error bars.

    Args:
        denoiser: ``f(x_t [R, L], t [R]) -> logits [R, L, V]`` (:mod:`unmask.denoisers`).
        x: clean token ids ``0..V-1``, LongTensor ``[B, L]``; every tensor of the estimate lives
            on its device.
        vocab_size: ``V``; the mask id is ``V``.
        method: ``"time-integral"``, ``"time-free"``, ``"uniform-count"``, ``"discrete"`` or
            ``"exact"`` (module docstring).
        samples: Monte-Carlo draws per sequence (rounded up to whole units); with
            ``target_stderr``, the size of the first round.
        generator: a ``torch.Generator`` (used on its own device) or an int seed (a generator on
            ``x``'s device); a fixed seed gives the same numbers.
        options: the other fields of :class:`~.options.LikelihoodOptions` (``schedule``,
            ``process``, ``eps``, ``variant``, ``strata``, ``steps``, ``response``,
            ``target_stderr``, ``max_samples``, ``max_rows``, ``progress``); any other keyword
            raises a ``TypeError``.

    Returns:
        :class:`LikelihoodResult` with ``nll``, ``stderr``, ``nfe``, ``samples`` and
        ``bits_per_token`` per sequence, the i.i.d. ``units`` and the confidence ``interval()``
        (Student-t with ``units - 1`` degrees of freedom and a skewness correction), ``reliable``
        and ``caveat`` (the time-integral intervals under-cover: heavy tail), and with
        ``target_stderr`` the per-sequence ``reached_target``.
    """
    vocab_size = checks.positive_int("vocab_size", vocab_size)
    check_denoiser(denoiser, vocab_size)
    x = check_sequences(x, vocab_size)
    chosen = LikelihoodOptions.build("nelbo", {"method": method, "samples": samples, **options})
    eligible, n = scored_positions(chosen.response, x.shape, x.device)
    generator = as_generator(generator, x.device)
    counting = CountingDenoiser(denoiser)
    if chosen.uniform:
        return _uniform(counting, x, eligible, n, vocab_size, chosen, generator)
    schedule = chosen.forward_process.schedule
    if schedule.alpha_at_one > 1e-12:
        warnings.warn(
            f"the schedule has alpha(1) = {schedule.alpha_at_one:.3g} > 0: the masked NELBO "
            "misses the prior term and is not a bound on -log p(x); use a schedule with alpha(1) = 0",
            stacklevel=2,
        )
    if chosen.method == "exact":
        if x.shape[1] > MAX_EXACT_LENGTH:
            raise ValueError(
                f"method='exact' enumerates 2^L mask sets; L = {x.shape[1]} is above {MAX_EXACT_LENGTH}"
            )
        value = exact_nelbo(counting, x, vocab_size, schedule, eligible)
        enumerated = torch.full_like(n, 1 << x.shape[1])
        if chosen.progress is not None:
            chosen.progress(len(x), len(x))
        return _exact_record(value, enumerated, n, counting, chosen)
    estimator = chosen.masked_estimator()
    evaluate = partial(
        masked_units, counting, estimator, x, eligible, n, vocab_size=vocab_size, generator=generator
    )
    stats = run_units(
        evaluate, len(x), 1, estimator.unit_size, 1, chosen.budget, chosen.progress, device=x.device
    )
    return _mc_record(stats, estimator.unit_size, 1, n, counting, chosen, estimator.interval_caveat)


def _uniform(counting, x, eligible, n, vocab_size, chosen, generator) -> LikelihoodResult:
    process = chosen.forward_process
    if chosen.method == "exact":
        value, _, visited = exact_uniform_terms(counting, x, eligible, vocab_size, process, chosen.steps)
        if chosen.progress is not None:
            chosen.progress(len(x), len(x))
        return _exact_record(value, torch.full_like(n, visited), n, counting, chosen)
    bound = chosen.uniform_bound()

    def evaluate(index):
        return bound.units(counting, x, eligible, n, index, vocab_size, generator)

    stats = run_units(
        evaluate, len(x), 1, bound.unit_size, bound.rows_per_draw, chosen.budget, chosen.progress,
        device=x.device,
    )  # fmt: skip
    return _mc_record(stats, bound.unit_size, bound.rows_per_draw, n, counting, chosen, bound.interval_caveat)


def _mc_record(stats, unit_size, rows_per_draw, n, counting, chosen, caveat) -> LikelihoodResult:
    samples = stats.count * unit_size
    stderr = stats.stderr()[:, 0]
    target = chosen.target_stderr
    return LikelihoodResult(
        nll=stats.mean[:, 0].clone(),
        stderr=stderr,
        variance=stats.variance()[:, 0],
        samples=samples,
        tokens=n,
        nfe=counting.calls,
        nfe_per_row=samples * rows_per_draw,
        method=chosen.method,
        process=chosen.forward_process.name,
        units=stats.count.clone(),
        skewness=stats.skewness()[:, 0],
        target_stderr=target,
        reached_target=None if target is None else stderr <= target,
        caveat=caveat,
    )


def _exact_record(value, enumerated, n, counting, chosen) -> LikelihoodResult:
    zero = torch.zeros_like(value)
    return LikelihoodResult(
        nll=value, stderr=zero, variance=zero.clone(), samples=enumerated, tokens=n, nfe=counting.calls,
        nfe_per_row=enumerated.clone(), method=chosen.method, process=chosen.forward_process.name,
    )  # fmt: skip
