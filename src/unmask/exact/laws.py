"""Exact output laws of samplers on small targets (spec §6).

``output_law(target, sampler, steps)`` runs the sampler's own step in an enumerating context
(:mod:`unmask.exact.enumeration`), so the law it returns is the law of what ``unmask.sample``
draws, computed exactly in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..grids import make_grid
from ..processes import Process
from ..samplers.base import Sampler
from ..samplers.driver import check_process, finish, resolve_sampler, warn_prior_mismatch
from .enumeration import EnumerationContext, state_codes, unique_rows

MAX_STATES = 1 << 20


@dataclass(frozen=True)
class LawResult:
    """An exact output law and what was measured on the way.

    Attributes:
        law: float64 tensor ``[V] * L``, the probability of every output sequence (sums to 1).
        diagnostics: expected per-run diagnostics (for example ``clipped_mass``).
        steps: sampler steps taken.
        grid: the time grid for grid samplers, else None.
    """

    law: torch.Tensor
    diagnostics: dict[str, float]
    steps: int
    grid: torch.Tensor | None


def _check_size(vocab_size: int, length: int, process: Process) -> None:
    base = vocab_size + 1 if process.kind == "masked" else vocab_size
    states = base**length
    if states > MAX_STATES:
        what = "partial states (V + 1)^L" if process.kind == "masked" else "states V^L"
        raise ValueError(
            f"the target is too large for an exact output law: {what} = {base}^{length} = {states:,}, "
            f"above the limit {MAX_STATES:,}; the dynamic program enumerates every state. Use a "
            "shorter length or a smaller vocabulary, or estimate the law by sampling."
        )


def _merge(z: torch.Tensor, mass: torch.Tensor, t: torch.Tensor, base: int):
    """Merge equal rows of ``z``, adding their masses (and keeping one of their times)."""
    first, inverse = unique_rows(state_codes(z, base))
    merged = torch.zeros(len(first), dtype=torch.float64).index_add_(0, inverse, mass)
    return z[first], merged, t[first]


def _all_sequences(vocab_size: int, length: int) -> torch.Tensor:
    """Every sequence of ``length`` tokens in row-major order of a ``[V] * L`` table, ``[V^L, L]``."""
    grids = torch.meshgrid(*[torch.arange(vocab_size)] * length, indexing="ij")
    return torch.stack([g.reshape(-1) for g in grids], dim=-1)


def _to_table(z: torch.Tensor, mass: torch.Tensor, vocab_size: int, length: int) -> torch.Tensor:
    powers = vocab_size ** torch.arange(length - 1, -1, -1)
    table = torch.zeros(vocab_size**length, dtype=torch.float64)
    table.index_add_(0, (z * powers).sum(-1), mass)
    return table.reshape([vocab_size] * length)


def run_law(
    target,
    sampler: str | Sampler,
    steps: int | None = None,
    *,
    process: Process | None = None,
    grid: str | torch.Tensor | Sequence[float] = "uniform",
    denoiser=None,
    start: str = "exact",
    final_denoise: bool = False,
) -> LawResult:
    """Exact law of ``sampler`` on ``target`` with its exact denoiser (or ``denoiser``).

    Masked process: starts from all-mask. Uniform process: starts from the exact forward law at the
    first grid time (``start="exact"``, isolating the discretisation error) or from the uniform
    prior (``start="prior"``, as :func:`unmask.sample` does); ends at ``t_min`` unless
    ``final_denoise`` adds the final draw from ``p(x_0 | z_{t_min})``.
    """
    process = check_process(process)
    vocab_size, length = target.vocab_size, target.length
    _check_size(vocab_size, length, process)
    sampler = resolve_sampler(sampler, process, steps, length)
    if start not in ("exact", "prior"):
        raise ValueError(f"start must be 'exact' or 'prior', got {start!r}")
    t_end = process.t_min if process.kind == "uniform" else 0.0
    times = make_grid(grid, steps, process.schedule, t_end) if sampler.uses_grid else None
    start_time = float(times[0]) if times is not None else 1.0
    warn_prior_mismatch(process, start_time)
    if denoiser is None:
        denoiser = target.denoiser() if process.kind == "masked" else target.uniform_denoiser(process)
    ctx = EnumerationContext(process, vocab_size, denoiser)

    if process.kind == "masked":
        z = torch.full((1, length), vocab_size, dtype=torch.long)
        mass = torch.ones(1, dtype=torch.float64)
    else:
        z = _all_sequences(vocab_size, length)
        if start == "exact":
            mass = target.uniform_marginal(start_time, process).reshape(-1).to(torch.float64)
        else:
            mass = torch.full((len(z),), vocab_size**-length, dtype=torch.float64)
        keep = mass > 0
        z, mass = z[keep], mass[keep]
    t = torch.full((len(z),), start_time, dtype=torch.float64)

    total = len(times) - 1 if times is not None else None
    index = 0
    while (index < total) if total is not None else bool((z == vocab_size).any()):
        ctx.begin(mass)
        s = torch.full((len(z),), float(times[index + 1]), dtype=torch.float64) if times is not None else None
        z_next, t_next = sampler.step(ctx, z, t, s, index)
        z, mass, t = _merge(z_next, ctx.mass, ctx.align(t_next), vocab_size + 1)
        index += 1
        if total is None and index > length:
            raise RuntimeError(f"sampler {sampler.name!r} did not reveal a token in a step; this is a bug")

    ctx.begin(mass)
    z = finish(ctx, z, t, final_denoise)
    law = _to_table(z, ctx.mass, vocab_size, length)
    return LawResult(law=law, diagnostics=dict(ctx.diagnostics), steps=index, grid=times)


def output_law(target, sampler: str | Sampler, steps: int | None = None, **options) -> torch.Tensor:
    """The exact output law ``[V] * L`` of ``sampler`` on ``target`` (see :func:`run_law`)."""
    return run_law(target, sampler, steps, **options).law


def reference_law(target, process: Process | None = None, final_denoise: bool = False) -> torch.Tensor:
    """What a sampler's output law should be compared with: the target itself for the masked
    process (and after a final denoise), the forward law ``p_{t_min}`` for the uniform process."""
    process = check_process(process)
    if process.kind == "masked" or final_denoise:
        return target.probs()
    return target.uniform_marginal(process.t_min, process)
