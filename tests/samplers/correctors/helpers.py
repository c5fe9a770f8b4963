"""Shared pieces of the corrector tests: the exact target and a sampler that runs one corrector
move after first-hitting has revealed everything (the corrector's kernel applied to the target)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from unmask.samplers import FirstHitting
from unmask.samplers.base import Sampler
from unmask.samplers.correctors import Corrector
from unmask.targets import MarkovChain

BATCH = 20_000


def chain() -> MarkovChain:
    """A peaked Markov chain (V = 3, L = 4): strong dependence between neighbours."""
    return MarkovChain.random(vocab_size=3, length=4, concentration=0.3, seed=0)


@dataclass(frozen=True)
class ThenCorrect(Sampler):
    """First-hitting until nothing is masked, then ``moves`` moves of ``corrector``, each its own
    step: the law is ``pi K^moves`` for the corrector's kernel ``K`` on clean states."""

    corrector: Corrector | None = None
    moves: int = 1
    name: ClassVar[str] = "test-first-hitting-then-correct"
    uses_grid: ClassVar[bool] = False
    takes_steps: ClassVar[bool] = False

    def active(self, ctx, z, index):
        return ctx.masked(z).any(-1) | (index < z.shape[-1] + self.moves)

    def max_steps(self, length):
        return length + self.moves

    def step(self, ctx, z, t, s, index):
        if index < z.shape[-1]:
            return FirstHitting().step(ctx, z, t, s, index)
        return self.corrector.correct(ctx, z, t), t


class TimeConditioned:
    """The exact denoiser (and its ``loo``) without ``time_agnostic``: the driver reuses no call,
    so every call a step asks for is counted."""

    def __init__(self, target: MarkovChain) -> None:
        self.exact = target.denoiser()

    def __call__(self, z, t):
        return self.exact(z, t)

    def loo(self, z, t):
        return self.exact.loo(z, t)
