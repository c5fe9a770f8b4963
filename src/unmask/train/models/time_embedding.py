"""Embedding of the forward time ``t`` for adaLN conditioning (DiT style)."""

from __future__ import annotations

import math

import torch
from torch import nn

#: Sinusoidal features of ``t`` fed to the MLP.
FREQUENCIES = 256
#: ``t in [0, 1]`` is scaled to ``[0, TIME_SCALE]`` before the sinusoids, so that the fastest
#: features turn over many times across the unit interval (as for integer diffusion steps).
TIME_SCALE = 1000.0


def sinusoidal(t: torch.Tensor, dim: int = FREQUENCIES) -> torch.Tensor:
    """Float32 features ``[B, dim]`` of times ``t [B]``: ``[cos(s w_k), sin(s w_k)]`` with
    ``s = TIME_SCALE * t`` and ``w_k = 10000^(-k / (dim / 2))``, ``k = 0 .. dim/2 - 1``."""
    half = dim // 2
    k = torch.arange(half, dtype=torch.float32, device=t.device)
    frequencies = torch.exp(-math.log(10000.0) * k / half)
    angles = TIME_SCALE * t.float()[:, None] * frequencies[None, :]
    return torch.cat((angles.cos(), angles.sin()), dim=-1)


class TimeEmbedding(nn.Module):
    """``c = W_2 SiLU(W_1 sinusoidal(t) + b_1) + b_2``: ``t [B]`` (any float dtype) to ``[B, d_model]``
    in the dtype of the weights."""

    def __init__(self, d_model: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(FREQUENCIES, d_model), nn.SiLU(), nn.Linear(d_model, d_model))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        features = sinusoidal(t).to(self.mlp[0].weight.dtype)
        return self.mlp(features)
