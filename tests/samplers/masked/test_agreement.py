"""Each masked sampler draws from its own exact output law (spec §6.1): the sampler, run by
``unmask.sample``, and the dynamic program, run by ``unmask.exact.run_law`` on the same step
function, check each other. Target: a strongly dependent chain (``problems.masked_strong_chain``)
on which every parallel sampler is measurably off the target, so agreement is informative."""

from __future__ import annotations

import math

import pytest
import torch

import unmask
from problems import masked_strong_chain
from unmask.exact import run_law, tv
from unmask.samplers import get

from .helpers import CHI_SQUARE_LEVEL, chi_square_pvalue, processes

BATCH = 20_000

#: (id, sampler, steps): grid samplers at two step counts; k-random with k = 2, a size schedule and
#: sizes from ``steps``.
CASES = [
    *[(f"{name}-N{n}", get(name), n) for name in ("euler", "tau-leaping", "tweedie") for n in (2, 5)],
    ("k-random-k2", get("k-random", k=2), None),
    ("k-random-sizes121", get("k-random", sizes=(1, 2, 1)), None),
    ("k-random-steps3", get("k-random"), 3),
    *[(f"{name}-N{n}", get(name), n) for name in ("trapezoidal", "rk2") for n in (2, 5)],
]


def _seed(case_id: str, schedule: str) -> int:
    """A distinct fixed seed per test, so that the tests of the matrix are independent."""
    return 1000 + 2 * [c[0] for c in CASES].index(case_id) + (schedule == "cosine")


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_samples_follow_the_exact_law(case, schedule: str) -> None:
    """20,000 draws of ``unmask.sample`` pass Pearson's chi-square test against the sampler's exact
    law from ``run_law`` (same sampler, steps and schedule; 81 cells, those with expected count
    < 5 pooled) at significance 1e-3, and never land on a cell of exact probability 0."""
    case_id, sampler, steps = case
    target = masked_strong_chain()
    process = processes()[schedule]
    law = run_law(target, sampler, steps, process=process).law
    result = unmask.sample(
        target.denoiser(),
        sampler,
        vocab_size=target.vocab_size,
        length=target.length,
        batch_size=BATCH,
        steps=steps,
        process=process,
        generator=torch.Generator().manual_seed(_seed(case_id, schedule)),
    )
    p = chi_square_pvalue(result.tokens, law)
    assert p > CHI_SQUARE_LEVEL, (
        f"{case_id}/{schedule}: chi-square p = {p:.2e} (TV(law, target) = {tv(law, target.probs()):.3f})"
    )


def test_the_chi_square_test_has_power() -> None:
    """Control: the same 20,000 Euler draws (N = 2, linear) that agree with Euler's exact law are
    rejected (p < 1e-6) when tested against the target itself, whose TV distance from Euler's law
    is above 0.05; the agreement test above can therefore tell laws of this size apart."""
    target = masked_strong_chain()
    law = run_law(target, "euler", 2).law
    assert tv(law, target.probs()) > 0.05
    result = unmask.sample(
        target.denoiser(),
        "euler",
        vocab_size=3,
        length=4,
        batch_size=BATCH,
        steps=2,
        generator=torch.Generator().manual_seed(21),
    )
    assert chi_square_pvalue(result.tokens, law) > CHI_SQUARE_LEVEL
    p = chi_square_pvalue(result.tokens, target.probs())
    assert p < 1e-6, f"the target was not rejected: p = {p:.2e}"


CLIPPING = [
    ("trapezoidal", get("trapezoidal"), 4),
    ("trapezoidal-theta0.3", get("trapezoidal", theta=0.3), 4),
    ("rk2-theta0.3", get("rk2", theta=0.3), 4),
]


@pytest.mark.parametrize("case", CLIPPING, ids=[c[0] for c in CLIPPING])
def test_clipped_mass_matches_its_exact_expectation(case) -> None:
    """The ``clipped_mass`` diagnostic (spec §2.4, §9.7): its exact expectation from ``run_law`` is
    positive on the strong chain, and the sampled mean over 10 independent batches of 3,000 rows
    (seeds 0..9) is within 4 standard errors of it (SE from the spread of the 10 batch means;
    |t_9| > 4 has probability about 0.3%)."""
    name, sampler, steps = case
    target = masked_strong_chain()
    expected = run_law(target, sampler, steps).diagnostics["clipped_mass"]
    assert expected > 1e-4, f"{name}: no clipping to compare ({expected:.3g})"
    means = torch.tensor(
        [
            unmask.sample(
                target.denoiser(),
                sampler,
                vocab_size=3,
                length=4,
                batch_size=3_000,
                steps=steps,
                generator=seed,
            ).diagnostics["clipped_mass"]
            for seed in range(10)
        ],
        dtype=torch.float64,
    )
    se = float(means.std() / math.sqrt(len(means)))
    gap = abs(float(means.mean()) - expected)
    assert gap <= 4 * se, (
        f"{name}: sampled clipped mass {float(means.mean()):.5f} +- {se:.5f}, exact {expected:.5f}"
    )
