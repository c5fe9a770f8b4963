"""The NELBO of the uniform process (spec §1.2): continuous time and ``N`` steps, Monte Carlo or exact.

The model is the reverse process started from the uniform prior at ``t = 1``, run down to
``t_min`` (``process.t_min``), followed by one factorised draw ``p(x | z_{t_min}) = prod_i
p(x_i | z_{t_min})`` from the denoiser's posterior marginals (a sampler's ``final_denoise``). Its
NELBO per sequence is ``prior + path + reconstruction``:

* ``prior = sum_i KL(K_1[x_i, :] || U)``, with ``U`` the uniform law (0 when ``alpha(1) = 0``);
* ``reconstruction = E_{z ~ q_{t_min}(.|x)} [ sum_i -log p(x_i | z) ]``;
* continuous time (``steps=None``, a CTMC with the model rates ``R = (sigma/S) s(z)``, spec §1.2):
  ``path = int_{t_min}^1 E_{z ~ q_t(.|x)} [ (sigma(t)/S) sum_i sum_{v != z_i} f(r_iv, s_iv) ] dt``
  with ``f(r, s) = s - r + r log(r/s) >= 0``, ``s`` the model's concrete score and
  ``r = K_t[x_i, v] / K_t[x_i, z_i]`` the score of the forward law given ``x``;
* ``N`` steps on the grid ``1 = t_0 > ... > t_N = t_min`` (uniform in ``t``):
  ``path = sum_j E_{z ~ q_{t_j}(.|x)} [ sum_i KL(q(z_s^i | z_i, x_i) || p(z_s^i | z)) ]``,
  ``s = t_{j+1}``, with ``q(z_s = b | z_t = c, x = a) = K_s[a, b] K_{t|s}[b, c] / K_t[a, c]`` and
  ``p`` the Tweedie reverse marginal (:meth:`UniformProcess.tweedie_law`), the uniform sampler
  ``"tweedie"``'s step.

What is provably true, and tested: the NELBO is an upper bound on ``-log phat(x)`` for the law
``phat`` of that model, per sequence. With the exact denoiser, averaged over ``x ~ pi``, it equals
``H(pi) + KL(p_1 || U) + E_{z ~ p_{t_min}} KL(pi(x | z) || prod_i pi(x_i | z))`` in continuous
time (the reverse rates are exact, so the path KL is only the start and the final factorisation
gap), plus each step's factorisation gap with ``N`` steps; so it is ``>= H(pi)`` on average but
not ``>= -log pi(x)`` for every ``x``. With ``t_min = 0`` the continuous estimator's variance is
infinite (a flipped token gives ``r ~ 1/t``); keep ``t_min > 0`` for Monte Carlo.

Every per-position term reads the model's logits in their own dtype, through
:class:`~unmask.probabilities.Probabilities`, and builds its float64 rows ``[m, S]`` for a piece of
positions at a time (:func:`unmask.pieces.at_positions`): no float64 ``[R, L, S]`` tensor exists,
whatever the vocabulary.

Conditional (``eligible``): the prompt is never noised and only response positions add terms; the
denoiser must then be the posterior given a clean prompt (an exact target's
``uniform_denoiser`` is not: it treats every position as noised).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import checks
from ..denoisers import check_logits
from ..grids import uniform_time
from ..laws import per_position
from ..pieces import at_positions
from ..probabilities import Probabilities
from ..processes import UniformProcess
from ..processes.uniform import through_kernel, tweedie_rows
from . import masks as draws
from .estimators import check_variant, heavy_tail_caveat
from .quadrature import log_time_nodes
from .scoring import unit_means

#: Gauss-Legendre nodes (in log t) of the exact continuous-time NELBO.
EXACT_NODES = 128
#: Below these ``t_min`` the continuous-time and the ``steps``-step intervals carry the heavy-tail
#: caveat (:attr:`UniformBound.interval_caveat`).
HEAVY_T_MIN = 0.1
HEAVY_T_MIN_STEPS = 0.02
#: The most states ``V^L`` the exact enumeration visits.
MAX_EXACT_STATES = 1 << 12
#: ``(fill, dtype)`` of a per-position float64 term (0 at positions that are not scored).
_TERM = ((0.0, torch.float64),)


def _model(denoiser, z: torch.Tensor, t: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """The denoiser's logits ``[R, L, S]`` at states ``z [R, L]`` and times ``t [R]``, checked, in
    the model's own dtype (read through :class:`~unmask.probabilities.Probabilities`)."""
    return check_logits(denoiser(z, t), z.shape[0], z.shape[1], vocab_size)


