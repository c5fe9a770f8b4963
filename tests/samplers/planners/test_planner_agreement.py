"""Each planner draws from its own exact output law (spec §6.1, §9.10): ``unmask.sample`` and the
enumerating context run the same step, and the tie rule makes the choice of positions the same in
both."""

from __future__ import annotations

import pytest
import torch

import unmask
from stats import CHI_SQUARE_LEVEL, chi_square_pvalue
from unmask.exact import run_law, tv

from .planner_cases import CASES, chain

BATCH = 20_000


@pytest.mark.parametrize("case", sorted(CASES))
def test_samples_follow_the_planners_exact_law(case: str) -> None:
    """20,000 draws pass Pearson's chi-square test (cells of expected count < 5 pooled) against
    the planner's exact law on the chain (V = 3, L = 5) at significance 1e-3, and never land on a
    sequence of exact probability 0; the law is off the target (TV > 0.05), so a sampler that
    ignored the plan (revealing uniformly chosen positions, or one at a time) would fail."""
    sampler, steps = CASES[case]
    target = chain()
    law = run_law(target, sampler, steps).law
    assert abs(float(law.sum()) - 1) < 1e-12
    assert tv(law, target.probs()) > 0.05
    result = unmask.sample(
        target.denoiser(),
        sampler,
        vocab_size=3,
        length=5,
        batch_size=BATCH,
        steps=steps,
        generator=torch.Generator().manual_seed(500 + sorted(CASES).index(case)),
    )
    p = chi_square_pvalue(result.tokens, law)
    assert p > CHI_SQUARE_LEVEL, f"{case}: chi-square p = {p:.2e}"
