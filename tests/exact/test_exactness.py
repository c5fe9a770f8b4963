"""Exactness of the one-token-per-call samplers, read off their exact output laws (spec T1, §2.2,
§6.1): first-hitting and k-random with blocks of one reproduce the target to rounding."""

from __future__ import annotations

import pytest

from problems import masked_law_targets
from unmask import MaskedProcess
from unmask.exact import output_law, run_law, tv
from unmask.samplers import get
from unmask.schedules import CosineSchedule

#: Exact laws are float64 sums of products; they match the target to this absolute tolerance.
EXACT = 1e-12

PROCESSES = {"linear": MaskedProcess(), "cosine": MaskedProcess(CosineSchedule())}


@pytest.mark.parametrize("schedule", sorted(PROCESSES))
@pytest.mark.parametrize("name", sorted(masked_law_targets()))
def test_first_hitting_law_is_the_target(name: str, schedule: str) -> None:
    """The exact output law of first-hitting equals ``target.probs()`` entry by entry to 1e-12 (so
    TV <= 1e-12), for a random table, a random Markov chain, an HMM and the copies target, under
    the linear and the cosine schedule; the law sums to 1 and it takes L steps."""
    target = masked_law_targets()[name]
    result = run_law(target, "first-hitting", process=PROCESSES[schedule])
    law, probs = result.law, target.probs()
    assert law.shape == probs.shape
    assert abs(float(law.sum()) - 1.0) <= EXACT
    worst = float((law - probs).abs().max())
    assert worst <= EXACT, f"{name}/{schedule}: max |law - pi| = {worst:.3g}"
    assert tv(law, probs) <= EXACT
    assert result.steps == target.length


@pytest.mark.parametrize(
    "sampler, steps",
    [
        (get("k-random", k=1), None),
        (get("k-random", sizes=(1, 1, 1, 1, 1)), None),
        (get("k-random"), 5),  # 5 blocks over L = 5: blocks of one
    ],
    ids=["k=1", "sizes=1s", "steps=L"],
)
def test_k_random_with_blocks_of_one_is_exact(sampler, steps) -> None:
    """k-random revealing one uniformly chosen token per call has the law of the target to 1e-12
    (random Markov chain, V=3, L=5): with one token per block there is no factorisation error."""
    target = masked_law_targets()["markov"]
    law = output_law(target, sampler, steps)
    worst = float((law - target.probs()).abs().max())
    assert worst <= EXACT, f"max |law - pi| = {worst:.3g}"


@pytest.mark.parametrize("name", ["euler", "tweedie", "tau-leaping", "trapezoidal", "rk2"])
def test_parallel_samplers_are_not_exact(name: str) -> None:
    """Control for the tolerance above: a grid sampler with 3 steps on the same random chain
    reveals several tokens per step and is measurably off the target (TV > 1e-3), so a TV of
    1e-12 is a real property of the exact samplers, not of the harness."""
    target = masked_law_targets()["markov"]
    law = output_law(target, name, 3)
    assert abs(float(law.sum()) - 1.0) <= EXACT
    assert tv(law, target.probs()) > 1e-3
