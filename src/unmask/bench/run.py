"""Run the benchmark: every sampler, at every step count, on every target, against the exact answer.

A cell is one (target, process, sampler, steps). Its error comes from the sampler's exact output
law when the state space allows (TV, KL(target || sampler), leakage, and the path-KL bound for
random-order masked samplers), otherwise from Monte Carlo estimates with 95% intervals. Every
cell also draws ``samples`` sequences with :func:`unmask.sample` to measure the NFE actually used
(calls per row, after reuse of unchanged rows).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..exact import kl, leakage, path_kl, reference_law, run_law, tv
from ..exact.laws import MAX_STATES
from ..samplers import sample
from ..samplers.ancestral import _AncestralSampler
from ..samplers.first_hitting import FirstHitting
from ..samplers.k_random import KRandom
from ..targets.chain import ChainTarget
from .config import BenchConfig, TargetSpec, bench_process
from .estimates import leakage_estimate, pair_tv
from .specs import SamplerSpec
from .suite import SUITE

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Cell:
    """One benchmark measurement.

    ``nfe_budget`` is the nominal number of denoiser calls (steps taken x calls per step; the
    number of masked tokens for first-hitting); ``nfe_used`` the mean calls per row actually made
    (lower when unchanged rows reuse a call).
    ``method`` is ``"exact"`` (errors from the exact law) or ``"monte-carlo"`` (``tv`` is then the
    adjacent-pair TV, with ``tv_interval`` its 95% interval).
    """

    target: str
    process: str
    sampler: str
    steps: int | None
    nfe_budget: int
    nfe_used: float
    method: str
    tv: float
    kl: float | None
    leakage: float
    path_kl: float | None
    clipped_mass: float | None
    tv_interval: tuple[float, float] | None
    leakage_interval: tuple[float, float] | None
    seconds: float


def plan(config: BenchConfig) -> list[tuple[TargetSpec, SamplerSpec, int | None]]:
    """The cells to run, in order. Event-driven samplers that fix their own number of calls
    (first-hitting; k-random given k or sizes) run once per target."""
    cells = []
    for target in config.targets:
        for spec in config.samplers:
            if not spec.build().uses_grid and (spec.name == "first-hitting" or spec.hyperparameters):
                cells.append((target, spec, None))
            else:
                cells.extend((target, spec, steps) for steps in config.steps)
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


def _supports_path_kl(sampler) -> bool:
    return isinstance(sampler, (_AncestralSampler, KRandom, FirstHitting))


def run_cell(target_spec: TargetSpec, spec: SamplerSpec, steps: int | None, config: BenchConfig) -> Cell:
    """Measure one cell (see :class:`Cell`)."""
    start = time.perf_counter()
    process = bench_process(spec.process)
    target = SUITE[target_spec.name].at(spec.process, target_spec.length)
    sampler = spec.build()
    generator = torch.Generator().manual_seed(config.seed)
    drawn = sample(
        target.denoiser() if spec.process == "masked" else target.uniform_denoiser(process),
        sampler,
        vocab_size=target.vocab_size,
        length=target.length,
        batch_size=config.samples,
        steps=steps,
        process=process,
        generator=config.seed,
        final_denoise=False,
    )
    resolved = drawn.sampler
    budget = drawn.steps * resolved.calls_per_step  # k-random and first-hitting stop at L steps
    nfe_used = float(drawn.nfe_per_row.double().mean())
    base = target.vocab_size + 1 if spec.process == "masked" else target.vocab_size
    if base**target.length <= MAX_STATES:
        law = run_law(target, resolved, steps, process=process)
        reference = reference_law(target, process)
        clipped = law.diagnostics.get("clipped_mass")
        bound = None
        if spec.process == "masked" and _supports_path_kl(resolved):
            bound = path_kl(target, resolved, steps, process=process)
        return Cell(
            target_spec.label, spec.process, spec.label, steps, budget, nfe_used, "exact",
            tv(law.law, reference), kl(reference, law.law), leakage(law.law, reference), bound,
            clipped, None, None, time.perf_counter() - start,
        )  # fmt: skip
    if not isinstance(target, ChainTarget):
        raise ValueError(
            f"target {target_spec.label!r} is too large for an exact law and has no pair marginals"
        )
    estimate, interval = pair_tv(target, drawn.tokens, generator)
    leak, leak_interval = leakage_estimate(target, drawn.tokens)
    return Cell(
        target_spec.label, spec.process, spec.label, steps, budget, nfe_used, "monte-carlo",
        estimate, None, leak, None, drawn.diagnostics.get("clipped_mass"), interval, leak_interval,
        time.perf_counter() - start,
    )  # fmt: skip


def run_bench(config: BenchConfig, progress: Progress | None = None) -> list[Cell]:
    """Run every planned cell; ``progress(label)`` is called after each."""
    check_sizes(config)
    cells = []
    for target_spec, spec, steps in plan(config):
        cells.append(run_cell(target_spec, spec, steps, config))
        if progress is not None:
            progress(f"{target_spec.label} {spec.process} {spec.label} N={steps}")
    return cells
