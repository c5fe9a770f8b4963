"""Rotary position embeddings (RoPE; Su et al. 2021), applied to queries and keys.

Pair ``k`` of a head vector (entries ``k`` and ``k + D/2``, the "half-split" layout) at position
``m`` is rotated by the angle ``m * theta_k`` with ``theta_k = base^(-2k/D)``. A rotation by
``m`` followed by one by ``-n`` is one by ``m - n``, so ``<R_m q, R_n k> = <q, R_(n-m) k>``:
attention scores depend on positions only through their offset.
"""

from __future__ import annotations

import torch
from torch import nn

#: The base of the rotary frequencies (RoFormer, LLaMA, GPT-NeoX).
ROPE_BASE = 10000.0


class Rotary(nn.Module):
    """Rotations of head vectors of dimension ``head_dim`` (even) at positions ``0 .. length - 1``.

    The tables ``cos, sin [length, head_dim / 2]`` are float32 buffers on the default device, not
    saved in the state dict (they are recomputed from the config); on the meta device they are
    left without values, like the weights.
    """

    def __init__(self, head_dim: int, length: int, base: float = ROPE_BASE):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"head_dim must be even (rotary embeddings rotate pairs), got {head_dim}")
        self.head_dim = head_dim
        self.length = length
        self.base = base
        self.register_buffer("cos", torch.empty(length, head_dim // 2), persistent=False)
        self.register_buffer("sin", torch.empty(length, head_dim // 2), persistent=False)
        if not self.cos.is_meta:
            self.reset_tables()

    @torch.no_grad()
    def reset_tables(self) -> None:
        """Compute the tables into the buffers where they are (a loader that built the module on
        the meta device calls it once the buffers have storage)."""
        # Computed in float64 on the CPU (exact angles at long lengths), then stored.
        pairs = torch.arange(0, self.head_dim // 2, dtype=torch.float64, device="cpu")
        frequencies = self.base ** (-2 * pairs / self.head_dim)
        angles = torch.arange(self.length, dtype=torch.float64, device="cpu")[:, None] * frequencies
        self.cos.copy_(angles.cos())
        self.sin.copy_(angles.sin())

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """``x [B, H, n, head_dim]`` rotated by the angles of ``positions``: LongTensor ``[n]``
        (every row) or ``[B, n]`` (one per row), in ``0 .. length - 1``; ``0 .. n - 1`` when None.
        Computed in float32, returned in ``x``'s dtype."""
        n = x.shape[-2]
        if positions is None:
            cos, sin = self.cos[:n], self.sin[:n]
        else:
            cos, sin = self.cos[positions], self.sin[positions]
            if positions.dim() == 2:
                cos, sin = cos[:, None], sin[:, None]  # broadcast over the heads
        half = self.head_dim // 2
        x1, x2 = x[..., :half].float(), x[..., half:].float()
        rotated = torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
        return rotated.to(x.dtype)
