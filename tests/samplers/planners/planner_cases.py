"""Planner configurations and problems shared by the planner tests."""

from __future__ import annotations

import torch

import unmask
from unmask.samplers.planned import EntropyBounded, FactorThreshold, LowConfidenceRemasking, Threshold, TopK


def chain() -> unmask.targets.MarkovChain:
    """The small exact target of the planner tests: ``MarkovChain.random(vocab_size=3, length=5,
    concentration=0.3, seed=0)`` (243 sequences; peaked, dependent conditionals)."""
    return unmask.targets.MarkovChain.random(vocab_size=3, length=5, concentration=0.3, seed=0)


#: id -> (planner, steps): every planner and score, at settings where its exact law on ``chain()``
#: is off the target (TV 0.09 to 0.61), so that agreement with its own law is informative.
CASES: dict[str, tuple[unmask.samplers.Sampler, int | None]] = {
    "top-k-confidence-k2": (TopK(k=2), None),
    "top-k-margin-k2": (TopK(k=2, score="margin"), None),
    "top-k-entropy-k2": (TopK(k=2, score="entropy"), None),
    "top-k-sizes131": (TopK(sizes=(1, 3, 1)), None),
    "top-k-steps3": (TopK(), 3),
    "threshold-0.55": (Threshold(0.55), None),
    "factor-threshold-1.5": (FactorThreshold(1.5), None),
    "eb-entropy-0.6": (EntropyBounded(gamma=0.6), None),
    "eb-confidence-1": (EntropyBounded(gamma=1.0, proxy="confidence"), None),
    "eb-margin-1": (EntropyBounded(gamma=1.0, proxy="margin"), None),
    "low-confidence-remasking-k1": (LowConfidenceRemasking(k=1), None),
    "low-confidence-remasking-steps3": (LowConfidenceRemasking(), 3),
}


#: The per-position logit shift of ``TiedDenoiser``: chosen so that, in float64, the scores of the
#: five positions differ in their last bits (both from logits and from float64 probabilities).
SHIFT = 1.413


class TiedDenoiser:
    """A denoiser (not an exact target) whose scores tie wherever the order matters.

    All-mask state: position ``i`` has logits ``[2, 1, 1] + SHIFT i`` (the same probabilities, so
    equal confidence, margin and entropy at every position in exact arithmetic, though their float
    computations differ in the last bits: the tie grid makes them tie). Once some token is
    revealed, with ``j`` the lowest revealed position, every position puts almost all its mass
    (logit gap 40) on token ``j mod 3``. So the output law shows which position the first step
    revealed: under the lower-index-first rule, a planner that reveals one token first gives
    sequences ``(v, 0, 0, 0, 0)``.
    """

    time_agnostic = True
    vocab_size = 3

    def __call__(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        n, length = z.shape
        revealed = z < self.vocab_size
        position = torch.arange(length, device=z.device).expand(n, length)
        lowest = torch.where(revealed, position, length).amin(-1)
        token = (lowest % self.vocab_size).reshape(n, 1, 1)
        copied = torch.full((n, length, self.vocab_size), -40.0, dtype=torch.float64, device=z.device)
        copied = copied.scatter(-1, token.expand(n, length, 1), 0.0)
        start = torch.tensor([2.0, 1.0, 1.0], dtype=torch.float64, device=z.device)
        start = (start + SHIFT * position[..., None].to(torch.float64)).expand(n, length, 3)
        return torch.where(revealed.any(-1).reshape(n, 1, 1), copied, start)
