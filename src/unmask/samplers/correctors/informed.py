"""Informed corrector (Zhao, Shi, Chen, Druckmann, Mackey, Linderman; spec §2.6, §4.8).

One move: leave-one-out conditionals ``Q = loo(z)``; the confidence ``c_i`` of each clean free
position's current token (``log Q_i[z_i]``, or the log-margin
``log Q_i[z_i] - max_{v != z_i} log Q_i[v]``, which the paper prefers); ``k`` positions chosen
without replacement by successive sampling proportional to ``exp(-c_i / tau)`` (the Gumbel-top-k of
``-c / tau``: the least confident first, on average); each chosen position resampled from ``Q_i``.

The selection depends on the state, so the target is not exactly invariant (a stationarity bias
that vanishes as ``tau -> inf``, where the selection becomes uniform: spec §4.8).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ... import checks
from ...probabilities import Probabilities
from ..base import StepContext
from .base import Corrector

#: Confidences are clipped to ``[-CLIP, CLIP]`` nats before ``exp(-c / tau)`` (a token of
#: probability 0 has confidence ``-inf``: it is then among the first chosen, never a NaN).
CLIP = 700.0
#: The smallest selection weight (weights must be positive where eligible).
TINY = 1e-300

CONFIDENCES = ("margin", "probability")


def confidence(loo: Probabilities, z: torch.Tensor, clean: torch.Tensor, kind: str) -> torch.Tensor:
    """Confidence ``[n, L]`` (float64 nats) of each clean position's current token under ``loo``;
    per-position reductions only (no float64 ``[n, L, V]``)."""
    tokens = torch.where(clean, z.long(), 0)
    log_q = loo.log_prob_of(tokens, where=clean)
    if kind == "probability":
        return log_q
    top = loo.max_prob()
    second = top - loo.margin()
    is_top = loo.argmax() == tokens
    with torch.no_grad():
        log_top, log_second = top.log(), second.clamp(min=0).log()
    return torch.where(is_top, log_top - log_second, log_q - log_top)


@dataclass(frozen=True)
class Informed(Corrector):
    """Resample ``k`` clean positions chosen by successive sampling with weights ``exp(-c / tau)``
    from their leave-one-out conditionals.

    Args:
        k: positions per move (1–2 recommended; more adds a factorisation error).
        tau: selection temperature (> 0); ``tau -> inf`` is uniform selection.
        confidence: ``"margin"`` (the paper's choice, default) or ``"probability"``.
    """

    k: int = 1
    tau: float = 1.0
    confidence: str = "margin"
    name: ClassVar[str] = "informed"

    def __post_init__(self) -> None:
        checks.positive_int("k", self.k)
        object.__setattr__(self, "tau", checks.positive_float("tau", self.tau))
        checks.one_of("confidence", self.confidence, CONFIDENCES)

    def weights(self, loo: Probabilities, z: torch.Tensor, eligible: torch.Tensor) -> torch.Tensor:
        """Selection weights ``[n, L]``: ``exp(-(c - c_min) / tau)`` over the eligible positions of a
        row (at most 1, floored at ``TINY``), 1 elsewhere."""
        c = confidence(loo, z, eligible, self.confidence).detach().clamp(-CLIP, CLIP)
        lowest = torch.where(eligible, c, torch.full_like(c, CLIP)).amin(-1, keepdim=True)
        weights = torch.exp(-(c - lowest) / self.tau).clamp(min=TINY)
        return torch.where(eligible, weights, torch.ones_like(weights))

    def correct(self, ctx: StepContext, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        loo = ctx.loo(z, ctx.align(t))
        eligible = ctx.clean(z)
        count = torch.full((z.shape[0],), self.k, dtype=torch.long, device=z.device)
        chosen_from, chosen = ctx.select(z, eligible, count, self.weights(loo, z, eligible))
        if chosen_from is not z:
            # The rows branched (the enumerating context): read the conditionals of the new rows.
            # StepContext.align matches tensors from the start of the step only, not from a point
            # inside it; the drawing context returns the same rows, so it makes no second call.
            loo = ctx.loo(chosen_from, ctx.align(t))
        return ctx.resample(chosen_from, chosen, loo)
