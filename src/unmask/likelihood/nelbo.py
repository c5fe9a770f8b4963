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
from ..denoisers import CountingDenoiser
from ..processes import MaskedProcess, UniformProcess
from ..schedules import LinearSchedule, Schedule
from .budget import Budget, Progress, run_units
from .estimators import ESTIMATORS, build_estimator, check_eps
from .exact import MAX_EXACT_LENGTH, exact_nelbo
from .positions import check_sequences, scored_positions
from .record import LikelihoodResult
from .scoring import masked_units
from .uniform import UniformBound, exact_uniform_terms

METHODS = (*ESTIMATORS, "exact")
UNIFORM_METHODS = ("time-integral", "discrete", "exact")
DEFAULT_EPS = 1e-3


def as_generator(generator: Any) -> torch.Generator | None:
    """A ``torch.Generator`` from a generator, an int seed or None."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(generator)
    raise TypeError(
        f"generator must be a torch.Generator, an int seed or None, got {type(generator).__name__}"
    )


def resolve_process(process: Any, schedule: Schedule | None) -> MaskedProcess | UniformProcess:
    """The process: ``MaskedProcess(schedule or linear)`` by default."""
    if process is None:
        if schedule is not None and not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a Schedule, got {type(schedule).__name__}")
        return MaskedProcess(schedule or LinearSchedule())
    if not isinstance(process, (MaskedProcess, UniformProcess)):
        raise TypeError(f"process must be a MaskedProcess or a UniformProcess, got {type(process).__name__}")
    if schedule is not None and schedule != process.schedule:
        raise ValueError("give the schedule inside the process (process=MaskedProcess(schedule)), not both")
    return process


def nelbo(
    denoiser,
    x: torch.Tensor,
    vocab_size: int,
    method: str = "time-free",
    samples: int = 128,
    generator: torch.Generator | int | None = None,
    *,
    schedule: Schedule | None = None,
    process: MaskedProcess | UniformProcess | None = None,
    eps: float | None = None,
    variant: str = "plain",
    strata: int = 8,
    steps: int | None = None,
    response: torch.Tensor | None = None,
    target_stderr: float | None = None,
    max_samples: int | None = None,
    max_rows: int = 4096,
    progress: Progress | None = None,
) -> LikelihoodResult:
    """Estimate ``-log p(x)`` (nats per sequence) of ``x [B, L]`` under a denoiser, with error bars.

    Args:
        denoiser: ``f(x_t [R, L], t [R]) -> logits [R, L, V]`` (:mod:`unmask.denoisers`).
        x: clean token ids ``0..V-1``, LongTensor ``[B, L]``.
        vocab_size: ``V``; the mask id is ``V``.
        method: ``"time-integral"``, ``"time-free"``, ``"uniform-count"``, ``"discrete"`` or
            ``"exact"`` (module docstring).
        samples: Monte-Carlo draws per sequence (rounded up to whole units); with
            ``target_stderr``, the size of the first round.
        generator: a ``torch.Generator`` or an int seed (fixed seed, same numbers).
        schedule: masking schedule (default linear); or pass ``process``.
        process: ``MaskedProcess(schedule)`` (default) or ``UniformProcess(schedule, t_min)``.
        eps: masked time-integral clip, ``t ~ U(eps, 1)`` (default 1e-3). The uniform process
            uses its own ``t_min`` instead.
        variant: ``"plain"``, ``"antithetic"`` (pairs ``t``, ``1 + eps - t``) or ``"stratified"``
            (``strata`` stratified times per unit); time-integral only.
        steps: grid steps for ``"discrete"`` (and for uniform ``"exact"``, else continuous time).
        response: bool ``[B, L]`` or ``[L]``: score ``-log p(response | rest)``; the other
            positions are the prompt and are never masked.
        target_stderr, max_samples: draw in rounds until each sequence's standard error is at
            most ``target_stderr`` or it has ``max_samples`` draws (default ``32 * samples``).
        max_rows: the most denoiser rows in one call.
        progress: called as ``progress(done, planned)`` (draws over all sequences) after each call.

    Returns:
        :class:`LikelihoodResult` with ``nll``, ``stderr``, ``nfe``, ``samples`` and
        ``bits_per_token`` per sequence.
    """
    if not callable(denoiser):
        raise TypeError(f"denoiser must be callable as f(x_t, t) -> logits, got {type(denoiser).__name__}")
    vocab_size = checks.positive_int("vocab_size", vocab_size)
    x = check_sequences(x, vocab_size)
    eligible, n = scored_positions(response, x.shape)
    generator = as_generator(generator)
    process = resolve_process(process, schedule)
    budget = Budget(samples, target_stderr, max_samples, max_rows)
    counting = CountingDenoiser(denoiser)
    if isinstance(process, UniformProcess):
        return _uniform(counting, x, eligible, n, vocab_size, method, process, eps, variant, strata, steps,
                        budget, generator, progress)  # fmt: skip
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known methods: {', '.join(METHODS)}")
    eps = check_eps(DEFAULT_EPS if eps is None else eps)
    if process.schedule.alpha_at_one > 1e-12:
        warnings.warn(
            f"the schedule has alpha(1) = {process.schedule.alpha_at_one:.3g} > 0: the masked NELBO "
            "misses the prior term and is not a bound on -log p(x); use a schedule with alpha(1) = 0",
            stacklevel=2,
        )
    if method == "exact":
        if variant != "plain" or steps is not None:
            raise ValueError("method='exact' takes no variant or steps")
        if x.shape[1] > MAX_EXACT_LENGTH:
            raise ValueError(
                f"method='exact' enumerates 2^L mask sets; L = {x.shape[1]} is above {MAX_EXACT_LENGTH}"
            )
        value = exact_nelbo(counting, x, vocab_size, process.schedule, eligible)
        enumerated = torch.full_like(n, 1 << x.shape[1])
        if progress is not None:
            progress(len(x), len(x))
        return _exact_record(value, enumerated, n, counting, "exact", "masked")
    if steps is not None and method != "discrete":
        raise ValueError(f"steps applies to method='discrete', not {method!r}")
    estimator = build_estimator(
        method, process.schedule, eps=eps, variant=variant, strata=strata, steps=steps
    )
    evaluate = partial(
        masked_units, counting, estimator, x, eligible, n, vocab_size=vocab_size, generator=generator
    )
    stats = run_units(evaluate, len(x), 1, estimator.unit_size, 1, budget, progress)
    return _mc_record(stats, estimator.unit_size, 1, n, counting, method, "masked")


def _uniform(counting, x, eligible, n, vocab_size, method, process, eps, variant, strata, steps,
             budget, generator, progress) -> LikelihoodResult:  # fmt: skip
    if method not in UNIFORM_METHODS:
        raise ValueError(
            f"method {method!r} is for the masked process; "
            f"the uniform process has {', '.join(UNIFORM_METHODS)}"
        )
    if eps is not None:
        raise ValueError("eps is the masked time-integral clip; the uniform process uses process.t_min")
    if method == "exact":
        if variant != "plain":
            raise ValueError("method='exact' takes no variant")
        if steps is not None:
            checks.positive_int("steps", steps)
        value, _, visited = exact_uniform_terms(counting, x, eligible, vocab_size, process, steps)
        if progress is not None:
            progress(len(x), len(x))
        return _exact_record(value, torch.full_like(n, visited), n, counting, "exact", "uniform")
    if method == "discrete" and steps is None:
        raise ValueError("method='discrete' needs steps=N (the number of grid steps), got steps=None")
    if method == "time-integral" and steps is not None:
        raise ValueError("steps applies to method='discrete' (or 'exact'), not 'time-integral'")
    bound = UniformBound(process, steps if method == "discrete" else None, variant, strata)

    def evaluate(index):
        return bound.units(counting, x, eligible, n, index, vocab_size, generator)

    stats = run_units(evaluate, len(x), 1, bound.unit_size, bound.rows_per_draw, budget, progress)
    return _mc_record(stats, bound.unit_size, bound.rows_per_draw, n, counting, method, "uniform")


def _mc_record(stats, unit_size, rows_per_draw, n, counting, method, process) -> LikelihoodResult:
    samples = stats.count * unit_size
    return LikelihoodResult(
        nll=stats.mean[:, 0].clone(),
        stderr=stats.stderr()[:, 0],
        variance=stats.variance()[:, 0],
        samples=samples,
        tokens=n,
        nfe=counting.calls,
        nfe_per_row=samples * rows_per_draw,
        method=method,
        process=process,
    )


def _exact_record(value, enumerated, n, counting, method, process) -> LikelihoodResult:
    zero = torch.zeros_like(value)
    return LikelihoodResult(
        nll=value, stderr=zero, variance=zero.clone(), samples=enumerated, tokens=n,
        nfe=counting.calls, nfe_per_row=enumerated.clone(), method=method, process=process,
    )  # fmt: skip
