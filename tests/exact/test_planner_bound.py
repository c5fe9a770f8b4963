"""The exact path-KL bound of planners (spec §2.5, §4.7): ``planner_bound`` against the exact output
laws of the samplers themselves (``run_law``) and against direct computations on the table.

Chain of bounds checked: ``KL(pi || phat) <= path_kl <= entropy_bound <= max_entropy_bound`` and,
for EB, ``entropy_bound <= gamma * E_ref[#steps]``; for the certified sampler,
``max_entropy_bound <= kl_budget``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from unmask.bench.suite import SUITE
from unmask.exact import kl, reference_law, run_law
from unmask.exact.planner_bound import MAX_PLANNER_STATES, PlannerBound, planner_bound
from unmask.samplers.planned import (
    Certified,
    Dilated,
    EntropyBounded,
    FactorThreshold,
    LowConfidenceRemasking,
    SemiAutoregressive,
    Threshold,
    TopK,
)
from unmask.targets import MarkovChain

#: Float64 sums of a few hundred terms: the rounding floor of every comparison.
FLOOR = 1e-12


def bench(name: str):
    return SUITE[name].at("masked")


def eb_targets():
    """Targets (V = 3, L <= 6) where EB at the gammas below reveals several tokens per call."""
    return {
        "dirichlet": bench("dirichlet"),
        "strong": bench("strong"),
        "cyclic": bench("cyclic"),
        "mixing-0.01": MarkovChain.mixing(3, 5, eps=0.01),
        "mixing-0.05": MarkovChain.mixing(3, 5, eps=0.05),
        "random-0.3": MarkovChain.random(3, 5, concentration=0.3, seed=2),
        "random-0.5-L6": MarkovChain.random(3, 6, concentration=0.5, seed=0),
    }


def table_entropy(table: torch.Tensor) -> float:
    p = table[table > 0]
    return float(-(p * p.log()).sum())


def test_eb_gamma_zero_is_exact():
    """EB with gamma = 0 adds a token beyond the first only when its entropy is 0, so its path
    bound is 0 and its exact output law is the target, on every target (the copies target reveals
    all remaining tokens at the second call: fewer calls than positions and still exact)."""
    targets = {**eb_targets(), "copies": bench("copies")}
    for name, target in targets.items():
        sampler = EntropyBounded(gamma=0.0)
        bound = planner_bound(target, sampler)
        result = run_law(target, sampler)
        assert isinstance(bound, PlannerBound)
        assert bound.entropy_bound == 0.0, name
        assert bound.max_entropy_bound == 0.0, name
        assert abs(bound.path_kl) <= 1e-14, name
        assert torch.allclose(result.law, reference_law(target), rtol=0.0, atol=1e-12), name
        # the laws coincide, so the expected numbers of calls do too
        assert bound.expected_steps == pytest.approx(result.expected_steps, abs=1e-12), name
    assert planner_bound(bench("copies"), EntropyBounded(gamma=0.0)).expected_steps == pytest.approx(2.0)


def test_eb_chain_of_bounds():
    """For EB: KL(pi || phat) <= path_kl <= E_ref[sum C] <= gamma E_ref[#steps] (spec §4.7 (b)), at
    gammas {0.05, 0.3, 1, 3} on several targets; the chain is not vacuous (some KL > 1e-4, and
    some case has KL > 0 already at gamma = 0.05)."""
    largest = 0.0
    small_gamma_kl = 0.0
    for name, target in eb_targets().items():
        pi = reference_law(target)
        for gamma in (0.05, 0.3, 1.0, 3.0):
            sampler = EntropyBounded(gamma=gamma)
            bound = planner_bound(target, sampler)
            error = kl(pi, run_law(target, sampler).law)
            case = f"{name}, gamma={gamma}: KL={error}, {bound}"
            assert error <= bound.path_kl + FLOOR, case
            assert bound.path_kl <= bound.entropy_bound + FLOOR, case
            assert bound.entropy_bound <= bound.max_entropy_bound + FLOOR, case
            assert bound.entropy_bound <= gamma * bound.expected_steps + FLOOR, case
            assert 1.0 - FLOOR <= bound.expected_steps <= target.length + FLOOR, case
            largest = max(largest, error)
            if gamma == 0.05:
                small_gamma_kl = max(small_gamma_kl, error)
    assert largest > 1e-4
    assert small_gamma_kl > 1e-4


def test_eb_calls_fall_as_gamma_grows():
    """E[#calls] of EB under its own law is non-increasing along an increasing gamma sweep, and
    strictly lower at the largest gamma than at gamma = 0 (spec §4.7 (c)), on targets where it
    holds (see the copies counterexample below)."""
    gammas = (0.0, 0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 10.0)
    targets = {name: bench(name) for name in ("mild", "strong", "cyclic", "dirichlet")}
    targets.update(
        {
            "mixing-0.01": MarkovChain.mixing(3, 5, eps=0.01),
            "mixing-0.01-L6": MarkovChain.mixing(3, 6, eps=0.01),
        }
    )
    for name, target in targets.items():
        calls = [run_law(target, EntropyBounded(gamma=gamma)).expected_steps for gamma in gammas]
        for low, high in zip(calls, calls[1:], strict=False):
            assert high <= low + FLOOR, (name, calls)
        assert calls[-1] < calls[0] - 0.5, (name, calls)


def test_eb_calls_are_not_monotone_on_copies():
    """The counterexample to monotone calls: on the copies target (V = 3, L = 5) gamma = 2 reveals
    two tokens at the first call; when they disagree (probability 2/3) the sampler reaches an
    impossible context, whose conditionals are uniform (entropy log 3 each), and needs three calls
    instead of two. So E[#calls] is 2 at gamma = 1, 8/3 at gamma = 2 and 2 at gamma = 3. The
    reference process never leaves the support: its E_ref[#steps] stays 2."""
    target = bench("copies")
    calls = {gamma: run_law(target, EntropyBounded(gamma=gamma)).expected_steps for gamma in (1.0, 2.0, 3.0)}
    assert calls[1.0] == pytest.approx(2.0, abs=1e-12)
    assert calls[2.0] == pytest.approx(8.0 / 3.0, abs=1e-12)
    assert calls[3.0] == pytest.approx(2.0, abs=1e-12)
    assert planner_bound(target, EntropyBounded(gamma=2.0)).expected_steps == pytest.approx(2.0, abs=1e-12)


def certified_cases():
    for name in SUITE:
        for budget in (0.01, 0.05, 0.2):
            yield name, bench(name), budget
    for length in (5, 6):
        for budget in (0.05, 0.2, 0.5, 1.0):
            yield f"mixing-0.01-L{length}", MarkovChain.mixing(3, length, eps=0.01), budget


def test_certified_keeps_its_budget():
    """The certified sampler keeps sum C <= kl_budget on every reference path, hence
    KL(pi || phat) <= path_kl <= E_ref[sum C] <= max sum C <= kl_budget; the recorded kl_bound (the
    same path sum averaged under the sampler's own law) is within the budget too. Not vacuous:
    some case saves calls (E_ref[#steps] < L) with KL > 0."""
    saved = False
    for name, target, budget in certified_cases():
        sampler = Certified(kl_budget=budget)
        bound = planner_bound(target, sampler)
        result = run_law(target, sampler)
        error = kl(reference_law(target), result.law)
        case = f"{name}, kl_budget={budget}: KL={error}, {bound}"
        assert error <= bound.path_kl + FLOOR, case
        assert bound.path_kl <= bound.entropy_bound + FLOOR, case
        assert bound.entropy_bound <= bound.max_entropy_bound + FLOOR, case
        assert bound.max_entropy_bound <= budget + FLOOR, case
        assert result.diagnostics["kl_bound"] <= budget + FLOOR, case
        if bound.expected_steps < target.length - 0.5 and error > 1e-4:
            saved = True
    assert saved


def fixed_and_other_planners():
    return [
        (TopK(sizes=(2, 2, 1)), None),
        (TopK(), 2),
        (TopK(), 3),
        (TopK(score="entropy"), 3),
        (TopK(score="margin"), 2),
        (Dilated(), 2),
        (Dilated(), 3),
        (Threshold(threshold=0.9), None),
        (Threshold(threshold=0.5), None),
        (FactorThreshold(factor=1.0), None),
        (EntropyBounded(gamma=0.5, proxy="confidence"), None),
        (SemiAutoregressive(inner=EntropyBounded(gamma=1.0), block_length=2), None),
        (SemiAutoregressive(inner=TopK(), block_length=2), 3),
        (SemiAutoregressive(inner=Certified(kl_budget=0.3), block_length=3), None),
    ]


@pytest.mark.parametrize("name", ["dirichlet", "strong", "copies", "random-0.3"])
def test_path_kl_bounds_every_planner(name):
    """For top-k, dilated, threshold, factor-threshold, EB with another proxy and semi-autoregressive
    decoding: KL(pi || phat) <= path_kl <= E_ref[sum C] <= max sum C. A deterministic planner's path
    is a function of its output (each set U is a function of the tokens revealed so far), so data
    processing is an equality here: KL(pi || phat) equals path_kl to rounding."""
    target = eb_targets()[name] if name in eb_targets() else bench(name)
    pi = reference_law(target)
    for sampler, steps in fixed_and_other_planners():
        bound = planner_bound(target, sampler, steps)
        error = kl(pi, run_law(target, sampler, steps).law)
        case = f"{name}, {sampler}, steps={steps}: KL={error}, {bound}"
        assert error <= bound.path_kl + FLOOR, case
        assert bound.path_kl <= bound.entropy_bound + FLOOR, case
        assert bound.entropy_bound <= bound.max_entropy_bound + FLOOR, case
        assert error == pytest.approx(bound.path_kl, rel=1e-8, abs=FLOOR), case


def test_one_call_is_the_total_correlation():
    """A planner that reveals everything at its first call (top-k with k = L, EB with a huge gamma)
    has path_kl = sum_l H(x_l) - H(pi), the total correlation of the table, entropy_bound =
    max_entropy_bound = sum_l H(x_l) - max_l H(x_l), and one step (computed here from the table)."""
    for target in (bench("dirichlet"), bench("strong"), MarkovChain.random(3, 5, concentration=0.3, seed=2)):
        table = target.probs()
        length = target.length
        marginal = [
            table_entropy(table.sum(dim=[d for d in range(length) if d != pos])) for pos in range(length)
        ]
        total_correlation = sum(marginal) - table_entropy(table)
        for sampler in (TopK(k=length), EntropyBounded(gamma=1e9)):
            bound = planner_bound(target, sampler)
            assert bound.expected_steps == 1.0
            assert bound.path_kl == pytest.approx(total_correlation, rel=1e-10, abs=FLOOR)
            assert bound.entropy_bound == pytest.approx(sum(marginal) - max(marginal), rel=1e-10)
            assert bound.max_entropy_bound == pytest.approx(bound.entropy_bound, rel=1e-12)


def test_names_are_accepted():
    """A registered planner name gives the same numbers as the default object of that planner."""
    target = bench("dirichlet")
    assert planner_bound(target, "eb") == planner_bound(target, EntropyBounded())
    assert planner_bound(target, "top-k", steps=3) == planner_bound(target, TopK(), steps=3)


@dataclass(frozen=True)
class OwnEligible(TopK):
    """A planner whose eligible positions planner_bound cannot reproduce."""

    def eligible(self, ctx, masked):
        return masked


def test_input_errors():
    """Non-planners, planners with their own step or eligible rule, non-targets, targets too large
    to enumerate, and steps that do not suit the sampler are rejected with clear messages."""
    target = bench("dirichlet")
    with pytest.raises(TypeError, match=r"needs a planner .* got Euler \('euler'\)"):
        planner_bound(target, "euler")
    with pytest.raises(TypeError, match="needs a planner"):
        planner_bound(target, LowConfidenceRemasking())
    with pytest.raises(TypeError, match="needs a planner .* got int"):
        planner_bound(target, 3)
    with pytest.raises(TypeError, match="OwnEligible overrides step or eligible"):
        planner_bound(target, OwnEligible())
    with pytest.raises(TypeError, match="target must be an exact target"):
        planner_bound(target.denoiser(), "eb")
    with pytest.raises(
        ValueError, match=r"\(V \+ 1\)\^L = 4\^9 = 262,144 partial states, above the limit 65,536"
    ):
        planner_bound(MarkovChain.mixing(3, 9, eps=0.1), "eb")
    assert MAX_PLANNER_STATES >= 4**8
    with pytest.raises(ValueError, match="eb takes no steps"):
        planner_bound(target, "eb", steps=3)
    with pytest.raises(ValueError, match=r"sizes \(2, 2\) sum to 4, fewer than the length 5"):
        planner_bound(target, TopK(sizes=(2, 2)))
    with pytest.raises(ValueError, match="unknown sampler|known"):
        planner_bound(target, "no-such-sampler")
    assert math.isfinite(planner_bound(MarkovChain.mixing(3, 8, eps=0.1), EntropyBounded(gamma=2.0)).path_kl)
