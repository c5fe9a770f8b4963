"""Confidence-threshold planners (Fast-dLLM parallel decoding; spec §9.10).

* :class:`Threshold`: reveal every masked position whose largest probability is at least
  ``threshold``, and at least one (the most confident) per call.
* :class:`FactorThreshold` (Fast-dLLM's "factor" rule): with the masked positions sorted by
  confidence ``c_(1) >= c_(2) >= ...``, reveal the longest prefix of ``n`` positions with
  ``c_(j) >= 1 - factor / (j + 1)`` for every ``j <= n``, and at least one. The threshold
  loosens with the rank: revealing ``n`` tokens is allowed while ``(n + 1)(1 - c_(n)) <= factor``.

Confidences are compared on the tie grid of :mod:`.plan` (thresholds too), ties go to the lower
position; every revealed token is drawn from its conditional.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ... import checks
from .plan import Planner, first, key_dtype, leading, on_tie_grid, order


@dataclass(frozen=True)
class Threshold(Planner):
    """Reveal every masked token whose confidence ``max_v p(v)`` is at least ``threshold`` (at
    least the most confident one per call)."""

    threshold: float = 0.9
    name: ClassVar[str] = "threshold"
    takes_steps: ClassVar[bool] = False

    def __post_init__(self) -> None:
        checks.probability("threshold", self.threshold, open_low=True)

    def predicted_order(self, clipped_mass, tv):
        return "none", f"adaptive planner (threshold {self.threshold}): no order in steps"

    def plan(self, probs, masked, index, lengths, free):
        confidence = on_tie_grid(
            probs.max_prob(key_dtype(probs), where=masked).to(torch.float64)
        )  # on the grid: the sure ones lead the order
        count = (masked & (confidence >= self.threshold)).sum(-1).clamp(min=1).minimum(masked.sum(-1))
        return first(order(-confidence, masked), count)


@dataclass(frozen=True)
class FactorThreshold(Planner):
    """Reveal the longest confidence-sorted prefix whose ``j``-th confidence is at least
    ``1 - factor / (j + 1)`` (at least one token per call)."""

    factor: float = 1.0
    name: ClassVar[str] = "factor-threshold"
    takes_steps: ClassVar[bool] = False

    def __post_init__(self) -> None:
        checks.positive_float("factor", self.factor)

    def predicted_order(self, clipped_mass, tv):
        return "none", f"adaptive planner (factor {self.factor}): no order in steps"

    def plan(self, probs, masked, index, lengths, free):
        confidence = on_tie_grid(probs.max_prob(key_dtype(probs), where=masked).to(torch.float64))
        ranked = order(-confidence, masked)
        confidence = confidence.gather(-1, ranked)
        rank = torch.arange(1, masked.shape[-1] + 1, device=masked.device, dtype=torch.float64)
        ok = confidence >= 1 - self.factor / (rank + 1)
        remaining = masked.sum(-1)
        ok = ok & (rank <= remaining.unsqueeze(-1))
        return first(ranked, leading(ok).clamp(min=1).minimum(remaining))
