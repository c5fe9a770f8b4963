"""The uniform forward process and its reverse-time quantities (spec §1.2).

Per token, ``q(z_t = b | x = a) = K_t[a, b]`` with ``K_t = abar_t I + (1 - abar_t) E/S``,
``abar_t = alpha(t)`` of the schedule, and forward generator ``sigma(t) (E/S - I)`` with
``sigma = -alpha'/alpha``. The denoiser gives the full posterior marginal ``p(x^i = a | z_t)``.
Samplers run from ``t = 1`` down to ``t_min > 0``, where scores stay finite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from .. import checks
from ..schedules import ConstantRateSchedule, Schedule, TimeLike


def _column(x: torch.Tensor, dims: int) -> torch.Tensor:
    return x.reshape(-1, *([1] * dims))


@dataclass(frozen=True)
class UniformProcess:
    """Uniform diffusion driven by ``schedule``, sampled on ``[t_min, 1]``.

    The default ``alpha(t) = exp(-10 t)`` has rate ``sigma = 10`` and ``abar(1) = 4.5e-5`` (the prior
    mismatch of a uniform start); ``t_min = 0.02`` keeps ``abar(t_min) = exp(-0.2)``.
    """

    schedule: Schedule = field(default_factory=lambda: ConstantRateSchedule(horizon=10.0))
    t_min: float = 0.02
    kind: ClassVar[str] = "uniform"

    def __post_init__(self) -> None:
        checks.probability("t_min", self.t_min, open_high=True)

    def kernel_weight(self, t: TimeLike) -> torch.Tensor:
        """``abar_t``: the weight of the identity in ``K_t``."""
        return self.schedule.alpha(t)

    def transition_matrix(self, t: TimeLike, vocab_size: int) -> torch.Tensor:
        """``K_t [..., S, S]`` for times of any shape."""
        abar = self.kernel_weight(t)[..., None, None]
        eye = torch.eye(vocab_size, dtype=torch.float64)
        return abar * eye + (1 - abar) / vocab_size

    def corrupt(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        vocab_size: int,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draw ``z_t ~ q(. | x)``: each token of ``x [B, L]`` is redrawn uniformly with
        probability ``1 - abar(t[b])``."""
        resample = torch.rand(x.shape, generator=generator, dtype=torch.float64)
        noise = torch.randint(0, vocab_size, x.shape, generator=generator)
        return torch.where(resample < 1 - _column(self.kernel_weight(t), 1), noise, x)

    @staticmethod
    def _evidence_weights(probs: torch.Tensor, z: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
        """``w[b,i,a] = p(x^i = a | z) / K_t[a, z^i]``."""
        size = probs.shape[-1]
        off = (1 - abar) / size
        k_col = off + abar * torch.nn.functional.one_hot(z, size).to(torch.float64)
        return probs.to(torch.float64) / k_col

    def score(self, probs: torch.Tensor, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Concrete score ``s[b,i,v] = sum_a p(a | z) K_t[a, v] / K_t[a, z^i]`` (``s[b,i,z^i] = 1``).

        ``probs [B, L, S]`` posterior marginals, ``z [B, L]``, ``t [B]``; float64 ``[B, L, S]`` out.
        """
        abar = _column(self.kernel_weight(t), 2)
        w = self._evidence_weights(probs, z, abar)
        return abar * w + (1 - abar) / probs.shape[-1] * w.sum(-1, keepdim=True)

    def reverse_rates(self, probs: torch.Tensor, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Reverse rates ``R[b,i,v] = (sigma(t)/S) s[b,i,v]`` for ``v != z^i``; 0 on the diagonal."""
        size = probs.shape[-1]
        rates = _column(self.schedule.rate(t), 2) / size * self.score(probs, z, t)
        stay = torch.nn.functional.one_hot(z, size).bool()
        return rates.masked_fill(stay, 0.0)

    def tweedie_law(
        self, probs: torch.Tensor, z: torch.Tensor, t: torch.Tensor, s: torch.Tensor
    ) -> torch.Tensor:
        """Exact one-position reverse marginal ``p(z_s^i = b | z_t)`` for ``s < t``:
        ``sum_a p(a | z_t) K_{t|s}[b, z^i] K_s[a, b] / K_t[a, z^i]`` with ``K_{t|s}`` of weight
        ``abar_t / abar_s``. Shapes as in :meth:`score`; rows sum to 1."""
        size = probs.shape[-1]
        abar_t = _column(self.kernel_weight(t), 2)
        abar_s = _column(self.kernel_weight(s), 2)
        w = self._evidence_weights(probs, z, abar_t)
        through_s = abar_s * w + (1 - abar_s) / size * w.sum(-1, keepdim=True)  # sum_a w[a] K_s[a, b]
        abar_ts = abar_t / abar_s
        onehot = torch.nn.functional.one_hot(z, size).to(torch.float64)
        law = through_s * (abar_ts * onehot + (1 - abar_ts) / size)
        return law / law.sum(-1, keepdim=True)

    def posterior_from_score(self, score: torch.Tensor, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Invert :meth:`score`: solve ``s[v] = sum_a G[v,a] p[a]``, ``G[v,a] = K_t[a,v]/K_t[a,z^i]``,
        per position; negative round-off is clipped and the result renormalised.
        Ill-conditioned as ``abar_t -> 0``."""
        size = score.shape[-1]
        abar = _column(self.kernel_weight(t), 3)
        k_t = abar * torch.eye(size, dtype=torch.float64) + (1 - abar) / size  # [B,1,S,S] as K[a,v]
        k_col = torch.gather(
            k_t.expand(*z.shape, size, size), -1, z[..., None, None].expand(*z.shape, size, 1)
        )
        g = k_t.transpose(-1, -2) / k_col.transpose(-1, -2)  # G[v, a]
        p = torch.linalg.solve(g, score.to(torch.float64).unsqueeze(-1)).squeeze(-1).clamp_min(0)
        return p / p.sum(-1, keepdim=True)

    def rates_to_probs(self, rates: torch.Tensor, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Posterior marginals from off-diagonal reverse rates ``[B, L, S]`` (the diagonal of the
        score is 1 by definition)."""
        size = rates.shape[-1]
        score = rates.to(torch.float64) * size / _column(self.schedule.rate(t), 2)
        stay = torch.nn.functional.one_hot(z, size).bool()
        return self.posterior_from_score(score.masked_fill(stay, 1.0), z, t)
