"""The predictor-corrector sampler: Gibbs moves reduce an inexact predictor's error (TV
contraction, spec §4.8), and its call count is the predictor's plus the corrector's."""

from __future__ import annotations

import pytest
import torch

import unmask
from unmask.exact import output_law, tv
from unmask.samplers import Euler, FirstHitting
from unmask.samplers.correctors import PredictorCorrector, UniformGibbs

from .helpers import TimeConditioned, chain


@pytest.mark.parametrize("where", ["final_steps", "corrector_steps"])
def test_gibbs_moves_reduce_the_euler_error(where: str) -> None:
    """Euler with 2 steps (TV 0.23 to the target) followed by 0, 1, 2 Gibbs moves at the end, or
    after each step: the exact TV to the target decreases strictly with the number of moves
    (measured at the end: 0.231, 0.126, 0.072; after each step: 0.231, 0.086, 0.042)."""
    target = chain()
    errors = [
        tv(output_law(target, PredictorCorrector(Euler(), UniformGibbs(), **{where: n}) if n else "euler",
                      steps=2), target.probs())
        for n in (0, 1, 2)
    ]  # fmt: skip
    assert all(b < a - 1e-3 for a, b in zip(errors, errors[1:], strict=False)), errors


def test_nfe_counts_predictor_and_corrector_calls() -> None:
    """First-hitting (L calls per row) with 2 Gibbs moves after each step (one ``loo`` call each):
    every row makes L * (1 + 2) calls and the run L * 3 batched calls; ``calls_per_step`` is 3.
    Euler with 3 steps and 2 final moves (a time-conditioned denoiser: no call reused): 3 + 2
    calls per row."""
    target = chain()
    length = target.length
    sampler = PredictorCorrector(FirstHitting(), UniformGibbs(), corrector_steps=2)
    assert sampler.calls_per_step == 3
    drawn = unmask.sample(target.denoiser(), sampler, vocab_size=3, length=length, batch_size=64, generator=1)
    assert drawn.nfe == 3 * length
    assert bool((drawn.nfe_per_row == 3 * length).all())
    euler = PredictorCorrector(Euler(), UniformGibbs(), corrector_steps=0, final_steps=2)
    drawn = unmask.sample(
        TimeConditioned(target), euler, vocab_size=3, length=length, batch_size=64, generator=2, steps=3
    )
    assert drawn.nfe == 3 + 2
    assert bool((drawn.nfe_per_row == 5).all())


def test_prompt_positions_never_change_under_correction() -> None:
    """With a prompt token at position 1, every state of every row keeps it through Gibbs moves."""
    target = chain()
    prompt = torch.full((300, target.length), target.vocab_size)
    prompt[:, 1] = 2
    sampler = PredictorCorrector(FirstHitting(), UniformGibbs(), corrector_steps=2)
    drawn = unmask.sample(
        target.denoiser(), sampler, vocab_size=3, prompt=prompt, generator=3, return_trajectory=True
    )
    assert bool((drawn.trajectory[:, :, 1] == 2).all())


def test_configuration_errors() -> None:
    """Final moves need a grid predictor and its step count; counts are non-negative integers."""
    with pytest.raises(ValueError, match="grid predictor"):
        PredictorCorrector(FirstHitting(), UniformGibbs(), final_steps=1)
    with pytest.raises(ValueError, match="non-negative"):
        PredictorCorrector(Euler(), UniformGibbs(), corrector_steps=-1)
    with pytest.raises(TypeError, match="Corrector"):
        PredictorCorrector(Euler(), "gibbs")
