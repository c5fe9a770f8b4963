"""Multi-head attention with rotary positions, by ``scaled_dot_product_attention``.

Which key a query may read is given either by ``is_causal`` (query ``i`` reads keys ``j <= i``) or
by a boolean ``allowed [B, 1, Lq, Lk]`` (True: may read), never both. :func:`self_attention_mask`
builds the self-attention pattern from a key padding mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .rotary import Rotary


def self_attention_mask(real: torch.Tensor | None, causal: bool) -> tuple[torch.Tensor | None, bool]:
    """The ``(allowed, is_causal)`` pair of self-attention over a sequence whose real positions
    are ``real [B, L]`` (bool; None: every position is real).

    Query ``i`` reads key ``j`` when ``j`` is real (and ``j <= i`` if ``causal``), and always reads
    itself: a query whose keys are all padding (a fully padded row, a padded first position under
    a causal mask) then has one key, so no softmax row is empty (no NaN), while a real query never
    reads a padded key. Without padding the pair is ``(None, causal)`` (the fast kernels).
    """
    if real is None:
        return None, causal
    length = real.shape[-1]
    eye = torch.eye(length, dtype=torch.bool, device=real.device)
    allowed = real[:, None, :].expand(-1, length, -1)
    if causal:
        allowed = allowed & torch.ones_like(eye).tril()
    return (allowed | eye).unsqueeze(1), False


class Attention(nn.Module):
    """Multi-head attention of queries from ``x [B, Lq, d]`` over keys and values from ``source
    [B, Lk, d]`` (``x`` itself by default), with rotary positions ``positions`` for the queries
    and ``source_positions`` for the keys (``[n]`` or ``[B, n]``, see :class:`Rotary`; by default
    ``0 .. Lq - 1``, and for the keys the queries' positions when ``source`` is ``x``, else
    ``0 .. Lk - 1``).

    ``out = W_o concat_h softmax(q_h k_h^T / sqrt(D) + mask) v_h``, with ``q = R W_q x``,
    ``k = R W_k source``, ``v = W_v source`` (no biases).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float, rotary: Rotary):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.dropout = dropout
        self.rotary = rotary
        self.query = nn.Linear(d_model, d_model, bias=False)
        self.key_value = nn.Linear(d_model, 2 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        allowed: torch.Tensor | None = None,
        is_causal: bool = False,
        positions: torch.Tensor | None = None,
        source: torch.Tensor | None = None,
        source_positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``[B, Lq, d]``; ``allowed [B or 1, 1, Lq, Lk]`` bool or ``is_causal`` (module docstring)."""
        if allowed is not None and is_causal:
            raise ValueError("give either allowed or is_causal=True, not both (allowed holds the pattern)")
        if source is None:
            source, source_positions = x, positions
        batch, n_query, d_model = x.shape
        n_key = source.shape[1]
        q = self.query(x).view(batch, n_query, self.n_heads, self.head_dim).transpose(1, 2)
        kv = self.key_value(source).view(batch, n_key, 2, self.n_heads, self.head_dim)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)
        q = self.rotary(q, positions)
        k = self.rotary(k, source_positions)
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=allowed,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=is_causal,
        )
        return self.out(out.transpose(1, 2).reshape(batch, n_query, d_model))
