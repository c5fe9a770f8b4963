"""ReMDM remasking: a distribution as exact law, drawn frequencies that match it, eta = 0 equal to
Tweedie, prompt positions untouched."""

from __future__ import annotations

import pytest
import torch

import unmask
from stats import CHI_SQUARE_LEVEL, chi_square_pvalue
from unmask.exact import output_law, tv
from unmask.samplers.correctors import ReMDM

from .helpers import BATCH, TimeConditioned, chain


def test_zero_remasking_is_tweedie() -> None:
    """eta = 0 (both variants): the exact law equals Tweedie's on the same grid to 1e-12."""
    target = chain()
    tweedie = output_law(target, "tweedie", steps=6)
    for variant in ("cap", "rescale"):
        law = output_law(target, ReMDM(eta=0.0, variant=variant), steps=6)
        assert torch.allclose(law, tweedie, rtol=0, atol=1e-12)


@pytest.mark.parametrize("variant", ["cap", "rescale"])
def test_remdm_draws_its_exact_law(variant: str) -> None:
    """eta = 0.5, 6 steps: the law sums to 1, differs from Tweedie's (remasking acts), and samples
    pass a chi-square test against it; one call per step for every
    row (a time-conditioned denoiser: no call reused, every row takes every step)."""
    target = chain()
    sampler = ReMDM(eta=0.5, variant=variant)
    law = output_law(target, sampler, steps=6)
    assert abs(float(law.sum()) - 1) < 1e-12
    assert tv(law, output_law(target, "tweedie", steps=6)) > 1e-3
    drawn = unmask.sample(
        target.denoiser(), sampler, vocab_size=3, length=target.length, batch_size=BATCH, steps=6, generator=7
    )
    assert chi_square_pvalue(drawn.tokens, law) > CHI_SQUARE_LEVEL
    timed = unmask.sample(
        TimeConditioned(target),
        sampler,
        vocab_size=3,
        length=target.length,
        batch_size=64,
        steps=6,
        generator=8,
    )
    assert bool((timed.nfe_per_row == 6).all())


def test_remdm_never_touches_the_prompt() -> None:
    """Strong remasking (eta = 1, rescale) with a prompt token at position 2: every state keeps it."""
    target = chain()
    prompt = torch.full((300, target.length), target.vocab_size)
    prompt[:, 2] = 0
    drawn = unmask.sample(
        target.denoiser(), ReMDM(eta=1.0, variant="rescale"), vocab_size=3, prompt=prompt, steps=6,
        generator=4, return_trajectory=True,
    )  # fmt: skip
    assert bool((drawn.trajectory[:, :, 2] == 0).all())
    assert bool((drawn.tokens != target.vocab_size).all())
