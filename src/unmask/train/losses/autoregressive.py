"""The autoregressive training loss: next-token cross-entropy, per sequence.

``model(x [B, L], **cond) -> logits [B, L, V]`` with output ``i`` the law of ``x_i`` given the
prefix ``x_{<i}`` (how the model sees the prefix, a BOS token included, is its own business). Then

    ``nelbo[b] = sum_{i real} -log softmax(logits[b, i])[x_{b, i}]``

is the exact negative log-likelihood of the sequence in nats (field ``nelbo`` for a uniform
record with the diffusion losses; here the bound is tight), over ``tokens[b]`` real positions.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ...denoisers import check_logits_shape
from .inputs import (
    check_batch,
    check_cond,
    check_model,
    check_vocabulary_range,
    resolve_vocab_size,
)
from .scoring import positive_sum, token_log_probs
from .terms import LossTerms, check_reduction


def autoregressive_loss(
    model,
    x: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    *,
    vocab_size: int | None = None,
    cond: Mapping[str, torch.Tensor] | None = None,
    reduction: str = "token",
) -> LossTerms:
    """Next-token cross-entropy of ``x`` under ``model`` (module docstring).

    Args:
        model: ``model(x [B, L], **cond) -> logits [B, L, V]``, output ``i`` predicting ``x_i``.
        x: LongTensor ``[B, L]`` of ids ``0..V-1``.
        attention_mask: bool or 0/1 ``[B, L]``, nonzero at real positions (padding is not scored
            nor counted); passed to the model as a bool ``attention_mask=``.
        vocab_size: ``V`` (default: ``model.vocab_size``, else the last dimension of the logits,
            in which case ids at or above it are reported after the model call).
        cond: more row-aligned keyword arguments ``[B, ...]`` for the model.
        reduction: ``"token"``, ``"sequence"`` or ``"sum"`` (:mod:`.terms`).

    Returns:
        :class:`LossTerms` with ``nelbo [B]`` (exact NLL, nats per sequence) and ``tokens [B]``.
    """
    check_model(model, signature="f(x, **cond) -> logits")
    reduction = check_reduction(reduction)
    vocab_size = resolve_vocab_size(model, vocab_size, required=False)
    x, real, tokens = check_batch(x, vocab_size, attention_mask)
    kwargs = check_cond(cond, len(x), x.device, attention_mask, model, "the model")
    logits = model(x, **kwargs)
    if vocab_size is None:
        if not torch.is_tensor(logits) or logits.dim() != 3:
            got = tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
            raise ValueError(f"the model must return logits [B, L, V], got {got}")
        vocab_size = logits.shape[-1]
        check_vocabulary_range(x, vocab_size)
    check_logits_shape(logits, *x.shape, vocab_size)
    nelbo = positive_sum(-token_log_probs(logits, x), real)
    return LossTerms.build(nelbo, tokens, reduction)
