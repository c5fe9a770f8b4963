"""The HollowDiff training loss ``L_HD = (L_masked + L_unmasked) / 2`` (spec §2.6).

A hollow model's ``loo(z, t)`` gives at every position ``i`` the law of ``x_i`` given ``z`` with
position ``i`` masked (its output ``i`` never sees input ``i``). At a masked position that is the
ordinary conditional, so one ``loo`` call scores both terms of one forward draw ``z_t``:

* ``L_masked = int lambda(t) E[ sum_{i in M(z_t)} -log p_theta(x_i | z_t) ] dt`` (MDLM, :mod:`.masked`);
* ``L_unmasked = int (alpha'(t)/alpha(t)) E[ sum_{i in U(z_t)} log p_theta(x_i | mask_i(z_t)) ] dt``
  ``= int sigma(t) E[ sum_{i in U(z_t)} -log p_theta(x_i | mask_i(z_t)) ] dt`` with
  ``sigma = -alpha'/alpha >= 0``.

One draw per row: ``t ~ U(t_min, 1 - t_min)`` (antithetic by default), masks as in :mod:`.masked`,
and ``nelbo = (L_masked + L_unmasked) / 2`` with each term ``(1 - 2 t_min) x weight x sum``. The
time is clipped at both ends: ``lambda ~ 1/t`` near 0 and ``sigma ~ 1/(1 - t)`` near 1 (linear
schedule) would each give an infinite variance.

What ``L_unmasked`` equals: substituting ``a = alpha(t)``, a position is unmasked with probability
``a`` and the others form an independent ``Bernoulli(a)`` context ``A``, so

    ``L_unmasked = sum_i int_0^1 E_{A ~ Bernoulli(a)^{L-1}} [ -log p_theta(x_i | x_A) ] da``
    ``= sum_i sum_{A not containing i} -log p_theta(x_i | x_A) / (L C(L-1, |A|))``,

independent of the schedule (given ``alpha(0) = 1``, ``alpha(1) = 0``). That is the any-order
chain rule averaged over orders: **with exact conditionals ``L_unmasked = -log pi(x)``**, as
``L_masked`` is; and for any time-agnostic model whose ``loo`` agrees with its conditionals,
``E[L_unmasked] = E[L_masked] = E_sigma[-log q_sigma(x)]`` (the model's any-order autoregressive
losses), whose average over ``x ~ pi`` is at least the entropy ``H(pi)``, with equality only for the
exact conditionals: the exact model minimises both terms. The clip costs a bias of order
``t_min`` (downward), as in :mod:`.masked`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ...denoisers import call, check_logits_shape
from ...schedules import Schedule
from .inputs import (
    check_model,
)
from .masked import prepare_masked
from .scoring import positive_sum, token_log_probs, weighted
from .terms import LossTerms
from .times import DEFAULT_T_MIN


def hollow_loss(
    model,
    x: torch.Tensor,
    schedule: Schedule,
    generator: torch.Generator | None = None,
    *,
    vocab_size: int | None = None,
    antithetic: bool = True,
    t_min: float = DEFAULT_T_MIN,
    attention_mask: torch.Tensor | None = None,
    cond: Mapping[str, torch.Tensor] | None = None,
    reduction: str = "token",
    t: torch.Tensor | None = None,
    masked: torch.Tensor | None = None,
) -> LossTerms:
    """HollowDiff's ``(L_masked + L_unmasked) / 2`` of ``x`` under a hollow ``model``, one draw per
    sequence (module docstring).

    Args:
        model: a denoiser with ``loo(z_t [B, L], t [B] float64, **cond) -> logits [B, L, V]``, the
            leave-one-out conditionals; only ``loo`` is called (once per loss).
        t_min: clip of the times at both ends, in ``(0, 0.5)``: ``t ~ U(t_min, 1 - t_min)``.
        t: explicit times ``[B]`` in ``[0, 1]`` instead of drawn ones; ``t = 0`` (no masked
            position) and ``t = 1`` with ``alpha(1) = 0`` (no unmasked one) give 0 for the empty
            term, never ``inf * 0``.
        masked: with ``t``, an explicit mask pattern bool ``[B, L]`` (as for
            :func:`.masked_diffusion_loss`).
        x, schedule, generator, vocab_size, antithetic, attention_mask, cond, reduction: as for
            :func:`.masked_diffusion_loss`; padding is never masked, scored or counted.

    Returns:
        :class:`LossTerms` with ``nelbo = (masked + unmasked) / 2`` ``[B]`` and both terms in
        ``parts["masked"]`` and ``parts["unmasked"]`` (nats per sequence).
    """
    check_model(model)
    loo = getattr(model, "loo", None)
    if not callable(loo):
        raise TypeError(
            f"model must offer loo(z_t, t, **cond) -> logits (leave-one-out conditionals, a hollow "
            f"model); {type(model).__name__} has no callable loo"
        )
    prepared = prepare_masked(
        model, loo, "the model's loo", x, schedule, generator, vocab_size=vocab_size,
        antithetic=antithetic, t_min=t_min, t_max=None, t_high=0.5, attention_mask=attention_mask,
        cond=cond, reduction=reduction, t=t, masked=masked,
    )  # fmt: skip
    schedule, t_min, reduction, vocab_size, x, real, tokens, kwargs, draw = prepared
    logits = check_logits_shape(call(loo, draw.z, draw.t, kwargs), *x.shape, vocab_size)
    nll = -token_log_probs(logits, x)
    unmasked = real & ~draw.masked
    span = 1 - 2 * t_min
    masked_sum, unmasked_sum = positive_sum(nll, draw.masked), positive_sum(nll, unmasked)
    masked_term = weighted(span * schedule.hazard(draw.t), masked_sum, draw.masked.any(-1))
    unmasked_term = weighted(span * schedule.rate(draw.t), unmasked_sum, unmasked.any(-1))
    nelbo = (masked_term + unmasked_term) / 2
    parts = {"masked": masked_term, "unmasked": unmasked_term}
    return LossTerms.build(nelbo, tokens, reduction, t=draw.t, parts=parts)
