"""The uniform-diffusion training loss: the continuous-time NELBO of the uniform process, one draw
per sequence.

The model is the one :mod:`unmask.likelihood.uniform` scores: the reverse CTMC with rates
``(sigma(t)/S) s_theta(z)`` from the uniform prior at ``t = 1`` down to ``t_min = process.t_min``,
then one factorised draw from ``p_theta(x | z_{t_min})``. Its NELBO is

    ``prior + int_{t_min}^1 E_{z ~ q_t(.|x)} [ (sigma(t)/S) sum_i sum_{v != z_i} f(r_iv, s_iv) ] dt``
    ``+ E_{z ~ q_{t_min}(.|x)} [ sum_i -log p_theta(x_i | z) ]``,

with ``f(r, s) = s - r + r log(r/s) >= 0``, ``s`` the model's concrete score (spec §1.2), ``r`` the
forward score given ``x`` and ``prior = sum_i KL(K_1[x_i, :] || U)`` (no gradient). One draw per
row: ``t ~ U(t_min, 1)`` (antithetic over the batch by default), ``z_t ~ q_t(.|x)`` and
``z ~ q_{t_min}(.|x)``, both scored in **one model call on ``2B`` rows**, and

    ``nelbo = (1 - t_min) path(t, z_t) + reconstruction(z) + prior``:

an unbiased estimate of the NELBO of :meth:`unmask.likelihood.nelbo` with ``process=``, whose
``method="exact"`` value it matches in expectation (no clip bias: ``t_min`` is part of the model).

The path integrand needs the whole score row ``s_i [V]``. :func:`uniform_path_integrand` writes
``f`` per entry as ``r h(delta)``, ``h(d) = d - log(1 + d) >= 0``, ``delta = s/r - 1``, in closed
forms that keep their precision where a direct evaluation loses it (near ``t = 1``, where ``r`` and
``s`` both tend to 1, and for confident models at small ``t``, where ``s/r`` tends to 0), in
float32 (float64 for float64 logits); a few float32 ``[B, L, V]`` temporaries, no float64 one.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ...denoisers import call, check_logits_shape
from ...likelihood.uniform import noised, prior_kl
from ...processes import UniformProcess
from .inputs import (
    check_batch,
    check_cond,
    check_flag,
    check_generator,
    check_model,
    check_times,
    check_uniform_process,
    resolve_vocab_size,
)
from .scoring import accumulation_dtype, gather_tokens, log_softmax, positive_sum, token_log_probs
from .terms import LossTerms, check_reduction
from .times import draw_times

_TINY = torch.finfo(torch.float64).tiny


def _h(delta: torch.Tensor, log_one_plus: torch.Tensor) -> torch.Tensor:
    """``h = delta - log(1 + delta)`` from both pieces, each computed accurately by the caller."""
    return delta - log_one_plus


def uniform_path_integrand(
    logits: torch.Tensor,
    z: torch.Tensor,
    x: torch.Tensor,
    t: torch.Tensor,
    process: UniformProcess,
    where: torch.Tensor,
) -> torch.Tensor:
    """``(sigma(t)/S) sum_{i in where} sum_{v != z_i} f(r_iv, s_iv)`` float64 ``[B]``, differentiable
    in ``logits [B, L, S]`` (module docstring), for states ``z [B, L]``, clean ``x [B, L]`` and
    times ``t [B]`` (float64, ``t > 0``).

    With ``abar = alpha(t)``, ``c = S abar / (1 - abar)``, ``rho = 1/(1 + c)``, the model's
    ``p = softmax(logits)`` and ``beta = 1 - p_z c rho``, the score is ``s_v = c p_v + beta``
    (``v != z``) and, for ``v`` not in ``{z, x}``:

    * ``x_i = z_i``: ``r = rho``, ``delta_v = c(1+c) p_v + c (1 - p_z)``,
      ``log(1 + delta_v) = log(1 + c) + log(beta) + log1p(c p_v / beta)``;
    * ``x_i != z_i``: ``r = 1``, ``delta_v = c p_v - c rho p_z``,
      ``log(1 + delta_v) = log(beta) + log1p(c p_v / beta)``;

    and at ``v = x != z``: ``r = 1 + c``, ``delta_x = -c rho (1 - p_x + rho p_z)``. ``log(beta)`` is
    ``log1p(-c rho p_z)`` or ``log(1 - p_z + rho p_z)``, whichever has no cancellation. At
    ``abar = 0`` (``sigma = inf``) every ``f`` is 0 and the integrand is 0.
    """
    size = logits.shape[-1]
    dtype = accumulation_dtype(logits)
    f64 = torch.float64
    abar = process.kernel_weight(t)
    c = (size * abar / process.schedule.masked_fraction(t))[:, None]  # [B, 1]
    rho = 1 / (1 + c)
    log_p = log_softmax(logits)
    p = log_p.exp()
    log_p_z, log_p_x = gather_tokens(log_p, z).to(f64), gather_tokens(log_p, x).to(f64)
    p_z, q_z, p_x, q_x = log_p_z.exp(), -torch.expm1(log_p_z), log_p_x.exp(), -torch.expm1(log_p_x)
    same = x == z
    leave = c * rho * p_z  # 1 - beta
    log_beta = torch.where(
        leave < 0.5,
        torch.log1p(-leave.clamp(max=0.5)),
        torch.log((q_z + rho * p_z).clamp_min(_TINY)),
    )
    beta = log_beta.exp()
    slope = torch.where(same, c * (1 + c), c)
    shift = torch.where(same, c * q_z, -c * rho * p_z)
    offset = torch.where(same, torch.log1p(c), 0.0) + log_beta
    ratio = c / beta

    def column(v: torch.Tensor) -> torch.Tensor:
        return v.to(dtype).unsqueeze(-1)

    h = _h(column(slope) * p + column(shift), column(offset) + torch.log1p(column(ratio) * p))
    h = h.scatter(-1, torch.stack([z, x], dim=-1), 0.0)  # v = z is not a move; v = x is added below
    others = h.sum(-1).to(f64)
    delta_x = -c * rho * (q_x + rho * p_z)
    h_x = _h(delta_x, log_beta + torch.log1p(ratio * p_x) - torch.log1p(c))
    per_token = torch.where(same, rho * others, others + (1 + c) * h_x)
    rate = process.schedule.rate(t)
    weight = torch.where(abar > 0, rate, torch.zeros((), dtype=f64, device=rate.device)) / size
    return weight * positive_sum(per_token, where)


def uniform_diffusion_loss(
    model,
    x: torch.Tensor,
    process: UniformProcess,
    generator: torch.Generator | None = None,
    *,
    vocab_size: int | None = None,
    antithetic: bool = True,
    attention_mask: torch.Tensor | None = None,
    cond: Mapping[str, torch.Tensor] | None = None,
    reduction: str = "token",
    t: torch.Tensor | None = None,
) -> LossTerms:
    """The uniform process's continuous-time NELBO of ``x`` under ``model``, one draw per sequence
    (module docstring).

    Args:
        model: a denoiser ``f(z_t [R, L], t [R] float64, **cond) -> logits [R, L, V]`` giving the
            posterior marginals ``p(x_i | z_t)``; called once on ``R = 2B`` rows (the ``B`` path
            states, then the ``B`` reconstruction states at ``t_min``), with ``cond`` repeated.
        x: clean sequences, LongTensor ``[B, L]``, ids ``0..V-1``.
        process: the :class:`~unmask.processes.UniformProcess` (schedule and ``t_min > 0``).
        generator: the ``torch.Generator`` of the times and noise (``None``: the global stream).
        vocab_size: ``V`` (default: ``model.vocab_size``).
        antithetic: one time per stratum of the batch (:func:`.antithetic_times`), else i.i.d.
        attention_mask: bool or 0/1 ``[B, L]``, nonzero at real positions; padding is never
            noised, scored or counted (also not in the prior term).
        cond: more row-aligned keyword arguments ``[B, ...]`` for the model.
        reduction: ``"token"``, ``"sequence"`` or ``"sum"`` (:mod:`.terms`).
        t: explicit path times ``[B]`` in ``[process.t_min, 1]`` instead of drawn ones.

    Returns:
        :class:`LossTerms` with ``nelbo [B]`` and its ``parts``: ``"path"`` (already multiplied by
        ``1 - t_min``), ``"reconstruction"`` and ``"prior"``.
    """
    check_model(model)
    process = check_uniform_process(process)
    check_flag("antithetic", antithetic)
    reduction = check_reduction(reduction)
    generator = check_generator(generator)
    vocab_size = resolve_vocab_size(model, vocab_size)
    x, real, tokens = check_batch(x, vocab_size, attention_mask)
    kwargs = check_cond(cond, len(x), x.device, attention_mask, model, "the model")
    t_min, batch = process.t_min, len(x)
    if t is None:
        t = draw_times(batch, generator, x.device, antithetic=antithetic, t_min=t_min, t_max=1.0)
    else:
        t = check_times(t, batch, x.device, t_min, 1.0)
    t_end = torch.full_like(t, t_min)
    z = noised(process, x, real, t, vocab_size, generator)
    z_end = noised(process, x, real, t_end, vocab_size, generator)
    doubled = {name: torch.cat([value, value]) for name, value in kwargs.items()}
    logits = call(model, torch.cat([z, z_end]), torch.cat([t, t_end]), doubled)
    check_logits_shape(logits, 2 * batch, x.shape[1], vocab_size)
    path = (1 - t_min) * uniform_path_integrand(logits[:batch], z, x, t, process, real)
    reconstruction = positive_sum(-token_log_probs(logits[batch:], x), real)
    prior = prior_kl(process, tokens, vocab_size)
    nelbo = path + reconstruction + prior
    parts = {"path": path, "reconstruction": reconstruction, "prior": prior}
    return LossTerms.build(nelbo, tokens, reduction, t=t, parts=parts)
