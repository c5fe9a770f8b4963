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

    def score(self, probs: torch.Tensor, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Concrete score ``s[b,i,v] = sum_a p(a | z) K_t[a, v] / K_t[a, z^i]`` (``s[b,i,z^i] = 1``).

        ``probs [B, L, S]`` posterior marginals, ``z [B, L]``, ``t [B]``; float64 ``[B, L, S]`` out.
        """
        abar = self.kernel_weight(t)
        return _by_blocks(probs, z, (abar, abar), _through_kernel)

    def reverse_rates(self, probs: torch.Tensor, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Reverse rates ``R[b,i,v] = (sigma(t)/S) s[b,i,v]`` for ``v != z^i``; 0 on the diagonal."""
        abar = self.kernel_weight(t)
        return _by_blocks(probs, z, (abar, abar, self.schedule.rate(t)), _rates)

    def tweedie_law(
        self, probs: torch.Tensor, z: torch.Tensor, t: torch.Tensor, s: torch.Tensor
    ) -> torch.Tensor:
        """Exact one-position reverse marginal ``p(z_s^i = b | z_t)`` for ``s < t``:
        ``sum_a p(a | z_t) K_{t|s}[b, z^i] K_s[a, b] / K_t[a, z^i]`` with ``K_{t|s}`` of weight
        ``abar_t / abar_s``. Shapes as in :meth:`score`; rows sum to 1."""
        return _by_blocks(probs, z, (self.kernel_weight(t), self.kernel_weight(s)), _tweedie)

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


# The conversions below work on rows ``[n, S]`` of the flattened ``[B * L, S]`` tensors, with the
# current values ``z [n, 1]`` and per-row times as columns ``[n, 1]``. Without autograd they run a
# block of rows at a time into a single float64 output: the temporaries of a block stay in cache,
# and no fresh ``[B, L, S]`` temporary is allocated. The diagonal terms (where ``K_t[a, z^i]`` or
# ``K_{t|s}[b, z^i]`` has the extra ``abar``) are gathered and scattered at ``z^i`` instead of being
# built from one-hot tensors; the numbers are the same as those of the dense formulas.
_BLOCK_VALUES = 1 << 16


def _through_kernel(probs, z, abar, weight):
    """``sum_a w[a] K[a, v]`` for ``w[a] = p(a | z) / K_t[a, z]`` and ``K`` of kernel weight
    ``weight``: ``weight * w[v] + (1 - weight)/S * sum_a w[a]``."""
    size = probs.shape[-1]
    off = (1 - abar) / size  # K_t[a, z] for a != z; K_t[z, z] = off + abar
    w = (probs / off).scatter(-1, z, probs.gather(-1, z) / (off + abar))
    return weight * w + (1 - weight) / size * w.sum(-1, keepdim=True)


def _rates(probs, z, abar, weight, rate):
    """Reverse rates ``(sigma/S) s[v]`` off the diagonal, 0 on it (``weight = abar``)."""
    score = _through_kernel(probs, z, abar, weight)
    return (rate / probs.shape[-1] * score).scatter(-1, z, 0.0)


def _tweedie(probs, z, abar_t, abar_s):
    """``through_s[b] K_{t|s}[b, z]`` normalised; ``K_{t|s}`` has weight ``abar_t / abar_s``."""
    through_s = _through_kernel(probs, z, abar_t, abar_s)
    abar_ts = abar_t / abar_s
    off = (1 - abar_ts) / probs.shape[-1]  # K_{t|s}[b, z] for b != z
    law = (through_s * off).scatter(-1, z, through_s.gather(-1, z) * (abar_ts + off))
    return law / law.sum(-1, keepdim=True)


def _by_blocks(probs, z, times, rows) -> torch.Tensor:
    """``rows(probs, z, *columns)`` over the flattened positions of ``probs [B, L, S]``,
    ``z [B, L]``, with ``times`` (each ``[B]`` or broadcastable) as per-position columns.
    Returns float64 ``[B, L, S]``."""
    size = probs.shape[-1]
    flat = probs.reshape(-1, size)
    current = z.reshape(-1, 1)
    columns = [
        _column(x.to(torch.float64), 1).expand(z.shape).reshape(-1, 1)
        for x in torch.broadcast_tensors(*times)
    ]
    if probs.requires_grad and torch.is_grad_enabled():
        return rows(flat.to(torch.float64), current, *columns).reshape(probs.shape)
    out = torch.empty(flat.shape, dtype=torch.float64)
    step = max(1, _BLOCK_VALUES // max(size, 1))
    for start in range(0, flat.shape[0], step):
        part = slice(start, start + step)
        out[part] = rows(flat[part].to(torch.float64), current[part], *(c[part] for c in columns))
    return out.reshape(probs.shape)
