"""The pre-norm transformer block, with optional adaLN time conditioning, and a stack of them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import Attention
from .config import ModelConfig
from .rotary import Rotary


class MLP(nn.Module):
    """``W_2 GELU(W_1 x + b_1) + b_2``, ``[..., d] -> [..., d]`` through ``width`` hidden units."""

    def __init__(self, d_model: int, width: int):
        super().__init__()
        self.up = nn.Linear(d_model, width)
        self.down = nn.Linear(width, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    """A pre-norm block on ``x [B, L, d]``:

    ``x <- x + g_a * Attn(LN(x) * (1 + s_a) + b_a)``, then ``x <- x + g_m * MLP(LN(x) * (1 + s_m) + b_m)``,

    where ``(b_a, s_a, g_a, b_m, s_m, g_m) = W SiLU(c) + w`` (adaLN) from the time embedding
    ``c [B, d]`` when the config asks for time conditioning, and ``b = s = 0``, ``g = 1``
    otherwise. ``W`` starts at zero and ``w`` at ``g = 1``: a fresh time-conditioned block is the
    plain block, and learns its dependence on ``t``. Dropout acts on both residual branches.
    """

    def __init__(self, config: ModelConfig, rotary: Rotary):
        super().__init__()
        d = config.d_model
        self.norm_attention = nn.LayerNorm(d)
        self.attention = Attention(d, config.n_heads, config.dropout, rotary)
        self.norm_mlp = nn.LayerNorm(d)
        self.mlp = MLP(d, config.mlp_width)
        self.dropout = nn.Dropout(config.dropout)
        self.modulation = nn.Linear(d, 6 * d) if config.time_conditioning else None

    def reset_residual(self, std: float) -> None:
        """Initialise the projections into the residual stream (normal, ``std``) and the adaLN
        modulation (zero weights; biases giving shift 0, scale 0, gate 1)."""
        nn.init.normal_(self.attention.out.weight, std=std)
        nn.init.normal_(self.mlp.down.weight, std=std)
        nn.init.zeros_(self.mlp.down.bias)
        if self.modulation is not None:
            d = self.modulation.in_features
            nn.init.zeros_(self.modulation.weight)
            with torch.no_grad():
                self.modulation.bias.copy_(torch.tensor([0.0, 0.0, 1.0]).repeat_interleave(d).repeat(2))

    def forward(
        self,
        x: torch.Tensor,
        c: torch.Tensor | None = None,
        allowed: torch.Tensor | None = None,
        is_causal: bool = False,
        positions: torch.Tensor | None = None,
        source: torch.Tensor | None = None,
        source_positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``[B, L, d]``. ``c [B, d]``: the time embedding (required with time conditioning);
        ``allowed``, ``is_causal``, ``positions``, ``source``, ``source_positions``: as for
        :class:`Attention`."""
        attend = (allowed, is_causal, positions, source, source_positions)
        if self.modulation is None:
            a = self.attention(self.norm_attention(x), *attend)
            x = x + self.dropout(a)
            return x + self.dropout(self.mlp(self.norm_mlp(x)))
        if c is None:
            raise ValueError("this block is time-conditioned: pass the time embedding c [B, d]")
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = self.modulation(F.silu(c))[:, None].chunk(6, -1)
        h = self.norm_attention(x) * (1 + scale_a) + shift_a
        x = x + gate_a * self.dropout(self.attention(h, *attend))
        h = self.norm_mlp(x) * (1 + scale_m) + shift_m
        return x + gate_m * self.dropout(self.mlp(h))


class BlockStack(nn.Module):
    """``config.n_layers`` blocks applied in turn to ``h [B, L, d]``, with one shared rotary table."""

    def __init__(self, config: ModelConfig, rotary: Rotary):
        super().__init__()
        self.blocks = nn.ModuleList(Block(config, rotary) for _ in range(config.n_layers))

    def forward(
        self,
        h: torch.Tensor,
        c: torch.Tensor | None = None,
        allowed: torch.Tensor | None = None,
        is_causal: bool = False,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``[B, L, d]``; the arguments as for :meth:`Block.forward` (self-attention)."""
        for block in self.blocks:
            h = block(h, c, allowed, is_causal, positions)
        return h
