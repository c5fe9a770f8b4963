"""The masked-diffusion training loss: MDLM's continuous-time NELBO, one draw per sequence.

Spec §1.4: for a schedule ``alpha(t)`` with hazard ``lambda(t) = -alpha'(t) / (1 - alpha(t))``,

    ``L(x) = int_0^1 lambda(t) E_{z_t ~ q_t(.|x)} [ sum_{i in M(z_t)} -log p_theta(x_i | z_t) ] dt``.

One draw per row ``b``: ``t ~ U(t_min, 1)`` (antithetic over the batch by default, :mod:`.times`),
each real position masked independently with probability ``1 - alpha(t)``, and

    ``nelbo[b] = (1 - t_min) lambda(t) sum_{i masked} -log softmax(f(z_t, t))[x_i]``,

an unbiased estimate of the integral over ``[t_min, 1]``. With exact conditionals ``L(x) =
-log pi(x)`` under any schedule with ``alpha(0) = 1`` and ``alpha(1) = 0``; the clip misses
``int_0^{t_min}``, a downward bias of about ``(1 - alpha(t_min)) sum_i -log pi(x_i | x_{-i})``
(``1e-3`` of the leave-one-out losses at the default ``t_min`` with the linear schedule), and
keeps the variance finite (without the clip it is infinite, spec §8). A schedule with
``alpha(1) > 0`` (log-linear, geometric) leaves the prior term out: the value is then not a bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch

from ...denoisers import call, check_logits_shape
from ...likelihood.masks import bernoulli_masks
from ...schedules import Schedule
from .inputs import (
    check_batch,
    check_cond,
    check_flag,
    check_generator,
    check_model,
    check_schedule,
    check_t_min,
    check_times,
    resolve_vocab_size,
)
from .scoring import positive_sum, token_log_probs, weighted
from .terms import LossTerms, check_reduction
from .times import DEFAULT_T_MIN, draw_times


class MaskedDraw(NamedTuple):
    """One forward draw per row: ``t`` float64 ``[B]``, ``masked`` bool ``[B, L]`` and the partial
    state ``z`` LongTensor ``[B, L]`` (``x`` with the mask id ``V`` at masked positions)."""

    t: torch.Tensor
    masked: torch.Tensor
    z: torch.Tensor


def draw_masked(
    x: torch.Tensor,
    real: torch.Tensor,
    schedule: Schedule,
    vocab_size: int,
    generator: torch.Generator | None,
    *,
    t: torch.Tensor | None,
    antithetic: bool,
    t_min: float,
    t_max: float,
    masked: torch.Tensor | None = None,
) -> MaskedDraw:
    """Times (``t`` when given, else drawn on ``[t_min, t_max]``) and then masks: each ``real``
    position masked with probability ``1 - alpha(t)`` (or the given ``masked``, with ``t``);
    padding is never masked."""
    if masked is not None:
        if t is None:
            raise ValueError("masked (an explicit mask pattern) needs the times t it was drawn at")
        if masked.dtype != torch.bool or masked.shape != x.shape or masked.device != x.device:
            raise ValueError(
                f"masked must be a bool tensor shaped like x {tuple(x.shape)} on {x.device}, got "
                f"{masked.dtype} {tuple(masked.shape)} on {masked.device}"
            )
        masked = masked & real
        return MaskedDraw(t, masked, torch.where(masked, vocab_size, x))
    if t is None:
        t = draw_times(len(x), generator, x.device, antithetic=antithetic, t_min=t_min, t_max=t_max)
    masked = bernoulli_masks(real, schedule.masked_fraction(t), generator)
    return MaskedDraw(t, masked, torch.where(masked, vocab_size, x))


class PreparedMasked(NamedTuple):
    """The checked inputs of a masked-draw loss and its draw (:func:`prepare_masked`)."""

    schedule: Schedule
    t_min: float
    reduction: str
    vocab_size: int
    x: torch.Tensor
    real: torch.Tensor
    tokens: torch.Tensor
    kwargs: dict
    draw: MaskedDraw


def prepare_masked(
    model,
    callee,
    what: str,
    x: torch.Tensor,
    schedule: Schedule,
    generator: torch.Generator | None,
    *,
    vocab_size: int | None,
    antithetic: bool,
    t_min: float,
    t_max: float | None,
    t_high: float,
    attention_mask: torch.Tensor | None,
    cond: Mapping[str, torch.Tensor] | None,
    reduction: str,
    t: torch.Tensor | None,
    masked: torch.Tensor | None,
) -> PreparedMasked:
    """Every check of the losses that draw mask patterns (the masked and hollow losses), before
    any work, then the draw: times on ``[t_min, t_max]`` (``t_max`` None: ``1 - t_min``;
    ``t_min`` below ``t_high``) and masks, or the given ``t`` and ``masked``. ``callee`` is what
    the loss calls (the model or its ``loo``), named ``what`` in errors about ``cond``."""
    schedule = check_schedule(schedule)
    t_min = check_t_min(t_min, high=t_high)
    check_flag("antithetic", antithetic)
    reduction = check_reduction(reduction)
    generator = check_generator(generator)
    vocab_size = resolve_vocab_size(model, vocab_size)
    x, real, tokens = check_batch(x, vocab_size, attention_mask)
    kwargs = check_cond(cond, len(x), x.device, attention_mask, callee, what)
    if t is not None:
        t = check_times(t, len(x), x.device, 0.0, 1.0)
    draw = draw_masked(
        x, real, schedule, vocab_size, generator, t=t, antithetic=antithetic, t_min=t_min,
        t_max=1 - t_min if t_max is None else t_max, masked=masked,
    )  # fmt: skip
    return PreparedMasked(schedule, t_min, reduction, vocab_size, x, real, tokens, kwargs, draw)


def masked_diffusion_loss(
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
    """MDLM's continuous-time NELBO of ``x`` under ``model``, one draw per sequence (module docstring).

    Args:
        model: a denoiser ``f(z_t [B, L], t [B] float64, **cond) -> logits [B, L, V]`` (any dtype);
            only the logits at masked positions are read, so carry-over does not matter.
        x: clean sequences, LongTensor ``[B, L]`` with ids ``0..V-1`` (the mask id ``V`` is refused).
        schedule: the masking schedule (:mod:`unmask.schedules`).
        generator: the ``torch.Generator`` of the times and masks (``None``: torch's global stream).
        vocab_size: ``V`` (default: ``model.vocab_size``); the mask id is ``V``.
        antithetic: one time per stratum of the batch (:func:`.antithetic_times`), else i.i.d.
        t_min: smallest time drawn, in ``(0, 1)`` (module docstring for the bias it costs).
        attention_mask: bool or 0/1 ``[B, L]``, nonzero at real positions. Padding is never masked
            or scored and is not counted in ``tokens``; the model receives the bool mask as
            ``attention_mask=``.
        cond: more row-aligned keyword arguments ``[B, ...]`` for the model.
        reduction: ``"token"`` (nats per real token), ``"sequence"`` or ``"sum"`` (:mod:`.terms`).
        t: explicit times ``[B]`` in ``[0, 1]`` instead of drawn ones (tests, custom samplers of
            ``t``); the estimate is the same function of ``t``. ``t = 0`` gives 0 (nothing is
            masked, the infinite hazard is never multiplied).
        masked: with ``t``, an explicit mask pattern bool ``[B, L]`` instead of a drawn one (a
            data-parallel trainer draws the global batch's pattern once and gives each process its
            rows, so that the draws do not depend on the number of processes).

    Returns:
        :class:`LossTerms` with ``nelbo [B]`` (nats per sequence), ``tokens [B]``, ``t [B]`` and
        the reduced ``loss``.
    """
    check_model(model)
    prepared = prepare_masked(
        model, model, "the model", x, schedule, generator, vocab_size=vocab_size, antithetic=antithetic,
        t_min=t_min, t_max=1.0, t_high=1.0, attention_mask=attention_mask, cond=cond, reduction=reduction,
        t=t, masked=masked,
    )  # fmt: skip
    schedule, t_min, reduction, vocab_size, x, _, tokens, kwargs, draw = prepared
    logits = check_logits_shape(call(model, draw.z, draw.t, kwargs), *x.shape, vocab_size)
    total = positive_sum(-token_log_probs(logits, x), draw.masked)
    weight = (1 - t_min) * schedule.hazard(draw.t)
    nelbo = weighted(weight, total, draw.masked.any(-1))
    return LossTerms.build(nelbo, tokens, reduction, t=draw.t)
