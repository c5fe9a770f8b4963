"""The record every training loss returns, and the reductions of per-sequence losses to a scalar.

A loss estimates, per sequence ``b``, a number of nats ``nelbo[b]`` (a NELBO for the diffusion
losses, the exact negative log-likelihood for the autoregressive one) over ``tokens[b]`` real
(non-padding) positions. The scalar to call ``backward()`` on is one of

=============  =====================================================  ============================
reduction      ``loss``                                               unit
=============  =====================================================  ============================
``"token"``    ``sum_b nelbo[b] / sum_b tokens[b]``                   nats per real token
``"sequence"`` ``mean_b nelbo[b]``                                    nats per sequence
``"sum"``      ``sum_b nelbo[b]``                                     nats per batch
=============  =====================================================  ============================

``"token"`` (the default) is MDLM's normalisation: its value does not grow with the sequence
length, and for the same batch ``bits_per_token = loss / ln 2``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import torch

#: The reductions of :func:`reduce_nelbo`, by name.
REDUCTIONS = ("token", "sequence", "sum")

LN2 = math.log(2.0)


def check_reduction(reduction: object) -> str:
    """``reduction`` if it is one of :data:`REDUCTIONS`, else a ``ValueError`` naming them."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"reduction must be one of {', '.join(repr(r) for r in REDUCTIONS)}, got {reduction!r}"
        )
    return reduction


def reduce_nelbo(nelbo: torch.Tensor, tokens: torch.Tensor, reduction: str) -> torch.Tensor:
    """The scalar ``loss`` of per-sequence nats ``nelbo [B]`` over ``tokens [B]`` real positions
    (module docstring); it carries the gradients of ``nelbo``."""
    if reduction == "token":
        return nelbo.sum() / tokens.sum().to(nelbo.dtype)
    if reduction == "sequence":
        return nelbo.mean()
    return nelbo.sum()


@dataclass(frozen=True)
class LossTerms:
    """What a training loss returns.

    Attributes:
        loss: scalar float64 tensor with gradients: ``nelbo`` reduced as ``reduction`` says (module
            docstring); call ``loss.backward()``.
        nelbo: float64 ``[B]``, nats per sequence: the one-draw Monte-Carlo estimate of the NELBO
            (diffusion losses) or the exact negative log-likelihood (autoregressive); it carries
            gradients too.
        tokens: LongTensor ``[B]``, real (non-padding) positions per sequence.
        reduction: ``"token"``, ``"sequence"`` or ``"sum"``.
        t: float64 ``[B]``, the forward time of each row's draw (``None`` without one).
        parts: the per-sequence components ``[B]`` of ``nelbo``, by name (empty for a loss of one
            term): ``"masked"`` and ``"unmasked"`` (hollow), ``"path"``, ``"reconstruction"`` and
            ``"prior"`` (uniform).
    """

    loss: torch.Tensor
    nelbo: torch.Tensor
    tokens: torch.Tensor
    reduction: str
    t: torch.Tensor | None = None
    parts: Mapping[str, torch.Tensor] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def build(
        cls,
        nelbo: torch.Tensor,
        tokens: torch.Tensor,
        reduction: str,
        t: torch.Tensor | None = None,
        parts: Mapping[str, torch.Tensor] | None = None,
    ) -> LossTerms:
        """The record of per-sequence ``nelbo [B]`` with its reduced ``loss``."""
        return cls(
            loss=reduce_nelbo(nelbo, tokens, reduction),
            nelbo=nelbo,
            tokens=tokens,
            reduction=reduction,
            t=t,
            parts=MappingProxyType(dict(parts or {})),
        )

    @property
    def bits_per_token(self) -> torch.Tensor:
        """``sum_b nelbo[b] / (sum_b tokens[b] ln 2)``: bits per real token over the batch, a
        detached float64 scalar (what a trainer reports; the mean of many batches' values, weighted
        by their token counts, estimates the data set's bits per token)."""
        nelbo = self.nelbo.detach()
        return nelbo.sum() / (self.tokens.sum().to(nelbo.dtype) * LN2)
