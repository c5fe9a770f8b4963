"""Suppression, temperature, top-k and top-p on the clean-token logits ``[B, L, V]``.

Applied in this order, per position, on logits in their own dtype (float32 where a sort and a
cumulative sum need it), vectorised over positions:

1. **suppression**: ``logit_v = -inf`` for the suppressed columns ``v`` (special tokens; never every
   column, :mod:`.special_tokens`);
2. **temperature** ``T > 0``: ``logits / T``, the law ``p_v^(1/T) / sum_w p_w^(1/T)``;
3. **top-k**: ``-inf`` below the ``k``-th largest logit (ties with it are kept, so ``k = 1`` keeps the
   argmax and any token tied with it);
4. **top-p** (nucleus): with the probabilities ``p`` of the logits after steps 1-3 sorted in
   decreasing order, keep the sorted tokens whose mass *before* them is below ``p``: the smallest
   prefix with mass ``>= p`` (ties with its last logit are kept). The sort runs on float32 copies
   a bounded number of positions at a time (:func:`unmask.pieces.slices`).

The most probable token always survives, so a position never loses every token.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import torch

from .. import checks
from ..pieces import slices

NEG_INF = float("-inf")


def _temperature(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"temperature must be a number > 0, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"temperature must be a finite number > 0, got {value}; for greedy choices use top_k=1"
        )
    return value


def _top_p(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"top_p must be a number in (0, 1] or None, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not (0 < value <= 1):
        raise ValueError(
            f"top_p must lie in (0, 1] (the probability mass kept), got {value}; use None to keep every token"
        )
    return value


@dataclass(frozen=True)
class LogitsProcessing:
    """Temperature, top-k and top-p of the clean-token law (module docstring), checked on creation.

    Attributes:
        temperature: ``T > 0`` (1 leaves the law unchanged).
        top_k: keep the ``k >= 1`` largest logits per position (None: all).
        top_p: keep the smallest most-probable set of mass ``>= top_p``, ``0 < top_p <= 1`` (None or
            1: all).
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "temperature", _temperature(self.temperature))
        if self.top_k is not None:
            object.__setattr__(self, "top_k", checks.positive_int("top_k", self.top_k))
        object.__setattr__(self, "top_p", _top_p(self.top_p))

    @property
    def identity(self) -> bool:
        """Whether these options leave every law unchanged."""
        return self.temperature == 1.0 and self.top_k is None and (self.top_p is None or self.top_p == 1.0)

    def __call__(self, logits: torch.Tensor, suppressed: torch.Tensor | None = None) -> torch.Tensor:
        """Processed logits ``[..., V]`` in ``logits``' dtype. ``suppressed`` (bool ``[V]`` on the
        logits' device) marks the columns set to ``-inf``. Works in place on ``logits`` unless
        they carry gradients."""
        in_place = not (logits.requires_grad and torch.is_grad_enabled())
        if suppressed is not None:
            logits = (
                logits.masked_fill_(suppressed, NEG_INF)
                if in_place
                else logits.masked_fill(suppressed, NEG_INF)
            )
        if self.temperature != 1.0:
            logits = logits.div_(self.temperature) if in_place else logits / self.temperature
        if self.top_k is not None and self.top_k < logits.shape[-1]:
            kth = logits.topk(self.top_k, dim=-1).values[..., -1:]
            below = logits < kth
            logits = logits.masked_fill_(below, NEG_INF) if in_place else logits.masked_fill(below, NEG_INF)
        if self.top_p is not None and self.top_p < 1.0:
            logits = nucleus(logits, self.top_p, in_place)
        return logits


def nucleus(logits: torch.Tensor, top_p: float, in_place: bool = False) -> torch.Tensor:
    """``logits [..., V]`` with ``-inf`` outside each position's nucleus: the sorted tokens whose
    preceding mass (float32 softmax and cumulative sum in decreasing order; float64 for float64
    logits) is below ``top_p``.

    Positions are processed a bounded number at a time; the threshold is the smallest kept logit,
    so ties with it are kept."""
    width = logits.shape[-1]
    flat = logits.reshape(-1, width)
    work = torch.float64 if logits.dtype == torch.float64 else torch.float32
    threshold = torch.empty(flat.shape[0], 1, dtype=work, device=logits.device)
    for piece in slices(flat.shape[0], width, weight=3):
        values = flat[piece].detach().to(work).sort(dim=-1, descending=True).values
        probs = torch.softmax(values, dim=-1)
        before = probs.cumsum(-1) - probs
        kept = (before < top_p).sum(-1, keepdim=True).clamp(min=1)
        threshold[piece] = values.gather(-1, kept - 1)
    # The threshold is one of the logits (float32 holds bf16 and fp16 values exactly), so it
    # converts back to their dtype exactly.
    outside = logits.detach() < threshold.to(logits.dtype).reshape(*logits.shape[:-1], 1)
    return logits.masked_fill_(outside, NEG_INF) if in_place else logits.masked_fill(outside, NEG_INF)
