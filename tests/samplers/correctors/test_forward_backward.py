"""The uninformed forward-backward corrector (spec §2.6, §4.8): remask clean positions, reveal them
again from the model's conditionals. One remasked position is the uniform Gibbs kernel; several
are revealed in parallel (a factorisation error). It draws its exact law and never moves a prompt."""

from __future__ import annotations

import pytest
import torch

import unmask
from stats import CHI_SQUARE_LEVEL, chi_square_pvalue
from unmask.exact import output_law, tv
from unmask.samplers import Euler, FirstHitting
from unmask.samplers.correctors import ForwardBackward, PredictorCorrector, UniformGibbs

from .helpers import BATCH, ThenCorrect, chain


def test_one_remasked_position_is_the_gibbs_kernel() -> None:
    """``k = 1``: applied to the target the law is the target (1e-12), and after Euler (2 steps)
    it equals the law with a uniform Gibbs move (1e-12); ``keeps_target`` says so."""
    target = chain()
    assert ForwardBackward().keeps_target
    assert torch.allclose(
        output_law(target, ThenCorrect(ForwardBackward())), target.probs(), rtol=0, atol=1e-12
    )
    law = output_law(target, PredictorCorrector(Euler(), ForwardBackward()), steps=2)
    gibbs = output_law(target, PredictorCorrector(Euler(), UniformGibbs()), steps=2)
    assert torch.allclose(law, gibbs, rtol=0, atol=1e-12)


@pytest.mark.parametrize("corrector", [ForwardBackward(k=2), ForwardBackward(p=0.5)])
def test_parallel_reveals_leave_the_target(corrector: ForwardBackward) -> None:
    """Several positions revealed at once: one move applied to the target moves it away (measured
    TV 0.083 for k = 2, 0.113 for p = 0.5); ``keeps_target`` is False."""
    target = chain()
    assert not corrector.keeps_target
    assert 0.03 < tv(output_law(target, ThenCorrect(corrector)), target.probs()) < 0.2


@pytest.mark.parametrize("corrector", [ForwardBackward(k=2), ForwardBackward(p=0.5)])
def test_predictor_corrector_draws_its_exact_law(corrector: ForwardBackward) -> None:
    """First-hitting with a forward-backward move after each step: samples pass a chi-square test
    against the enumerated law, which is a distribution."""
    target = chain()
    sampler = PredictorCorrector(FirstHitting(), corrector)
    law = output_law(target, sampler)
    assert abs(float(law.sum()) - 1) < 1e-12
    drawn = unmask.sample(
        target.denoiser(), sampler, vocab_size=3, length=target.length, batch_size=BATCH, generator=43
    )
    assert chi_square_pvalue(drawn.tokens, law) > CHI_SQUARE_LEVEL


@pytest.mark.parametrize("corrector", [ForwardBackward(k=2), ForwardBackward(p=0.5)])
def test_prompt_positions_never_change(corrector: ForwardBackward) -> None:
    """With a prompt token at position 1, every state of every row keeps it through the moves."""
    target = chain()
    prompt = torch.full((300, target.length), target.vocab_size)
    prompt[:, 1] = 2
    sampler = PredictorCorrector(FirstHitting(), corrector, corrector_steps=2)
    drawn = unmask.sample(
        target.denoiser(), sampler, vocab_size=3, prompt=prompt, generator=5, return_trajectory=True
    )
    assert bool((drawn.trajectory[:, :, 1] == 2).all())


def test_one_call_per_move_and_configuration_errors() -> None:
    """One denoiser call per move; ``k`` a positive integer, ``p`` a probability."""
    assert PredictorCorrector(Euler(), ForwardBackward(p=0.3), corrector_steps=2).calls_per_step == 3
    with pytest.raises(ValueError):
        ForwardBackward(k=0)
    with pytest.raises(ValueError):
        ForwardBackward(p=1.5)
