"""Test-only samplers written with the step context's operations for correctors and planners
(select, remask, resample, leave-one-out outputs), so that each operation is checked in both
contexts: the exact law it enumerates against what it draws, and against known invariances."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from unmask.samplers import FirstHitting
from unmask.samplers.base import Sampler


@dataclass(frozen=True)
class FirstHittingThenGibbs(Sampler):
    """First-hitting until nothing is masked (``L`` steps from all-mask), then ``sweeps`` Gibbs
    steps: one clean position chosen uniformly at random is resampled from its leave-one-out
    conditional. Exact conditionals leave the target invariant, so the law is the target."""

    sweeps: int = 2
    name: ClassVar[str] = "test-first-hitting-gibbs"
    uses_grid: ClassVar[bool] = False
    takes_steps: ClassVar[bool] = False

    def active(self, ctx, z, index):
        return ctx.masked(z).any(-1) | (index < z.shape[-1] + self.sweeps)

    def max_steps(self, length):
        return length + self.sweeps

    def step(self, ctx, z, t, s, index):
        if index < z.shape[-1]:
            return FirstHitting().step(ctx, z, t, s, index)
        loo = ctx.loo(z, t)
        one = torch.ones(z.shape[0], dtype=torch.long, device=z.device)
        z, chosen = ctx.select(z, ctx.clean(z), one)
        return ctx.resample(z, chosen, ctx.align(loo)), t


@dataclass(frozen=True)
class WeightedReveal(Sampler):
    """Each step reveals ``k`` masked positions chosen by successive sampling with weights
    ``1 + position`` (later positions first, on average), values from the model."""

    k: int = 2
    name: ClassVar[str] = "test-weighted-reveal"
    uses_grid: ClassVar[bool] = False
    takes_steps: ClassVar[bool] = False

    def step(self, ctx, z, t, s, index):
        weights = 1.0 + torch.arange(z.shape[-1], dtype=torch.float64, device=z.device).expand(z.shape)
        count = torch.full((z.shape[0],), self.k, dtype=torch.long, device=z.device)
        probs = ctx.denoise(z, t)
        z, chosen = ctx.select(z, ctx.masked(z), count, weights)
        return ctx.reveal(z, chosen, ctx.align(probs)), t


@dataclass(frozen=True)
class RevealRemask(Sampler):
    """``rounds`` steps that reveal each masked position with probability ``reveal`` and then turn
    each clean position back into a mask with probability ``remask``; a last step reveals the rest."""

    rounds: int = 2
    reveal: float = 0.6
    remask: float = 0.3
    name: ClassVar[str] = "test-reveal-remask"
    uses_grid: ClassVar[bool] = False
    takes_steps: ClassVar[bool] = False

    def active(self, ctx, z, index):
        return torch.full((z.shape[0],), index <= self.rounds, dtype=torch.bool, device=z.device)

    def max_steps(self, length):
        return self.rounds + 1

    def step(self, ctx, z, t, s, index):
        n = z.shape[0]
        last = index == self.rounds
        go = torch.full((n, 1), 1.0 if last else self.reveal, dtype=torch.float64, device=z.device)
        z = ctx.move(z, go, ctx.denoise(z, t))
        if not last:
            back = torch.full((z.shape[0], 1), self.remask, dtype=torch.float64, device=z.device)
            z = ctx.remask(z, back)
        return z, t


@dataclass(frozen=True)
class ForgetsToAlign(Sampler):
    """A broken two-stage step: the first move's probabilities are used again after the move
    without :meth:`StepContext.align` (a bug the enumerating context must catch)."""

    name: ClassVar[str] = "test-forgets-to-align"
    uses_grid: ClassVar[bool] = False
    takes_steps: ClassVar[bool] = False

    def step(self, ctx, z, t, s, index):
        probs = ctx.denoise(z, t)
        half = torch.full((z.shape[0], 1), 0.5, dtype=torch.float64, device=z.device)
        y = ctx.move(z, half, probs)
        return ctx.move(y, torch.ones_like(half), probs), t
