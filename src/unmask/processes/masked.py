"""The masked (absorbing) forward process and its reverse-time quantities (spec §1.1).

Forward, independently per position: ``q(z_t = x | x) = alpha_t`` and ``q(z_t = M | x) = 1 - alpha_t``
with ``M = V`` the mask id. Reverse, for ``s < t`` and a masked position, the token is revealed
with probability ``(alpha_s - alpha_t) / (1 - alpha_t)``; revealed tokens never change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from ..schedules import LinearSchedule, Schedule, TimeLike


@dataclass(frozen=True)
class MaskedProcess:
    """Masked diffusion driven by ``schedule`` (default: linear, ``alpha(t) = 1 - t``)."""

    schedule: Schedule = field(default_factory=LinearSchedule)
    kind: ClassVar[str] = "masked"

    def corrupt(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        vocab_size: int,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draw ``z_t ~ q(. | x)``: each token of ``x [B, L]`` is replaced by the mask id ``V``
        with probability ``1 - alpha(t[b])`` (``t [B]``)."""
        masked_fraction = self.schedule.masked_fraction(t).reshape(-1, 1)
        u = torch.rand(x.shape, generator=generator, dtype=torch.float64)
        return torch.where(u < masked_fraction, torch.full_like(x, vocab_size), x)

    def unmask_probability(self, t: TimeLike, s: TimeLike) -> torch.Tensor:
        """Exact probability that a token masked at ``t`` is revealed by ``s < t``:
        ``(alpha_s - alpha_t) / (1 - alpha_t) = 1 - m(s)/m(t)``, ``m = 1 - alpha``; 1 when ``s = 0``."""
        m_t = self.schedule.masked_fraction(t)
        m_s = self.schedule.masked_fraction(s)
        p = 1 - m_s / m_t
        return torch.where(m_s <= 0, torch.ones_like(p), p).clamp(0, 1)

    def hazard(self, t: TimeLike) -> torch.Tensor:
        """Unmasking hazard ``lambda(t)``: the total reverse exit rate of a masked position."""
        return self.schedule.hazard(t)

    def logits_to_score(
        self, logits: torch.Tensor, z: torch.Tensor, t: torch.Tensor, vocab_size: int
    ) -> torch.Tensor:
        """Concrete score ``s[b,i,v] = alpha/(1-alpha) * softmax(logits)[b,i,v]`` at masked positions,
        0 elsewhere. ``logits [B, L, V]``, ``z [B, L]``, ``t [B]``; float64 out."""
        alpha = self.schedule.alpha(t).reshape(-1, 1, 1)
        ratio = alpha / (1 - alpha)
        probs = torch.softmax(logits.to(torch.float64), dim=-1)
        return torch.where((z == vocab_size).unsqueeze(-1), ratio * probs, torch.zeros_like(probs))

    @staticmethod
    def score_to_probs(score: torch.Tensor) -> torch.Tensor:
        """Normalise a concrete score ``[B, L, V]`` into clean-token probabilities ``s / sum_v s``
        (the exact identity ``sum_v s = alpha/(1-alpha)`` is enforced by the normalisation)."""
        score = score.to(torch.float64)
        total = score.sum(-1, keepdim=True)
        return torch.where(total > 0, score / total.clamp_min(torch.finfo(torch.float64).tiny), 0.0)

    def reverse_rates(
        self, probs: torch.Tensor, z: torch.Tensor, t: torch.Tensor, vocab_size: int
    ) -> torch.Tensor:
        """Reverse jump rates ``R[b,i,v] = lambda(t) p(v | z)`` for masked ``i`` and 0 otherwise."""
        rate = self.hazard(t).reshape(-1, 1, 1)
        masked = (z == vocab_size).unsqueeze(-1)
        return torch.where(masked, rate * probs.to(torch.float64), torch.zeros((), dtype=torch.float64))

    @staticmethod
    def rates_to_probs(rates: torch.Tensor) -> torch.Tensor:
        """Clean-token probabilities from reverse rates ``[B, L, V]`` (rates divided by their total)."""
        return MaskedProcess.score_to_probs(rates)
