"""One candidate's exact result on one target: its TV and its kind (plan, adaptive plan, mixture
of plans, or other), which decides whether the limit bounds it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ...exact import reference_law, run_law, tv
from ...samplers.ancestral import Ancestral
from ...samplers.k_random import KRandom
from ...samplers.planned import Planner
from .candidate import Candidate
from .tracing import Traced, blocks_of

#: Samplers that draw each revealed token once from its conditional at the current state
#: (their law with the exact denoiser is a plan, an adaptive plan or a mixture of plans).
_EXACT_CONDITIONALS = (KRandom, Ancestral, Planner)


@dataclass(frozen=True)
class Entry:
    """One candidate's exact result on one target.

    Attributes:
        label: the candidate (:attr:`Candidate.label`, the same on every target).
        detail: its target-dependent settings (k-random's optimal sizes, semi-autoregressive's
            block length), or ``""``.
        tv: ``TV(pi, q)`` of its exact output law.
        calls: the most denoiser calls a path made (at most the budget).
        expected_calls: ``E[calls]`` over its paths.
        kind: ``"plan"``, ``"adaptive"``, ``"mixture"`` or ``"other"`` (package docstring); only
            ``"plan"`` is bounded below by the limit.
        plan: the blocks it follows when ``kind == "plan"``, else None.
    """

    label: str
    detail: str
    tv: float
    calls: int
    expected_calls: float
    kind: str
    plan: tuple[tuple[int, ...], ...] | None


def evaluate(target: Any, candidate: Candidate, reference: torch.Tensor | None = None) -> Entry:
    """The exact TV of ``candidate`` on ``target`` (:func:`unmask.exact.run_law`) and its kind:
    ``"other"`` unless it draws from exact conditionals, then ``"plan"`` when every call saw one
    mask pattern, else ``"adaptive"`` (a planner) or ``"mixture"``."""
    reference = reference_law(target) if reference is None else reference
    traced = Traced(inner=candidate.sampler)
    result = run_law(target, traced, candidate.steps)
    calls = result.steps * candidate.sampler.calls_per_step
    if calls > candidate.calls:
        raise RuntimeError(
            f"{candidate.label} made {calls} calls on some path, above its budget {candidate.calls}; "
            "this is a bug in the candidate's configuration"
        )
    plan = blocks_of(traced.trace) if traced.trace else None
    if not isinstance(candidate.sampler, _EXACT_CONDITIONALS):
        kind, plan = "other", None
    elif plan is not None:
        kind = "plan"
    else:
        kind = "adaptive" if isinstance(candidate.sampler, Planner) else "mixture"
    return Entry(
        label=candidate.label,
        detail=candidate.detail,
        tv=tv(result.law, reference),
        calls=calls,
        expected_calls=result.expected_steps * candidate.sampler.calls_per_step,
        kind=kind,
        plan=plan,
    )
