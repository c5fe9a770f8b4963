"""Exact output laws of samplers on small targets (spec §6).

``output_law(target, sampler, steps)`` runs the sampler's own step in an enumerating context
(:mod:`unmask.exact.enumeration`), so the law it returns is the law of what ``unmask.sample``
draws, computed exactly in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..denoisers import check_vocabulary
from ..grids import make_grid
from ..processes import Process
from ..samplers.base import Sampler
from ..samplers.driver import check_process, resolve_sampler, warn_prior_mismatch
from ..samplers.loop import run_steps
from .enumeration import EnumerationContext

MAX_STATES = 1 << 20


@dataclass(frozen=True)
class LawResult:
    """An exact output law and what was measured on the way.

    Attributes:
        law: float64 tensor ``[V] * L``, the probability of every output sequence (sums to 1).
        diagnostics: expected per-run diagnostics (for example ``clipped_mass``).
        steps: sampler steps taken (by the rows that take the most).
        grid: the time grid for grid samplers, else None.
        expected_steps: ``E[#steps]`` over the sampler's own paths (the expected number of
            denoiser calls per row is ``calls_per_step`` times it, before any reuse).
    """

    law: torch.Tensor
    diagnostics: dict[str, float]
    steps: int
    grid: torch.Tensor | None
    expected_steps: float = 0.0


def _check_size(vocab_size: int, length: int, process: Process) -> None:
    base = process.state_base(vocab_size)
    states = base**length
    if states > MAX_STATES:
        raise ValueError(
            f"the target is too large for an exact output law: {process.states_formula} = {base}^{length} "
            f"= {states:,}, above the limit {MAX_STATES:,}; the dynamic program enumerates every state. "
            "Use a shorter length or a smaller vocabulary, or estimate the law by sampling."
        )


def check_target(target) -> None:
    """Raise ``TypeError`` unless ``target`` is an exact target (it has a vocabulary, a length and
    exact conditionals), naming what was passed instead (a denoiser, None)."""
    if all(hasattr(target, name) for name in ("vocab_size", "length", "conditionals", "probs")):
        return
    hint = ""
    if callable(target):
        hint = (
            "; it looks like a denoiser: pass the target it came from, and a denoiser of your own "
            "as denoiser="
        )
    raise TypeError(
        "target must be an exact target such as unmask.targets.MarkovChain.random(vocab_size=3, "
        f"length=5) (exact laws enumerate its conditionals), got {type(target).__name__}{hint}"
    )


def check_exact_law(sampler: Sampler) -> None:
    """Raise ``ValueError`` with :meth:`Sampler.exact_law_refusal` when ``sampler`` has no exact
    law here (ReMDM-conf: its per-token memory is not part of the state)."""
    reason = sampler.exact_law_refusal()
    if reason is not None:
        raise ValueError(f"no exact output law for sampler {sampler.name!r}: {reason}")


def _to_table(z: torch.Tensor, mass: torch.Tensor, vocab_size: int, length: int) -> torch.Tensor:
    powers = vocab_size ** torch.arange(length - 1, -1, -1, device=z.device)
    table = torch.zeros(vocab_size**length, dtype=torch.float64, device=z.device)
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
    device: torch.device | str | None = None,
) -> LawResult:
    """Exact law of ``sampler`` on ``target`` with its exact denoiser (or ``denoiser``).

    Masked process: starts from all-mask. Uniform process: starts from the exact forward law at the
    first grid time (``start="exact"``, isolating the discretisation error) or from the uniform
    prior (``start="prior"``, as :func:`unmask.sample` does); ends at ``t_min`` unless
    ``final_denoise`` adds the final draw from ``p(x_0 | z_{t_min})``. ``device``: where the
    states and the dynamic program live (the CPU by default).

    Raises ``ValueError`` before any work for a sampler whose exact law cannot be computed
    (:meth:`Sampler.exact_law_refusal`, e.g. ReMDM-conf), with its reason.
    """
    check_target(target)
    process = check_process(process)
    vocab_size, length = target.vocab_size, target.length
    device = torch.device(device) if device is not None else torch.device("cpu")
    _check_size(vocab_size, length, process)
    sampler = resolve_sampler(sampler, process, steps, length)
    check_exact_law(sampler)
    times = make_grid(grid, steps, process.schedule, process.t_end, device) if sampler.uses_grid else None
    start_time = float(times[0].detach()) if times is not None else 1.0
    warn_prior_mismatch(process, start_time)
    if denoiser is None:
        denoiser = process.exact_denoiser(target)
    check_vocabulary(denoiser, vocab_size)
    free = torch.ones(length, dtype=torch.bool, device=device)
    ctx = EnumerationContext(process, vocab_size, denoiser, free, device)
    z, mass = process.exact_start(target, start_time, start, device)
    ctx.start(mass)
    t = torch.full((len(z),), start_time, dtype=torch.float64, device=device)
    with torch.no_grad():
        z, _, taken = run_steps(sampler, ctx, z, t, times, final_denoise)
    law = _to_table(z, ctx.mass, vocab_size, length)
    return LawResult(
        law=law, diagnostics=dict(ctx.diagnostics), steps=taken, grid=times, expected_steps=ctx.expected_steps
    )


def output_law(target, sampler: str | Sampler, steps: int | None = None, **options) -> torch.Tensor:
    """The exact output law ``[V] * L`` of ``sampler`` on ``target`` (see :func:`run_law`)."""
    return run_law(target, sampler, steps, **options).law


def reference_law(target, process: Process | None = None, final_denoise: bool = False) -> torch.Tensor:
    """What a sampler's output law should be compared with: the target itself for the masked
    process (and after a final denoise), the forward law ``p_{t_min}`` for the uniform process."""
    check_target(target)
    return check_process(process).reference_law(target, final_denoise)
