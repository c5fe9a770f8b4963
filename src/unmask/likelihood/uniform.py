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

Conditional (``eligible``): the prompt is never noised and only response positions add terms; the
denoiser must then be the posterior given a clean prompt (an exact target's
``uniform_denoiser`` is not: it treats every position as noised).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import checks
from ..denoisers import check_logits
from ..grids import uniform_time
from ..processes import UniformProcess
from . import masks as draws
from .estimators import check_variant
from .quadrature import log_time_nodes
from .scoring import unit_means

#: Gauss-Legendre nodes (in log t) of the exact continuous-time NELBO.
EXACT_NODES = 128
#: The most states ``V^L`` the exact enumeration visits.
MAX_EXACT_STATES = 1 << 12


def _model(denoiser, z: torch.Tensor, t: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Float64 log posterior marginals ``[R, L, S]``."""
    logits = check_logits(denoiser(z, t), z.shape[0], z.shape[1], vocab_size)
    return torch.log_softmax(logits.to(torch.float64), dim=-1)


def _kernel(abar: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Rows ``K[index_i, :]`` ``[R, L, S]`` of kernels with weights ``abar [R]``."""
    onehot = F.one_hot(index, size).to(torch.float64)
    a = abar.reshape(-1, 1, 1)
    return a * onehot + (1 - a) / size


def noised(
    process: UniformProcess, x: torch.Tensor, eligible: torch.Tensor, t: torch.Tensor, size: int, generator
) -> torch.Tensor:
    """``z ~ q_t(. | x)`` at scored positions; the prompt stays clean."""
    return torch.where(eligible, process.corrupt(x, t, size, generator), x)


def rate_integrand(process, log_probs, z, t, x, eligible) -> torch.Tensor:
    """``(sigma(t)/S) sum_{i scored} sum_{v != z_i} f(r_iv, s_iv)`` ``[R]`` (module docstring)."""
    size = log_probs.shape[-1]
    k_x = _kernel(process.kernel_weight(t), x, size)
    r = k_x / k_x.gather(-1, z.unsqueeze(-1))
    s = process.score(log_probs.exp(), z, t)
    f = s - r + r * (r.log() - s.log())
    f = torch.where(F.one_hot(z, size).bool(), 0.0, f)
    per_row = torch.where(eligible, f.sum(-1), 0.0).sum(-1)
    return process.schedule.rate(t) / size * per_row


def step_kl(process, log_probs, z, t, s, x, eligible) -> torch.Tensor:
    """``sum_{i scored} KL(q(z_s^i | z_i, x_i) || p(z_s^i | z))`` ``[R]`` for a step ``t -> s``."""
    size = log_probs.shape[-1]
    abar_t, abar_s = process.kernel_weight(t), process.kernel_weight(s)
    forward = _kernel(abar_s, x, size) * _kernel(abar_t / abar_s, z, size)  # K_s[x, b] K_{t|s}[b, z]
    q = forward / forward.sum(-1, keepdim=True)
    p = process.tweedie_law(log_probs.exp(), z, t, s)
    kl = torch.where(q > 0, q * (q.log() - p.log()), 0.0).sum(-1)
    return torch.where(eligible, kl, 0.0).sum(-1)


def reconstruction(log_probs, x, eligible) -> torch.Tensor:
    """``sum_{i scored} -log p(x_i | z)`` ``[R]``."""
    nll = -log_probs.gather(-1, x.unsqueeze(-1)).squeeze(-1)
    return torch.where(eligible, nll, 0.0).sum(-1)


def prior_kl(process: UniformProcess, n: torch.Tensor, size: int) -> torch.Tensor:
    """``n KL(K_1[a, :] || U)`` ``[B]`` (the same for every ``a``)."""
    abar = process.kernel_weight(1.0)
    stay, move = abar + (1 - abar) / size, (1 - abar) / size
    per_token = torch.xlogy(stay, size * stay) + (size - 1) * torch.xlogy(move, size * move)
    return n.to(torch.float64) * per_token


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
    def rows_per_draw(self) -> int:
        return 2 if self.steps is None else 1

    def units(self, denoiser, x, eligible, n, index, vocab_size, generator) -> torch.Tensor:
        """One unit estimate ``[U]`` for each sequence ``index[u]``."""
        rows = index.repeat_interleave(self.unit_size)
        x_r, e_r = x[rows], eligible[rows]
        t_min = self.process.t_min
        if self.steps is None:
            t = draws.unit_times(len(index), self.unit_size, self.variant, t_min, 1.0, generator)
            t_end = torch.full_like(t, t_min)
            z = noised(self.process, x_r, e_r, t, vocab_size, generator)
            z_end = noised(self.process, x_r, e_r, t_end, vocab_size, generator)
            log_probs = _model(denoiser, torch.cat([z, z_end]), torch.cat([t, t_end]), vocab_size)
            path = rate_integrand(self.process, log_probs[: len(rows)], z, t, x_r, e_r)
            values = (1 - t_min) * path + reconstruction(log_probs[len(rows) :], x_r, e_r)
        else:
            grid = uniform_time(self.steps, t_end=t_min)
            j = (draws.uniform((len(rows),), generator) * (self.steps + 1)).long().clamp(max=self.steps)
            t, s = grid[j], grid[(j + 1).clamp(max=self.steps)]
            z = noised(self.process, x_r, e_r, t, vocab_size, generator)
            log_probs = _model(denoiser, z, t, vocab_size)
            kl = step_kl(self.process, log_probs, z, t, s, x_r, e_r)
            terms = torch.where(j < self.steps, kl, reconstruction(log_probs, x_r, e_r))
            values = (self.steps + 1) * terms
        return unit_means(values, self.unit_size) + prior_kl(self.process, n[index], vocab_size)


def all_states(vocab_size: int, length: int) -> torch.Tensor:
    """Every sequence ``[V^L, L]`` (row-major)."""
    if vocab_size**length > MAX_EXACT_STATES:
        raise ValueError(
            f"the exact uniform NELBO enumerates V^L = {vocab_size}^{length} = {vocab_size**length} states, "
            f"more than {MAX_EXACT_STATES}; use method='time-integral' or 'discrete' (Monte Carlo)"
        )
    grids = torch.meshgrid(*[torch.arange(vocab_size)] * length, indexing="ij")
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
    sequence at once."""
    batch, length = x.shape
    states = all_states(vocab_size, length)
    count = len(states)
    x_r, e_r = x.repeat_interleave(count, 0), eligible.repeat_interleave(count, 0)
    z_r = states.repeat(batch, 1)
    t_min = process.t_min
    if steps is None:
        times, weights = log_time_nodes(max(t_min, 1e-12), 1.0, nodes)
        ends = times
    else:
        grid = uniform_time(steps, t_end=t_min)
        times, ends, weights = grid[:-1], grid[1:], torch.ones(steps, dtype=torch.float64)
    times = torch.cat([times, torch.tensor([t_min], dtype=torch.float64)])
    total = prior_kl(process, eligible.sum(-1), vocab_size)
    for k, time in enumerate(times.tolist()):
        t = torch.full((count,), time, dtype=torch.float64)
        log_probs = _model(denoiser, states, t, vocab_size).repeat(batch, 1, 1)
        t_r = t.repeat(batch)
        kernel = (
            _kernel(process.kernel_weight(t_r), x_r, vocab_size).gather(-1, z_r.unsqueeze(-1)).squeeze(-1)
        )
        law = torch.where(e_r, kernel, (z_r == x_r).to(torch.float64)).prod(-1)  # q_t(z | x) [B V^L]
        if k == len(times) - 1:
            term = reconstruction(log_probs, x_r, e_r)
            weight = 1.0
        elif steps is None:
            term, weight = rate_integrand(process, log_probs, z_r, t_r, x_r, e_r), float(weights[k])
        else:
            s_r = torch.full_like(t_r, float(ends[k]))
            term, weight = step_kl(process, log_probs, z_r, t_r, s_r, x_r, e_r), 1.0
        contribution = torch.where(law > 0, law * term, 0.0).reshape(batch, count).sum(-1)
        total = total + weight * contribution
    return total, len(times), count * len(times)
