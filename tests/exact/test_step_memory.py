"""The step context's per-position memory (StepContext.memory / remember): carried between steps
row by row when drawing, also when only some rows take a step; refused by the enumerating context
with the reason, even for a sampler that does not declare an exact-law refusal (the backstop
behind Sampler.exact_law_refusal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

import unmask
from unmask.exact import run_law
from unmask.samplers.base import Sampler, force_last
from unmask.targets import MarkovChain


@dataclass(frozen=True)
class CountsSteps(Sampler):
    """Tweedie's step (reveal each masked position with ``(alpha_s - alpha_t) / (1 - alpha_t)``);
    a memory (the same at every position) adds up the clean positions ``c_j`` of the row's state
    at the start of each step ``j`` it takes, and each step records the sum it read, so a row that
    takes ``K`` steps records ``sum_{j < K} sum_{i < j} c_i``. Rows with nothing masked take no
    step (the default ``active``). It does not declare that it has no exact law."""

    name: ClassVar[str] = "test-counts-steps"

    def step(self, ctx, z, t, s, index):
        count = ctx.memory("count", 0.0)
        ctx.record("seen", count[:, 0])
        ctx.remember("count", count + ctx.clean(z).sum(-1, keepdim=True))
        alpha_t, alpha_s = ctx.process.schedule.alpha(t), ctx.process.schedule.alpha(s)
        reveal = force_last(((alpha_s - alpha_t) / (1 - alpha_t).clamp(min=1e-300)).clamp(0, 1), s)
        probs = ctx.denoise(z, t)
        return ctx.move(z, ctx.align(reveal)[:, None], ctx.align(probs)), s


class TimeConditioned:
    """The exact denoiser without ``time_agnostic``: every step a row takes is one call of it."""

    def __init__(self, target) -> None:
        self.exact = target.denoiser()

    def __call__(self, z, t):
        return self.exact(z, t)


def test_memory_follows_each_row_when_rows_finish_apart() -> None:
    """64 rows, 8 steps, L = 3: rows finish after different numbers of steps ``K`` (its calls; so
    later steps run on subsets of rows, with different memories), and each row recorded exactly
    ``sum_{j < K} sum_{i < j} c_i``, with ``c_i`` the clean positions of its state after ``i``
    steps (from the trajectory)."""
    target = MarkovChain.random(vocab_size=2, length=3, concentration=0.5, seed=0)
    drawn = unmask.sample(
        TimeConditioned(target), CountsSteps(), vocab_size=2, length=3, batch_size=64, steps=8,
        generator=3, return_trajectory=True,
    )  # fmt: skip
    taken = drawn.nfe_per_row
    assert len(taken.unique()) >= 3
    clean = (drawn.trajectory < 2).sum(-1).double()  # [steps + 1, B]
    before = clean.cumsum(0) - clean  # sum_{i < j} c_i
    steps = torch.arange(len(clean))[:, None]
    expected = torch.where(steps < taken, before, 0.0).sum(0)
    assert len(expected.unique()) >= 5
    assert torch.equal(drawn.row_diagnostics["seen"], expected)


def test_memory_is_refused_when_enumerating() -> None:
    """run_law of a sampler that keeps a memory raises ValueError naming the memory and the
    (state, memory) pairs, though the sampler declares no refusal."""
    target = MarkovChain.random(vocab_size=2, length=3, concentration=0.5, seed=0)
    assert CountsSteps().exact_law_refusal() is None
    with pytest.raises(ValueError, match=r"per-position memory \('count'\).*\(state, memory\) pairs"):
        run_law(target, CountsSteps(), 4)
