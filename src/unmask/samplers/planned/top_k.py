"""Top-k planner (MaskGIT / LLaDA-style confidence decoding without remasking; spec §2.3, §9.10).

Step ``j`` reveals the ``k_j`` masked positions with the best score (highest confidence
``max_v p(v)``, highest margin ``top1 - top2``, or lowest entropy), ties to the lower position,
each drawn from its conditional given the revealed tokens. Sizes come from ``k``, ``sizes`` or
``steps`` exactly as for k-random. With one token per call it is exact (the order depends on the
state, but every token is drawn from its exact conditional); with larger blocks it is a
different sampler from k-random, whose law is not exchangeable in the positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ... import checks
from .plan import SCORES, BlockSizes, Planner, first, order, order_key


@dataclass(frozen=True)
class TopK(BlockSizes, Planner):
    """Reveal the ``k`` (or ``sizes[j]``, or one of ``blocks`` even blocks) best-scoring masked
    tokens per denoiser call; ``score`` is ``"confidence"``, ``"margin"`` or ``"entropy"``."""

    score: str = "confidence"
    name: ClassVar[str] = "top-k"

    def __post_init__(self) -> None:
        checks.one_of("score", self.score, SCORES)
        self._check_sizes()

    def plan(self, probs, masked, index, lengths, free):
        count = self.block_size(index, lengths).minimum(masked.sum(-1))
        return first(order(order_key(probs, self.score, where=masked), masked), count)
