"""The step context that draws: random moves from counter-based per-row streams (float64 by default)."""

from __future__ import annotations

import torch

from ..denoisers import CachedDenoiser
from ..processes import Process
from ..streams import RowStreams, choose_subset
from .base import StepContext


class DrawingContext(StepContext):
    """Carries out sampler moves on a batch ``[B, L]``; positions outside ``free`` never change.

    Every move decides first whether a position moves (a Bernoulli in the draw dtype) and only then
    which value it takes (an inverse-CDF draw from the normalised law), as spec §2.0 asks.
    """

    def __init__(
        self,
        process: Process,
        vocab_size: int,
        model: CachedDenoiser,
        streams: RowStreams,
        free: torch.Tensor,
    ):
        self.process = process
        self.vocab_size = vocab_size
        self.model = model
        self.streams = streams
        self.free = free
        self.diagnostics: dict[str, torch.Tensor] = {}

    def denoise(self, z, t):
        active = self.masked(z).any(-1) if self.process.kind == "masked" else None
        return self.model(z, t, active)

    def move(self, z, move_prob, values):
        go = self.masked(z) & self.free & self.streams.bernoulli(move_prob.expand(z.shape))
        return torch.where(go, self.streams.categorical(values), z)

    def choose(self, z, count, values):
        chosen = choose_subset(self.streams.uniform(z.shape[-1]), self.masked(z) & self.free, count)
        return torch.where(chosen, self.streams.categorical(values), z)

    def jump(self, z, law):
        law = law.to(torch.float64)
        current = torch.nn.functional.one_hot(z, self.vocab_size).bool()
        others = law.masked_fill(current, 0.0)
        leave = others.sum(-1) / law.sum(-1)
        go = self.free & self.streams.bernoulli(leave)
        return torch.where(go, self.streams.categorical(others), z)

    def uniform(self, z):
        return self.streams.uniform().to(torch.float64)

    def align(self, x):
        return x

    def record(self, name, values):
        self.diagnostics[name] = self.diagnostics.get(name, 0) + values.to(torch.float64)
