"""Sampled frequencies of each uniform sampler agree with its own exact output law."""

from __future__ import annotations

import pytest
import torch

import unmask
from unmask.exact import run_law
from unmask.samplers import get
from unmask.targets import Table

from .helpers import CHI_SQUARE_LEVEL, UNIFORM_SAMPLERS, chi_square_pvalue

STEPS = 4
BATCH = 20_000


def _random_table(vocab_size: int, length: int, seed: int) -> Table:
    """A full-support random table (Dirichlet(1) weights from a seeded generator)."""
    g = torch.Generator().manual_seed(seed)
    weights = -torch.log(torch.rand([vocab_size] * length, generator=g, dtype=torch.float64))
    return Table(weights / weights.sum())


@pytest.mark.parametrize("name", UNIFORM_SAMPLERS)
def test_samples_match_exact_law(name: str) -> None:
    """``unmask.sample`` (uniform prior start, no final denoise, default UniformProcess, 4 steps)
    draws from the law that ``run_law(start="prior")`` computes for the same sampler: Pearson
    chi-square over the 27 cells of a V=3, L=3 random table, p > 1e-3; the call count is
    ``steps * calls_per_step`` (a uniform denoiser depends on t, so no call is reused)."""
    target = _random_table(3, 3, seed=7)
    process = unmask.UniformProcess()
    exact = run_law(target, name, STEPS, process=process, start="prior")
    result = unmask.sample(
        target.uniform_denoiser(process),
        name,
        vocab_size=3,
        length=3,
        batch_size=BATCH,
        steps=STEPS,
        process=process,
        final_denoise=False,
        generator=11,
    )
    pvalue = chi_square_pvalue(result.tokens, exact.law)
    assert pvalue > CHI_SQUARE_LEVEL, f"{name}: chi-square p = {pvalue:.2e}"
    assert result.nfe == STEPS * get(name, "uniform").calls_per_step
    for key, value in exact.diagnostics.items():
        # Drawn runs average the same per-run diagnostic (e.g. clipped_mass) that the law expects.
        assert result.diagnostics[key] == pytest.approx(value, rel=0.05, abs=1e-9), key
