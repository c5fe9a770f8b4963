"""Per-token log-probabilities of target ids under a model's logits, for training.

``token_log_probs(logits [B, L, V], tokens [B, L]) = log softmax(logits)[b, i, tokens[b, i]]``
``[B, L]``. The softmax runs in float32 for float32, bf16 and fp16 logits (float32 accumulation of
the log-normaliser; torch reads bf16 input without a separate float32 copy on accelerators) and in
float64 only for float64 logits (exact denoisers): no float64 ``[B, L, V]`` tensor is made from
lower-precision logits. The result is differentiable in the logits.
"""

from __future__ import annotations

import torch


def accumulation_dtype(logits: torch.Tensor) -> torch.dtype:
    """float64 for float64 logits, float32 otherwise."""
    return torch.float64 if logits.dtype == torch.float64 else torch.float32


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)`` over the last axis in :func:`accumulation_dtype` ``[B, L, V]``."""
    return torch.log_softmax(logits, dim=-1, dtype=accumulation_dtype(logits))


def gather_tokens(values: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``values[b, i, tokens[b, i]]`` ``[B, L]`` (ids clamped to ``0..V-1``, so that a position
    whose id is out of range, never read by the caller, cannot fail the gather)."""
    index = tokens.clamp(0, values.shape[-1] - 1).unsqueeze(-1)
    return values.gather(-1, index).squeeze(-1)


def token_log_probs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``log p(tokens[b, i])`` ``[B, L]`` (float32, or float64 for float64 logits) under the
    per-position laws ``softmax(logits [B, L, V])``; ``-inf`` where a logit is ``-inf``."""
    return gather_tokens(log_softmax(logits), tokens)


def positive_sum(values: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """``sum_{i: where[b, i]} values[b, i]`` float64 ``[B]``: positions outside ``where`` add
    nothing, even where ``values`` is infinite, and pass no gradient."""
    return torch.where(where, values.to(torch.float64), 0.0).sum(-1)


def weighted(weight: torch.Tensor, total: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """``weight * total`` ``[B]`` where ``active`` and 0 elsewhere, with the weight zeroed first
    outside ``active``: an infinite weight on an empty sum (the hazard at ``t = 0`` with no masked
    position) gives 0 and a zero gradient, never ``inf * 0 = NaN``."""
    safe = torch.where(active, weight, torch.zeros((), dtype=weight.dtype, device=weight.device))
    return safe * total
