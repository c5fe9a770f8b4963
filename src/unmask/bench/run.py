"""Run the benchmark: every sampler, at every step count, on every target, against the exact answer.

A cell is one (target, process, sampler, steps). Its error comes from the sampler's exact output
law when the state space allows and the sampler has one (TV, KL(target || sampler), leakage, the
exact pair TV, and the path-KL bound for random-order masked samplers), otherwise (a target too
large, or a sampler that refuses its exact law, such as ReMDM-conf:
:meth:`unmask.samplers.Sampler.exact_law_refusal`) from Monte Carlo estimates with 95% intervals
of ``pair_tv`` (the adjacent-pair TV, a lower bound on the TV; :mod:`unmask.bench.estimates`) and
leakage. Every
cell also draws ``samples`` sequences with :func:`unmask.sample` to measure the NFE actually used
(calls per row, after reuse of unchanged rows).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import torch

from ..exact import best_plan, kl, leakage, path_kl, reference_law, run_law, tv
from ..exact.laws import MAX_STATES
from ..exact.limit import MAX_PLANS, count_plans
from ..exact.path_kl import supports_path_kl
from ..samplers import sample
from .config import BenchConfig, TargetSpec, bench_process
from .estimates import (
    law_pair_marginals,
    leakage_estimate,
    pair_tv,
    pair_tv_null_margin,
    pair_tv_value,
)
from .specs import SamplerSpec
from .suite import SUITE

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Cell:
    """One benchmark measurement.

    ``nfe_budget`` is the nominal number of denoiser calls (steps taken x calls per step; the
    number of masked tokens for first-hitting; for adaptive planners the most calls any drawn row
    took); ``nfe_used`` the mean calls per row actually made (lower when unchanged rows reuse a
    call); ``nfe_expected`` the exact expected calls per row (exact cells: ``E[#steps]`` from the
    exact law times the calls per step, before reuse).
    ``limit_tv`` (masked exact cells): the TV of the best plan any factorised sampler with exact
    conditionals can follow in ``nfe_budget`` calls (:func:`unmask.exact.best_plan`; 0 from
    ``L`` calls on). A sampler that draws its plan at random (k-random, the ancestral samplers)
    or adapts it to the revealed values (the planners) is a mixture of plans and can go below it.
    ``method`` is ``"exact"`` (errors from the exact law: ``tv``, ``kl``, ``leakage``, ``path_kl``,
    and ``pair_tv`` computed from it, without an interval, to compare with Monte Carlo cells of the
    same target) or ``"monte-carlo"`` (a target too large for exact laws, or a sampler without one,
    :meth:`~unmask.samplers.Sampler.exact_law_refusal`): ``tv`` and ``kl`` are then ``None``, and
    ``pair_tv`` estimates the mean
    over adjacent positions ``i`` of the TV between the sampler's and the target's laws of
    ``(x_i, x_{i+1})`` (a lower bound on the TV), noise-corrected, with ``pair_tv_interval`` a 95%
    interval (covers it with probability at least 95%), ``pair_tv_plugin`` the plug-in value and
    ``pair_tv_null_bias`` the plug-in's expected value for an exact sampler;
    ``leakage`` is then the sampled fraction with ``leakage_interval`` its 95% Wilson interval.
    ``predicted`` and ``prediction_note``:
    the convergence order the sampler predicts for itself at this cell, and why.
    """

    target: str
    process: str
    sampler: str
    steps: int | None
    nfe_budget: int
    nfe_used: float
    nfe_expected: float | None
    method: str
    tv: float | None
    kl: float | None
    leakage: float
    path_kl: float | None
    clipped_mass: float | None
    pair_tv: float | None
    pair_tv_interval: tuple[float, float] | None
    pair_tv_plugin: float | None
    pair_tv_null_bias: float | None
    leakage_interval: tuple[float, float] | None
    seconds: float
    predicted: str
    prediction_note: str
    limit_tv: float | None = None


def plan(config: BenchConfig) -> list[tuple[TargetSpec, SamplerSpec, int | None]]:
    """The cells to run, in order. Event-driven samplers that fix their own number of calls
    (first-hitting; k-random given k or sizes) run once per target."""
    cells = []
    for target in config.targets:
        for spec in config.samplers:
            built = spec.build()
            if not built.uses_grid and (not built.takes_steps or spec.hyperparameters):
                cells.append((target, spec, None))
            else:
                limit = spec.max_steps if spec.max_steps is not None else max(config.steps)
                cells.extend((target, spec, steps) for steps in config.steps if steps <= limit)
    return cells


def check_sizes(config: BenchConfig) -> None:
    """Raise before any work if a uniform cell's target is too large for its exact law."""
    for target in config.targets:
        built = SUITE[target.name].at("uniform", target.length)
        if any(spec.process == "uniform" for spec in config.samplers):
            states = built.vocab_size**built.length
            if states > 729:
                raise ValueError(
                    f"target {target.label!r} has {states} states; the uniform benchmark computes exact "
                    "laws and allows at most 729 (3^6). Use a shorter length or masked samplers only."
                )


def exact_cells_possible(target, process: str) -> bool:
    """Whether ``target``'s exact output laws under the bench's ``process`` fit :data:`MAX_STATES`."""
    return bench_process(process).state_base(target.vocab_size) ** target.length <= MAX_STATES


def run_cell(target_spec: TargetSpec, spec: SamplerSpec, steps: int | None, config: BenchConfig) -> Cell:
    """Measure one cell (see :class:`Cell`)."""
    start = time.perf_counter()
    process = bench_process(spec.process)
    target = SUITE[target_spec.name].at(spec.process, target_spec.length)
    sampler = spec.build()
    generator = torch.Generator().manual_seed(config.seed)
    drawn = sample(
        process.exact_denoiser(target),
        sampler,
        vocab_size=target.vocab_size,
        length=target.length,
        batch_size=config.samples,
        steps=steps,
        process=process,
        generator=config.seed,
        # The uniform cells compare with the law at t_min, so they stop there without a final draw.
        final_denoise=False if process.optional_final_denoise else None,
        show_progress=False,  # the bench shows its own progress over cells
    )
    resolved = drawn.sampler
    # Grid samplers: the grid's steps; event-driven ones: the steps taken (L for first-hitting).
    taken = len(drawn.grid) - 1 if drawn.grid is not None else drawn.steps
    budget = taken * resolved.calls_per_step
    nfe_used = float(drawn.nfe_per_row.double().mean())
    if exact_cells_possible(target, spec.process) and resolved.exact_law_refusal() is None:
        law = run_law(target, resolved, steps, process=process)
        reference = reference_law(target, process)
        clipped = law.diagnostics.get("clipped_mass")
        bound = (
            path_kl(target, resolved, steps, process=process) if supports_path_kl(resolved, process) else None
        )
        error = tv(law.law, reference)
        predicted, note = resolved.predicted_order(clipped, error)
        limit = limit_tv(target_spec, budget) if spec.process == "masked" else None
        return Cell(
            target_spec.label, spec.process, spec.label, steps, budget, nfe_used,
            law.expected_steps * resolved.calls_per_step, "exact",
            error, kl(reference, law.law), leakage(law.law, reference), bound,
            clipped, pair_tv_value(law_pair_marginals(law.law), law_pair_marginals(reference)),
            None, None, None, None, time.perf_counter() - start, predicted, note, limit,
        )  # fmt: skip
    pairs = pair_tv(target, drawn.tokens, generator, _null_margin(target_spec, spec.process, config))
    leak, leak_interval = leakage_estimate(target, drawn.tokens)
    clipped = drawn.diagnostics.get("clipped_mass")
    predicted, note = resolved.predicted_order(clipped, pairs.estimate)
    return Cell(
        target_spec.label, spec.process, spec.label, steps, budget, nfe_used, None, "monte-carlo",
        None, None, leak, None, clipped, pairs.estimate, pairs.interval, pairs.plugin,
        pairs.null_bias, leak_interval,
        time.perf_counter() - start, predicted, note,
    )  # fmt: skip


@lru_cache(maxsize=256)
def limit_tv(target_spec: TargetSpec, calls: int) -> float | None:
    """TV of the best plan in ``calls`` calls on the masked target (0 from ``L`` calls on; None
    when there are more plans than :data:`unmask.exact.limit.MAX_PLANS`)."""
    target = SUITE[target_spec.name].at("masked", target_spec.length)
    if calls >= target.length:
        return 0.0
    if count_plans(target.length, calls) > MAX_PLANS:
        return None
    return best_plan(target, calls, "tv").tv


@lru_cache(maxsize=8)
def _null_margin(target_spec: TargetSpec, process: str, config: BenchConfig) -> float:
    """The exact-sampler quantile of the plug-in pair TV (shared by every cell of a target)."""
    target = SUITE[target_spec.name].at(process, target_spec.length)
    generator = torch.Generator().manual_seed(config.seed)
    return pair_tv_null_margin(target, config.samples, generator)


def run_bench(config: BenchConfig, progress: Progress | None = None) -> list[Cell]:
    """Run every planned cell; ``progress(label)`` is called after each."""
    check_sizes(config)
    cells = []
    for target_spec, spec, steps in plan(config):
        cells.append(run_cell(target_spec, spec, steps, config))
        if progress is not None:
            progress(f"{target_spec.label} {spec.process} {spec.label} N={steps}")
    return cells
