"""Small models and helpers for the loss tests: tiny torch modules that follow the denoiser
contract, a tempered version of an exact denoiser, and Monte-Carlo means with standard errors."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

#: |estimate - exact| <= Z_LIMIT standard errors (two-sided 6e-7 per comparison under a normal law;
#: the draws have fixed seeds, so a pass or a failure is reproducible).
Z_LIMIT = 5.0


class TinyDenoiser(nn.Module):
    """``f(z [B, L], t [B]) -> logits [B, L, V]``: an embedding of ``V + 1`` ids (the mask included)
    plus the mean embedding of the row and a time feature, through a linear layer. Every output
    sees every input, so the positions interact."""

    def __init__(self, vocab_size: int, length: int, width: int = 8, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size + 1, width, dtype=dtype)
        self.position = nn.Parameter(0.1 * torch.randn(length, width, dtype=dtype))
        self.time = nn.Linear(1, width, dtype=dtype)
        self.out = nn.Linear(width, vocab_size, dtype=dtype)

    def features(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        dtype = self.out.weight.dtype
        time = self.time(t.to(dtype)[:, None])[:, None, :]
        return self.embed(z) + self.position + time

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = self.features(z, t)
        return self.out(torch.tanh(h + h.mean(1, keepdim=True)))


class TinyHollow(TinyDenoiser):
    """A hollow model: output ``i`` sees the mean embedding of the other positions only, so
    ``loo(z, t)`` is its output and it agrees with ``forward`` at masked positions."""

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.loo(z, t)

    def loo(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = self.features(z, t)
        others = (h.sum(1, keepdim=True) - h) / max(z.shape[1] - 1, 1)
        own = self.position + self.time(t.to(h.dtype)[:, None])[:, None, :]
        return self.out(torch.tanh(others + own))


class TinyAutoregressive(nn.Module):
    """``model(x [B, L]) -> logits [B, L, V]``: output ``i`` reads a learned start vector and the
    mean embedding of ``x_{<i}`` (strictly the prefix)."""

    def __init__(self, vocab_size: int, width: int = 8):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, width)
        self.start = nn.Parameter(0.1 * torch.randn(width))
        self.out = nn.Linear(width, vocab_size)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        e = self.embed(x)
        prefix = torch.cumsum(e, 1) - e  # sum over j < i
        count = torch.arange(x.shape[1], device=x.device).clamp(min=1)[None, :, None]
        return self.out(torch.tanh(self.start + prefix / count))


class Tempered:
    """An exact masked denoiser with every logit divided by ``temperature``: a time-agnostic model
    whose ``loo`` agrees with its conditionals, but with the wrong laws."""

    time_agnostic = True

    def __init__(self, denoiser, temperature: float):
        self.denoiser = denoiser
        self.vocab_size = denoiser.vocab_size
        self.temperature = temperature

    def __call__(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.denoiser(z, t) / self.temperature

    def loo(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.denoiser.loo(z, t) / self.temperature


def all_sequences(vocab_size: int, length: int) -> torch.Tensor:
    """Every sequence ``[V^L, L]`` in row-major order."""
    grids = torch.meshgrid(*[torch.arange(vocab_size)] * length, indexing="ij")
    return torch.stack([g.reshape(-1) for g in grids], dim=-1)


def spread_of_support(target, count: int = 4) -> torch.Tensor:
    """``count`` sequences of positive probability from the most likely to the least likely one
    (evenly spaced in the ranking): easy and hard cases for an estimator."""
    x = all_sequences(target.vocab_size, target.length)
    log_p = target.log_prob(x)
    order = log_p.argsort(descending=True)
    order = order[log_p[order] > -math.inf]
    picks = torch.linspace(0, len(order) - 1, count).round().long()
    return x[order[picks]]


def monte_carlo(
    run: Callable[[], torch.Tensor], x: torch.Tensor, calls: int, copies: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard error ``[n]`` per sequence of ``x [n, L]``, from ``calls`` independent
    calls of ``run(rows) -> values [copies * n]`` on ``x`` repeated ``copies`` times (interleaved,
    so that antithetic times spread over every sequence); the error comes from the spread of the
    per-call means, which are i.i.d. even when the rows of one call are not."""
    rows = x.repeat(copies, 1)
    means = torch.stack([run(rows).detach().reshape(copies, len(x)).mean(0) for _ in range(calls)])
    return means.mean(0), means.std(0) / math.sqrt(calls)
