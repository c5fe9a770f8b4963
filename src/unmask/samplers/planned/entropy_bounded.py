"""EB-Sampler: entropy-bounded unmasking (Ben-Hamu, Gat, Severo, Nolte, Karrer 2025; spec §2.5, §4.7).

Per call, the masked positions are sorted by an uncertainty proxy (``"entropy"`` by default, or
``"confidence"``, ``"margin"``; lower uncertainty first, ties to the lower position), and the
longest prefix whose entropies ``H_1, ..., H_j`` (in that order) satisfy
``sum_i H_i - max_i H_i <= gamma`` is revealed, at least one token; each token is drawn from its
conditional. The selection always uses the entropy budget; the proxy only sets the order.

``gamma = 0`` adds a token beyond the first only if its entropy is 0, so the law is exact;
``KL(pi || law) <= gamma * E[#steps]`` in general (spec §4.7), and the number of calls falls as
``gamma`` grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ... import checks
from ...probabilities import Probabilities
from .plan import SCORES, Planner, first, key_dtype, leading, on_tie_grid, order, order_key


@dataclass(frozen=True)
class EntropyBounded(Planner):
    """Reveal the longest proxy-ordered prefix whose summed entropy minus its largest entropy is at
    most ``gamma`` nats (at least one token per call)."""

    gamma: float = 0.1
    proxy: str = "entropy"
    name: ClassVar[str] = "eb"
    takes_steps: ClassVar[bool] = False
    reports_bound: ClassVar[bool] = True

    def __post_init__(self) -> None:
        checks.non_negative_float("gamma", self.gamma, " (nats)")
        checks.one_of("proxy", self.proxy, SCORES)

    @property
    def is_exact(self) -> bool:
        """``gamma = 0``: one token per call besides tokens of entropy 0, so the law is exact."""
        return self.gamma == 0

    def predicted_order(self, clipped_mass, tv):
        if self.is_exact:
            return "exact", "gamma = 0: one uncertain token per call"
        return "none", f"adaptive planner: KL <= gamma E[#steps] with gamma = {self.gamma} (spec 4.7)"

    def plan(self, probs, masked, index, lengths, free):
        ranked, valid, cost = prefix_costs(probs, masked, self.proxy)
        count = leading(valid & (cost <= self.gamma))
        return first(ranked, count.clamp(min=1).minimum(masked.sum(-1)))


def prefix_costs(
    probs: Probabilities, masked: torch.Tensor, proxy: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(ranked, valid, cost)``: the masked positions of each row in ``proxy`` order
    (LongTensor ``[n, L]``, lower uncertainty first, ties to the lower position), whether rank ``j``
    is a masked position (bool ``[n, L]``), and the float64 cost ``[n, L]`` of revealing the first
    ``j + 1`` of them at once, ``sum_i H_i - max_i H_i`` over their entropies (nats).
    """
    entropy = probs.entropy(key_dtype(probs), where=masked).to(torch.float64)
    key = on_tie_grid(entropy) if proxy == "entropy" else order_key(probs, proxy, where=masked)
    ranked = order(key, masked)
    valid = torch.arange(masked.shape[-1], device=masked.device) < masked.sum(-1, keepdim=True)
    sorted_entropy = torch.where(valid, entropy.gather(-1, ranked), 0.0)
    return ranked, valid, sorted_entropy.cumsum(-1) - sorted_entropy.cummax(-1).values
