"""The uniform forward process and its reverse-time quantities (spec §1.2).

Per token, ``q(z_t = b | x = a) = K_t[a, b]`` with ``K_t = abar_t I + (1 - abar_t) E/S``,
``abar_t = alpha(t)`` of the schedule, and forward generator ``sigma(t) (E/S - I)`` with
``sigma = -alpha'/alpha``. The denoiser gives the full posterior marginal ``p(x^i = a | z_t)``.
Samplers run from ``t = 1`` down to ``t_min > 0``, where scores stay finite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from .. import checks
from ..laws import per_position, value_sum
from ..probabilities import Probabilities
from ..schedules import ConstantRateSchedule, Schedule, TimeLike
from .base import Process
from .jumps import JumpLaw


def _column(x: torch.Tensor, dims: int) -> torch.Tensor:
    return x.reshape(-1, *([1] * dims))


@dataclass(frozen=True)
class UniformProcess(Process):
    """Uniform diffusion driven by ``schedule``, sampled on ``[t_min, 1]``.

    The default ``alpha(t) = exp(-10 t)`` has rate ``sigma = 10`` and ``abar(1) = 4.5e-5`` (the prior
    mismatch of a uniform start); ``t_min = 0.02`` keeps ``abar(t_min) = exp(-0.2)``.
    """

    schedule: Schedule = field(default_factory=lambda: ConstantRateSchedule(horizon=10.0))
    t_min: float = 0.02
    name: ClassVar[str] = "uniform"
    states_formula: ClassVar[str] = "states V^L"
    optional_final_denoise: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule):
            raise TypeError(
                f"schedule must be a Schedule (for example unmask.schedules.ConstantRateSchedule()), "
                f"got {self.schedule!r}"
            )
        checks.probability("t_min", self.t_min, open_high=True)

    # -- what samplers, exact laws and the driver ask of a process -------------------------------
    @property
    def t_end(self) -> float:
        return self.t_min

    def state_base(self, vocab_size: int) -> int:
        return vocab_size

    def prior_mismatch(self, start_time: float) -> str | None:
        return None  # documented: abar(1) > 0 is the uniform prior's mismatch, small by design

    def start(self, z, free, vocab_size, streams, elements):
        """Free positions drawn uniformly from the ``V`` values (float64 uniforms, ``floor(u V)``)."""
        u = streams.uniform(z.shape[-1], elements=elements)
        drawn = (u.to(torch.float64) * vocab_size).long().clamp(max=vocab_size - 1)
        return torch.where(free, drawn, z)

    def has_work(self, ctx: Any, z: torch.Tensor) -> torch.Tensor:
        return ctx.free.any(-1)

    def finishing_rows(self, ctx: Any, z: torch.Tensor, final_denoise: bool) -> torch.Tensor:
        return self.has_work(ctx, z) & final_denoise

    def finish(self, ctx: Any, z: torch.Tensor, t: torch.Tensor, final_denoise: bool) -> torch.Tensor:
        """With ``final_denoise``: one draw of every free position from ``p(x_0 | z_{t_min})``."""
        if not final_denoise:
            return z
        return ctx.jump(z, self.posterior_jump(ctx.denoise(z, t), z))

    def exact_denoiser(self, target: Any):
        return target.uniform_denoiser(self)

    def exact_start(self, target: Any, start_time: float, start: str, device: torch.device):
        checks.one_of("start", start, ("exact", "prior"))
        vocab_size, length = target.vocab_size, target.length
        grids = torch.meshgrid(*[torch.arange(vocab_size, device=device)] * length, indexing="ij")
        z = torch.stack([g.reshape(-1) for g in grids], dim=-1)
        if start == "exact":
            mass = target.uniform_marginal(start_time, self).reshape(-1).to(torch.float64).to(device)
        else:
            mass = torch.full((len(z),), vocab_size**-length, dtype=torch.float64, device=device)
        keep = mass > 0
        return z[keep], mass[keep]

    def reference_law(self, target: Any, final_denoise: bool) -> torch.Tensor:
        if final_denoise:
            return target.probs()
        return target.uniform_marginal(self.t_min, self)

    def logits_from_log_score(self, log_score, z, t):
        """The posterior marginals that solve ``s = G p`` (:meth:`posterior_from_score`), as logs."""
        return self.posterior_from_score(log_score.to(torch.float64).exp(), z, t).log()

    # -- laws of the next value, one row of V values at a time ----------------------------------
    def posterior_jump(self, probs: Probabilities, z: torch.Tensor) -> JumpLaw:
        """The final denoise: every position drawn from ``p(x_0 | z)`` (staying included); it
        leaves its value with probability ``1 - p(z_i | z)``."""

        def compute(rows, current, index):
            return rows[0], None

        def leave(where):
            stay, moved = _current_probability(probs, z, where)
            return moved, torch.zeros_like(moved)

        return JumpLaw((probs,), z, compute, leave=leave)

    def tweedie_jump(
        self, probs: Probabilities, z: torch.Tensor, t: torch.Tensor, s: torch.Tensor
    ) -> JumpLaw:
        """The exact one-position reverse marginal ``p(z_s^i = b | z_t)`` (see :meth:`tweedie_law`).

        With ``w = p / K_t[., z_i]`` (``W = sum w``, ``W' = W - w_{z_i} = (1 - p_{z_i}) / o_t``,
        ``o_t = (1 - abar_t)/S``), ``r = abar_t / abar_s`` and ``o = (1 - r)/S``, the position leaves
        its value with probability ``A / (A + B)``, ``A = o (abar_s W' + (S-1)(1-abar_s) W / S)``,
        ``B = (r + o)(abar_s w_{z_i} + (1-abar_s) W / S)``: one log-probability per position.
        """
        abar_t, abar_s = self.kernel_weight(t), self.kernel_weight(s)
        length, size = z.shape[-1], probs.shape[-1]

        def compute(rows, current, index):
            columns = (per_position(abar_t, index, length), per_position(abar_s, index, length))
            return tweedie_rows(rows[0], current, *columns), None

        def leave(where):
            a_t, a_s = abar_t.reshape(-1, 1), abar_s.reshape(-1, 1)
            others, own, total = _kernel_sums(probs, z, where, a_t)
            ratio = a_t / a_s
            off = (1 - ratio) / size
            away = off * (a_s * others + (size - 1) * (1 - a_s) / size * total)
            stay = (ratio + off) * (a_s * own + (1 - a_s) / size * total)
            return away / (away + stay), torch.zeros_like(away)

        return JumpLaw((probs,), z, compute, leave=leave)

    def euler_jump(self, probs: Probabilities, z: torch.Tensor, t: torch.Tensor, s: torch.Tensor) -> JumpLaw:
        """Euler: ``P(v) = Delta Rhat(z -> v)`` for ``v != z_i`` and the rest on staying; a negative
        stay mass is clipped to 0 (the clipped amount is the law's ``clipped``). The total move
        probability ``M = Delta (sigma/S) (abar W' + (S-1)(1-abar) W / S)`` (notation of
        :meth:`tweedie_jump`) needs one log-probability per position."""
        abar, rate, delta = self.kernel_weight(t), self.schedule.rate(t), t - s
        length, size = z.shape[-1], probs.shape[-1]

        def compute(rows, current, index):
            columns = [per_position(x, index, length) for x in (abar, rate, delta)]
            moves = _rates(rows[0], current, columns[0], columns[0], columns[1]) * columns[2]
            stay = 1 - moves.sum(-1, keepdim=True)  # the diagonal of the rates is 0
            law = moves.scatter(-1, current, stay.clamp(min=0))
            return law, (-stay).clamp(min=0).squeeze(-1)

        def leave(where):
            a = abar.reshape(-1, 1)
            others, own, total = _kernel_sums(probs, z, where, a)
            away = (delta * rate).reshape(-1, 1) / size * (a * others + (size - 1) * (1 - a) / size * total)
            stay = 1 - away
            return away / (away + stay.clamp(min=0)), (-stay).clamp(min=0)

        return JumpLaw((probs,), z, compute, records_clipping=True, leave=leave)

    def increment_rates(
        self, rows: torch.Tensor, current: torch.Tensor, t_column: torch.Tensor
    ) -> torch.Tensor:
        """Reverse rates ``[m, S]`` of the rows of probabilities ``rows [m, S]`` at current values
        ``current [m, 1]`` and times ``t_column [m, 1]``, indexed by increment ``k`` (entry 0 is the
        current value, rate 0): ``mu_k = Rhat(z -> z + k mod S)``."""
        abar = self.kernel_weight(t_column)
        rates = _rates(rows, current, abar, abar, self.schedule.rate(t_column))
        size = rows.shape[-1]
        return rates.gather(-1, (current + torch.arange(size, device=rows.device)) % size)

    def kernel_weight(self, t: TimeLike) -> torch.Tensor:
        """``abar_t``: the weight of the identity in ``K_t``."""
        return self.schedule.alpha(t)

    def transition_matrix(self, t: TimeLike, vocab_size: int) -> torch.Tensor:
        """``K_t [..., S, S]`` for times of any shape."""
        abar = self.kernel_weight(t)[..., None, None]
        eye = torch.eye(vocab_size, dtype=torch.float64, device=abar.device)
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
        resample = torch.rand(x.shape, generator=generator, dtype=torch.float64, device=x.device)
        noise = torch.randint(0, vocab_size, x.shape, generator=generator, device=x.device)
        return torch.where(resample < 1 - _column(self.kernel_weight(t), 1), noise, x)

    def score(self, probs: torch.Tensor, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Concrete score ``s[b,i,v] = sum_a p(a | z) K_t[a, v] / K_t[a, z^i]`` (``s[b,i,z^i] = 1``).

        ``probs [B, L, S]`` posterior marginals, ``z [B, L]``, ``t [B]``; float64 ``[B, L, S]`` out.
        """
        abar = self.kernel_weight(t)
        return _by_blocks(probs, z, (abar, abar), through_kernel)

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
        return _by_blocks(probs, z, (self.kernel_weight(t), self.kernel_weight(s)), tweedie_rows)

    def posterior_from_score(self, score: torch.Tensor, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Invert :meth:`score`: solve ``s[v] = sum_a G[v,a] p[a]``, ``G[v,a] = K_t[a,v]/K_t[a,z^i]``,
        per position; negative round-off is clipped and the result renormalised.
        Ill-conditioned as ``abar_t -> 0``."""
        size = score.shape[-1]
        abar = _column(self.kernel_weight(t), 3)
        k_t = (
            abar * torch.eye(size, dtype=torch.float64, device=score.device) + (1 - abar) / size
        )  # [B,1,S,S] as K[a,v]
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


def _current_probability(probs: Probabilities, z: torch.Tensor, where: torch.Tensor):
    """``(p(z_i), 1 - p(z_i))`` float64 ``[n, L]`` at ``where``, from one log-probability per
    position (``1 - p`` through ``expm1``, without cancellation)."""
    log_p = probs.log_prob_of(z.long().clamp(0, probs.shape[-1] - 1), torch.float64, where)
    return log_p.exp(), -torch.expm1(log_p)


def _kernel_sums(probs: Probabilities, z: torch.Tensor, where: torch.Tensor, abar: torch.Tensor):
    """For ``w[v] = p(v) / K_t[v, z_i]`` (kernel weight ``abar [n, 1]``): ``W' = sum_{v != z_i} w[v]``,
    ``w[z_i]`` and ``W = W' + w[z_i]``, float64 ``[n, L]``."""
    stay, moved = _current_probability(probs, z, where)
    off = (1 - abar) / probs.shape[-1]
    others, own = moved / off, stay / (off + abar)
    return others, own, others + own


# The conversions below work on rows ``[n, S]`` of the flattened ``[B * L, S]`` tensors, with the
# current values ``z [n, 1]`` and per-row times as columns ``[n, 1]``. Without autograd they run a
# block of rows at a time into a single float64 output: the temporaries of a block stay in cache,
# and no fresh ``[B, L, S]`` temporary is allocated. The diagonal terms (where ``K_t[a, z^i]`` or
# ``K_{t|s}[b, z^i]`` has the extra ``abar``) are gathered and scattered at ``z^i`` instead of being
# built from one-hot tensors; the numbers are the same as those of the dense formulas.
_BLOCK_VALUES = 1 << 16


def _in_place(x: torch.Tensor) -> bool:
    """Whether arithmetic may overwrite ``x`` (a fresh tensor no gradient flows through)."""
    return not (x.requires_grad and torch.is_grad_enabled())


def through_kernel(
    probs: torch.Tensor, z: torch.Tensor, abar: torch.Tensor | float, weight: torch.Tensor | float
) -> torch.Tensor:
    """``sum_a w[a] K[a, v]`` for ``w[a] = p(a | z) / K_t[a, z]`` and ``K`` of kernel weight
    ``weight``: ``weight * w[v] + (1 - weight)/S * sum_a w[a]``.

    ``probs [m, S]`` float64 posterior rows, ``z [m, 1]`` current values, ``abar`` and ``weight``
    scalars or columns ``[m, 1]``; with ``weight = abar`` this is the concrete score. Returns a new
    float64 tensor ``[m, S]`` (``probs`` itself is overwritten only when no gradient flows).
    """
    size = probs.shape[-1]
    off = (1 - abar) / size  # K_t[a, z] for a != z; K_t[z, z] = off + abar
    own = probs.gather(-1, z) / (off + abar)
    if not _in_place(probs):
        w = (probs / off).scatter(-1, z, own)
        return weight * w + (1 - weight) / size * value_sum(w, keepdim=True)
    w = (probs / off).scatter_(-1, z, own)
    total = value_sum(w, keepdim=True)
    return w.mul_(weight).add_((1 - weight) / size * total)


def _rates(probs, z, abar, weight, rate):
    """Reverse rates ``(sigma/S) s[v]`` off the diagonal, 0 on it (``weight = abar``)."""
    score = through_kernel(probs, z, abar, weight)
    if not _in_place(score):
        return (rate / probs.shape[-1] * score).scatter(-1, z, 0.0)
    return score.mul_(rate / probs.shape[-1]).scatter_(-1, z, 0.0)


def tweedie_rows(
    probs: torch.Tensor, z: torch.Tensor, abar_t: torch.Tensor | float, abar_s: torch.Tensor | float
) -> torch.Tensor:
    """The exact reverse law ``p(z_s = b | z_t) ∝ through_s[b] K_{t|s}[b, z]`` (``through_s``:
    :func:`through_kernel` with weight ``abar_s``; ``K_{t|s}`` has weight ``abar_t / abar_s``).

    ``probs [m, S]`` float64 posterior rows, ``z [m, 1]``, kernel weights as scalars or ``[m, 1]``
    columns. Returns float64 ``[m, S]`` rows that sum to 1.
    """
    through_s = through_kernel(probs, z, abar_t, abar_s)
    abar_ts = abar_t / abar_s
    off = (1 - abar_ts) / probs.shape[-1]  # K_{t|s}[b, z] for b != z
    own = through_s.gather(-1, z) * (abar_ts + off)
    if not _in_place(through_s):
        law = (through_s * off).scatter(-1, z, own)
        return law / value_sum(law, keepdim=True)
    law = through_s.mul_(off).scatter_(-1, z, own)
    return law.div_(value_sum(law, keepdim=True))


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
    out = torch.empty(flat.shape, dtype=torch.float64, device=probs.device)
    step = max(1, _BLOCK_VALUES // max(size, 1))
    for start in range(0, flat.shape[0], step):
        part = slice(start, start + step)
        out[part] = rows(flat[part].to(torch.float64), current[part], *(c[part] for c in columns))
    return out.reshape(probs.shape)
