"""The masked (absorbing) forward process and its reverse-time quantities (spec §1.1).

Forward, independently per position: ``q(z_t = x | x) = alpha_t`` and ``q(z_t = M | x) = 1 - alpha_t``
with ``M = V`` the mask id. Reverse, for ``s < t`` and a masked position, the token is revealed
with probability ``(alpha_s - alpha_t) / (1 - alpha_t)``; revealed tokens never change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from .. import checks
from ..schedules import LinearSchedule, Schedule, TimeLike
from .base import Process


@dataclass(frozen=True)
class MaskedProcess(Process):
    """Masked diffusion driven by ``schedule`` (default: linear, ``alpha(t) = 1 - t``)."""

    schedule: Schedule = field(default_factory=LinearSchedule)
    name: ClassVar[str] = "masked"
    states_formula: ClassVar[str] = "partial states (V + 1)^L"

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule):
            raise TypeError(
                f"schedule must be a Schedule (for example unmask.schedules.LinearSchedule()), "
                f"got {self.schedule!r}"
            )

    # -- what samplers, exact laws and the driver ask of a process -------------------------------
    @property
    def t_end(self) -> float:
        return 0.0

    def state_base(self, vocab_size: int) -> int:
        return vocab_size + 1

    def prior_mismatch(self, start_time: float) -> str | None:
        alpha = float(self.schedule.alpha(start_time))
        if alpha <= 0:
            return None
        return (
            f"the {self.schedule.name} schedule has alpha({start_time:g}) = {alpha:.3g} > 0, but the "
            "sampler starts from the all-mask state: that is a prior mismatch (each token should "
            f"still be clean with probability {alpha:.3g}). Use a schedule with alpha(1) = 0 "
            "(linear, cosine) for exact sampling, or accept this error."
        )

    def start(self, z, free, vocab_size, streams, elements):
        return z  # free positions already hold the mask id

    def has_work(self, ctx: Any, z: torch.Tensor) -> torch.Tensor:
        return ctx.masked(z).any(-1)

    def finish(self, ctx: Any, z: torch.Tensor, t: torch.Tensor, final_denoise: bool) -> torch.Tensor:
        """Reveal what a grid ending above 0 left masked, from ``p(x_0 | z_t)``."""
        ones = torch.ones(z.shape[0], 1, dtype=torch.float64, device=z.device)
        return ctx.move(z, ones, ctx.denoise(z, t))

    def exact_denoiser(self, target: Any):
        return target.denoiser()

    def exact_start(self, target: Any, start_time: float, start: str, device: torch.device):
        checks.one_of("start", start, ("exact", "prior"))
        z = torch.full((1, target.length), target.vocab_size, dtype=torch.long, device=device)
        return z, torch.ones(1, dtype=torch.float64, device=device)

    def reference_law(self, target: Any, final_denoise: bool) -> torch.Tensor:
        return target.probs()

    def logits_from_log_score(self, log_score, z, t):
        """``p = s / sum_v s``: the log-scores are logits."""
        return log_score

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
        u = torch.rand(x.shape, generator=generator, dtype=torch.float64, device=x.device)
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
        return torch.where(masked, rate * probs.to(torch.float64), 0.0)

    @staticmethod
    def rates_to_probs(rates: torch.Tensor) -> torch.Tensor:
        """Clean-token probabilities from reverse rates ``[B, L, V]`` (rates divided by their total)."""
        return MaskedProcess.score_to_probs(rates)
