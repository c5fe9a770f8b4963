"""The step context that draws: random moves from counter-based per-row streams (float64 by default)."""

from __future__ import annotations

import torch

from ..denoisers import CachedDenoiser
from ..probabilities import as_dense
from ..processes import Process
from ..streams import RowStreams, choose_subset
from .base import StepContext


class DrawingContext(StepContext):
    """Carries out sampler moves on a batch ``[B, L]``; positions outside ``free`` never change.

    Every move decides first whether a position moves (a Bernoulli in the draw dtype) and only then
    which value it takes (an inverse-CDF draw from the normalised law), as spec §2.0 asks. The value
    is drawn only where a position moves (its rows of ``values`` are gathered first); the streams
    advance the same either way, so the draws do not depend on which positions move.
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
        return torch.where(go, self.streams.categorical(values, where=go), z)

    def choose(self, z, count, values):
        chosen = choose_subset(self.streams.uniform(z.shape[-1]), self.masked(z) & self.free, count)
        return torch.where(chosen, self.streams.categorical(values, where=chosen), z)

    def jump(self, z, law):
        law = as_dense(law)
        go = self.free & self.streams.bernoulli(leave_probability(law, z))
        return torch.where(go, self.streams.categorical(law, where=go, exclude=z), z)

    def uniform(self, z):
        return self.streams.uniform().to(torch.float64)

    def align(self, x):
        return x

    def record(self, name, values):
        self.diagnostics[name] = self.diagnostics.get(name, 0) + values.to(torch.float64)


@torch.no_grad()
def leave_probability(law: torch.Tensor, z: torch.Tensor, chunk: int = 1 << 20) -> torch.Tensor:
    """``sum_{v != z} law[v] / sum_v law[v]`` per position: float64 ``law [n, L, V]``, ``z [n, L]``.

    The numerator sums the other values directly (no ``total - stay`` cancellation when the move
    probability is tiny). Rows are taken ``chunk`` entries at a time, so that the zeroed copy stays
    small; per-row sums do not depend on the chunking.
    """
    size = law.shape[-1]
    flat, current = law.reshape(-1, size), z.reshape(-1, 1)
    leave = torch.empty(flat.shape[0], dtype=torch.float64)
    step = max(1, chunk // size)
    for start in range(0, flat.shape[0], step):
        rows = flat[start : start + step]
        others = rows.clone().scatter_(-1, current[start : start + step], 0.0)
        torch.div(others.sum(-1), rows.sum(-1), out=leave[start : start + step])
    return leave.reshape(z.shape)