def _kernel_rows(abar: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Rows ``K[index, :] = abar 1{v = index} + (1 - abar)/S`` float64 ``[m, S]`` of kernels of
    weight ``abar [m, 1]`` at values ``index [m, 1]``."""
    off = (1 - abar) / size
    return off.expand(-1, size).contiguous().scatter(-1, index, off + abar)


def noised(
    process: UniformProcess, x: torch.Tensor, eligible: torch.Tensor, t: torch.Tensor, size: int, generator
) -> torch.Tensor:
    """``z ~ q_t(. | x)`` at scored positions; the prompt stays clean. A generator draws on its own
    device; the draw comes back to ``x``'s."""
    home = x.device if generator is None else generator.device
    z = process.corrupt(x.to(home), t.to(home), size, generator).to(x.device)
    return torch.where(eligible, z, x)


def rate_integrand(process, probs: Probabilities, z, t, x, eligible) -> torch.Tensor:
    """``(sigma(t)/S) sum_{i scored} sum_{v != z_i} f(r_iv, s_iv)`` ``[R]`` (module docstring), for
    the model's ``probs [R, L, S]`` at ``z [R, L]``, times ``t [R]`` and clean ``x [R, L]``; the
    float64 rows of ``r`` and ``s`` exist a piece of positions at a time."""
    size, length = probs.shape[-1], z.shape[-1]
    abar = process.kernel_weight(t)

    def compute(index):
        weight, current, clean = (per_position(v, index, length) for v in (abar, z, x))
        k_x = _kernel_rows(weight, clean, size)
        r = k_x / k_x.gather(-1, current)
        s = through_kernel(probs.rows(index), current, weight, weight)  # the concrete score
        f = (s - r + r * (r.log() - s.log())).scatter(-1, current, 0.0)
        return (f.sum(-1),)

    (per_token,) = at_positions(eligible, compute, size, _TERM)
    return process.schedule.rate(t) / size * per_token.sum(-1)


def step_kl(process, probs: Probabilities, z, t, s, x, eligible) -> torch.Tensor:
    """``sum_{i scored} KL(q(z_s^i | z_i, x_i) || p(z_s^i | z))`` ``[R]`` for a step ``t -> s``
    (times ``[R]``), with ``p`` the Tweedie law of the model's ``probs [R, L, S]``; computed a
    piece of positions at a time."""
    size, length = probs.shape[-1], z.shape[-1]
    abar_t, abar_s = process.kernel_weight(t), process.kernel_weight(s)
    abar_ts = abar_t / abar_s

    def compute(index):
        columns = (z, x, abar_t, abar_s, abar_ts)
        current, clean, a_t, a_s, a_ts = (per_position(v, index, length) for v in columns)
        # q(z_s = b | z_t, x) is proportional to K_s[x, b] K_{t|s}[b, z_t]
        forward = _kernel_rows(a_s, clean, size) * _kernel_rows(a_ts, current, size)
        q = forward / forward.sum(-1, keepdim=True)
        p = tweedie_rows(probs.rows(index), current, a_t, a_s)
        return (torch.where(q > 0, q * (q.log() - p.log()), 0.0).sum(-1),)

    (per_token,) = at_positions(eligible, compute, size, _TERM)
    return per_token.sum(-1)


def reconstruction(probs: Probabilities, x, eligible) -> torch.Tensor:
    """``sum_{i scored} -log p(x_i | z)`` ``[R]``."""
    return -probs.log_prob_of(x, dtype=torch.float64, where=eligible).sum(-1)


def prior_kl(process: UniformProcess, n: torch.Tensor, size: int) -> torch.Tensor:
    """``n KL(K_1[a, :] || U)`` ``[B]`` (the same for every ``a``)."""
    abar = process.kernel_weight(1.0)  # a host scalar
    stay, move = abar + (1 - abar) / size, (1 - abar) / size
    per_token = torch.xlogy(stay, size * stay) + (size - 1) * torch.xlogy(move, size * move)
    return n.to(torch.float64) * float(per_token)


@dataclass(frozen=True)
class UniformBound:
    """Monte-Carlo NELBO of the uniform process: continuous time (``steps=None``) or ``N`` steps.

    Continuous: one draw is ``t ~ U(t_min, 1)`` (``variant`` as for the masked time-integral) with
    ``z_t ~ q_t(.|x)``, plus ``z ~ q_{t_min}(.|x)`` for the reconstruction: two denoiser rows,
    ``Y = (1 - t_min) J(t, z_t) + reconstruction + prior``. ``N`` steps: one of the ``N + 1``
    terms (``N`` step KLs and the reconstruction) drawn uniformly, ``Y = (N + 1) term + prior``.
    """

    process: UniformProcess
    steps: int | None = None
    variant: str = "plain"
    strata: int = 8

    def __post_init__(self) -> None:
        check_variant(self.variant)
        checks.positive_int("strata", self.strata, minimum=2)
        if self.steps is not None:
            checks.positive_int("steps", self.steps)
            if self.variant != "plain":
                raise ValueError(f"variant={self.variant!r} applies to continuous time only (steps=None)")

    @property
    def name(self) -> str:
        return "time-integral" if self.steps is None else "discrete"

    @property
    def unit_size(self) -> int:
        return {"plain": 1, "antithetic": 2, "stratified": self.strata}[self.variant]

    @property
    def interval_caveat(self) -> str | None:
        """Why the interval may under-cover (see :attr:`.MaskedEstimator.interval_caveat`): the
        flipped-token score ``r ~ 1/t`` makes the draws heavy-tailed near ``t_min``. Measured
        coverage of a nominal 95 %: continuous time 91 % at ``t_min = 0.02``, 88 % at 0.01, 95 %
        at 0.25; 8 steps 94.5 % at 0.02, 92.5 % at 0.01."""
        t_min = self.process.t_min
        if t_min < (HEAVY_T_MIN if self.steps is None else HEAVY_T_MIN_STEPS):
            return heavy_tail_caveat("t_min", t_min)
        return None

    @property
    def rows_per_draw(self) -> int:
        return 2 if self.steps is None else 1

    def units(self, denoiser, x, eligible, n, index, vocab_size, generator) -> torch.Tensor:
        """One unit estimate ``[U]`` for each sequence ``index[u]`` (on ``x``'s device)."""
        rows = index.repeat_interleave(self.unit_size)
        x_r, e_r = x[rows], eligible[rows]
        t_min, device = self.process.t_min, x.device
        if self.steps is None:
            t = draws.unit_times(len(index), self.unit_size, self.variant, t_min, 1.0, generator, device)
            t_end = torch.full_like(t, t_min)
            z = noised(self.process, x_r, e_r, t, vocab_size, generator)
            z_end = noised(self.process, x_r, e_r, t_end, vocab_size, generator)
            logits = _model(denoiser, torch.cat([z, z_end]), torch.cat([t, t_end]), vocab_size)
            path = rate_integrand(self.process, Probabilities(logits[: len(rows)]), z, t, x_r, e_r)
            end = reconstruction(Probabilities(logits[len(rows) :]), x_r, e_r)
            values = (1 - t_min) * path + end
        else:
            grid = uniform_time(self.steps, t_end=t_min).to(device)
            u = draws.uniform((len(rows),), generator, device)
            j = (u * (self.steps + 1)).long().clamp(max=self.steps)
            t, s = grid[j], grid[(j + 1).clamp(max=self.steps)]
            z = noised(self.process, x_r, e_r, t, vocab_size, generator)
            probs = Probabilities(_model(denoiser, z, t, vocab_size))
            stepping = (j < self.steps)[:, None]  # the others draw the reconstruction term
            kl = step_kl(self.process, probs, z, t, s, x_r, e_r & stepping)
            terms = torch.where(j < self.steps, kl, reconstruction(probs, x_r, e_r & ~stepping))
            values = (self.steps + 1) * terms
        return unit_means(values, self.unit_size) + prior_kl(self.process, n[index], vocab_size)


def all_states(vocab_size: int, length: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Every sequence ``[V^L, L]`` (row-major) on ``device``."""
    if vocab_size**length > MAX_EXACT_STATES:
        raise ValueError(
            f"the exact uniform NELBO enumerates V^L = {vocab_size}^{length} = {vocab_size**length} states, "
            f"more than {MAX_EXACT_STATES}; use method='time-integral' or 'discrete' (Monte Carlo)"
        )
    grids = torch.meshgrid(*[torch.arange(vocab_size, device=device)] * length, indexing="ij")
    return torch.stack([g.reshape(-1) for g in grids], dim=-1)


def exact_uniform_terms(
    denoiser,
    x: torch.Tensor,
    eligible: torch.Tensor,
    vocab_size: int,
    process: UniformProcess,
    steps: int | None,
    nodes: int = EXACT_NODES,
) -> tuple[torch.Tensor, int, int]:
    """The exact NELBO ``[B]`` by enumerating every state at each time; also the denoiser calls
    made and the states visited per sequence. The denoiser sees each state once per time, for every
    sequence at once; each sequence reads those outputs through a row map (no copy)."""
    batch, length = x.shape
    device = x.device
    states = all_states(vocab_size, length, device)
    count = len(states)
    x_r, e_r = x.repeat_interleave(count, 0), eligible.repeat_interleave(count, 0)
    z_r = states.repeat(batch, 1)
    same = (z_r == x_r).to(torch.float64)
    shared = torch.arange(count, device=device).repeat(batch)  # row of sequence b's state k
    t_min = process.t_min
    # the times and weights are read on the host, one denoiser call per time
    if steps is None:
        nodes_t, nodes_w = log_time_nodes(max(t_min, 1e-12), 1.0, nodes, device="cpu")
        times, ends, weights = nodes_t.tolist(), [], nodes_w.tolist()
    else:
        grid = uniform_time(steps, t_end=t_min).tolist()
        times, ends, weights = grid[:-1], grid[1:], [1.0] * steps
    times = [*times, t_min]
    total = prior_kl(process, eligible.sum(-1), vocab_size)
    for k, time in enumerate(times):
        t = torch.full((count,), time, dtype=torch.float64, device=device)
        probs = Probabilities(_model(denoiser, states, t, vocab_size), rows=shared)
        t_r = t.repeat(batch)
        abar = process.kernel_weight(t_r)[:, None]
        kernel = abar * same + (1 - abar) / vocab_size  # K_t[x_i, z_i]
        law = torch.where(e_r, kernel, same).prod(-1)  # q_t(z | x) [B V^L]
        if k == len(times) - 1:
            term, weight = reconstruction(probs, x_r, e_r), 1.0
        elif steps is None:
            term, weight = rate_integrand(process, probs, z_r, t_r, x_r, e_r), weights[k]
        else:
            s_r = torch.full_like(t_r, ends[k])
            term, weight = step_kl(process, probs, z_r, t_r, s_r, x_r, e_r), weights[k]
        contribution = torch.where(law > 0, law * term, 0.0).reshape(batch, count).sum(-1)
        total = total + weight * contribution
    return total, len(times), count * len(times)
