"""Information profile (exact and Monte Carlo) and optimal unmasking schedules (spec §7, §4.2):
the exact profile against its definition, the Monte Carlo profile against the exact one within
its standard errors, the dynamic program against brute force, the predicted error against the
path KL of ``k-random`` with those sizes, and the schedule's time grid in the grid samplers."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import unmask
from problems import masked_law_targets, random_table
from unmask.exact import (
    entropy,
    estimate_information_profile,
    information_profile,
    kl,
    optimal_sizes,
    output_law,
    path_kl,
    schedule_error,
    schedule_grid,
    tv,
)
from unmask.processes import MaskedProcess
from unmask.samplers import get
from unmask.schedules import CosineSchedule

#: Float64 sums of at most a few hundred terms.
TOLERANCE = 1e-12

#: A Monte Carlo estimate may differ from the truth by this many standard errors (two-sided
#: probability 6e-5 per comparison for a normal mean; a few dozen comparisons here).
Z = 4.0

#: Sequences per Monte Carlo profile: standard errors about 0.01 nats.
SAMPLES = 2000


def profile_by_definition(table: torch.Tensor) -> torch.Tensor:
    """``H_i = E_{|A| = i} E_{j not in A} H(x_j | x_A)`` with ``H(x_j | x_A) = H(x_{A+j}) - H(x_A)``,
    every marginal summed directly from the table (no library code but ``entropy``)."""
    length = table.dim()
    positions = range(length)

    def joint(subset) -> float:
        others = tuple(p for p in positions if p not in subset)
        return entropy(table.sum(dim=others)) if others else entropy(table)

    profile = []
    for i in positions:
        terms = [
            joint((*subset, j)) - (joint(subset) if subset else 0.0)
            for subset in itertools.combinations(positions, i)
            for j in positions
            if j not in subset
        ]
        profile.append(sum(terms) / len(terms))
    return torch.tensor(profile, dtype=torch.float64)


@pytest.mark.parametrize("name", sorted(masked_law_targets()))
def test_exact_profile_matches_definition_and_sums_to_entropy(name: str) -> None:
    """``information_profile`` of a target (or of its table) equals the definition by revealed
    set and fresh position, and ``sum_i H_i = H(pi)``, both to 1e-12."""
    target = masked_law_targets()[name]
    table = target.probs()
    profile = information_profile(target)
    assert torch.equal(profile, information_profile(table))
    assert (profile - profile_by_definition(table)).abs().max() <= TOLERANCE
    assert abs(float(profile.sum()) - entropy(table)) <= TOLERANCE


@pytest.mark.parametrize("estimator", ["entropy", "cross-entropy"])
@pytest.mark.parametrize("name", ["table", "markov", "hmm", "copies"])
def test_monte_carlo_profile_agrees_with_exact_profile(name: str, estimator: str) -> None:
    """With the exact denoiser both estimators are unbiased for ``H_i``: every ``|mean_i - H_i|``
    and ``|sum - H(pi)|`` lies within ``Z = 4`` standard errors (plus 1e-12 where an estimate has
    no variance, such as ``H_0`` by the entropy estimator), and the standard errors are below
    0.03 nats at 2000 sequences (the check has power)."""
    target = masked_law_targets()[name]
    exact = information_profile(target)
    estimate = estimate_information_profile(
        target.denoiser(), target, samples=SAMPLES, generator=0, estimator=estimator
    )
    assert estimate.mean.shape == estimate.stderr.shape == (target.length,)
    assert estimate.nfe == math.ceil(SAMPLES * target.length / 1024)
    gap = (estimate.mean - exact).abs()
    assert bool((gap <= Z * estimate.stderr + TOLERANCE).all()), (gap / estimate.stderr).tolist()
    assert float(estimate.stderr.max()) < 0.03
    assert abs(estimate.entropy - entropy(target.probs())) <= Z * estimate.entropy_stderr + TOLERANCE


def test_monte_carlo_profile_from_tokens_matches_profile_from_target() -> None:
    """Given the same sequences and the same generator state for the orders, tokens ``[n, L]``
    and a target's draws give the same estimate; ``batch_size`` does not change it."""
    target = masked_law_targets()["markov"]
    generator = torch.Generator().manual_seed(3)
    tokens = target.sample(300, generator=generator)
    from_tokens = estimate_information_profile(
        target.denoiser(), tokens, vocab_size=target.vocab_size, generator=generator, batch_size=7
    )
    from_target = estimate_information_profile(
        target.denoiser(), target, samples=300, generator=torch.Generator().manual_seed(3)
    )
    assert torch.allclose(from_tokens.mean, from_target.mean, rtol=0, atol=1e-12)
    assert torch.allclose(from_tokens.stderr, from_target.stderr, rtol=0, atol=1e-12)
    assert from_tokens.nfe == math.ceil(300 * target.length / 7)


def test_cross_entropy_profile_of_a_wrong_model_bounds_the_entropy() -> None:
    """For a miscalibrated denoiser (exact logits divided by 2, clamped), the cross-entropy
    estimator's total is the expected any-order loss ``E_sigma[-log q_sigma(x)] >= H(pi)``: it
    exceeds H(pi) by more than 4 standard errors, while the exact denoiser's does not."""
    target = masked_law_targets()["table"]
    exact = target.denoiser()

    def tempered(z, t):
        return exact(z, t).clamp(min=-30.0) / 2

    estimate = estimate_information_profile(
        tempered, target, samples=SAMPLES, vocab_size=3, generator=1, estimator="cross-entropy"
    )
    assert estimate.entropy - entropy(target.probs()) > Z * estimate.entropy_stderr


def compositions(total: int, parts: int):
    """Every ordered composition of ``total`` into ``parts`` positive integers."""
    for cuts in itertools.combinations(range(1, total), parts - 1):
        edges = (0, *cuts, total)
        yield tuple(b - a for a, b in itertools.pairwise(edges))


def test_optimal_sizes_match_brute_force() -> None:
    """For exact profiles (the law targets) and random non-increasing or arbitrary profiles of
    length 1..7, and every K = 1..L, the DP's error equals the minimum of ``schedule_error``
    over all compositions of L into K parts (to 1e-12), its sizes achieve it, and it is at most
    the even split's error."""
    generator = torch.Generator().manual_seed(0)
    profiles = [information_profile(t) for t in masked_law_targets().values()]
    for length in range(1, 8):
        draws = torch.rand(length, dtype=torch.float64, generator=generator)
        profiles += [draws.sort(descending=True).values * 2, draws]
    for profile in profiles:
        length = len(profile)
        for blocks in range(1, length + 1):
            best = optimal_sizes(profile, blocks)
            brute = min(schedule_error(profile, sizes) for sizes in compositions(length, blocks))
            assert len(best.sizes) == blocks and sum(best.sizes) == length and min(best.sizes) >= 1
            assert abs(best.error - brute) <= TOLERANCE, (profile.tolist(), blocks, best, brute)
            assert abs(schedule_error(profile, best.sizes) - best.error) <= TOLERANCE
            assert best.error <= best.uniform_error + TOLERANCE


@pytest.mark.parametrize("name", sorted(masked_law_targets()))
def test_predicted_error_is_the_path_kl_of_k_random(name: str) -> None:
    """With the exact profile, ``schedule_error(H, sizes)`` is the path KL of ``k-random`` with
    those sizes (an identity, spec §4.2; ``path_kl`` is checked against direct path enumeration
    in test_path_kl.py) to 1e-12, and bounds the exact ``KL(pi || phat)`` of that sampler's
    output law (spec §4.2 (b)) for the DP's sizes and the even sizes at every K; one block gives
    the total correlation and L blocks give 0."""
    target = masked_law_targets()[name]
    table = target.probs()
    profile = information_profile(target)
    length = target.length
    for blocks in range(1, length + 1):
        best = optimal_sizes(profile, blocks)
        for sizes in {best.sizes, tuple(sorted(best.sizes)), tuple(sorted(best.sizes, reverse=True))}:
            predicted = schedule_error(profile, sizes)
            sampler = get("k-random", sizes=sizes)
            assert abs(predicted - path_kl(target, sampler)) <= TOLERANCE
            assert kl(table, output_law(target, sampler)) <= predicted + TOLERANCE
    marginals = sum(entropy(table.sum(dim=[j for j in range(length) if j != i])) for i in range(length))
    assert abs(schedule_error(profile, (length,)) - (marginals - entropy(table))) <= TOLERANCE
    assert abs(schedule_error(profile, (1,) * length)) <= TOLERANCE


def test_schedule_grid_is_a_valid_grid_with_the_expected_sizes() -> None:
    """``schedule_grid(sizes)`` is float64, strictly decreasing from 1 to 0, with
    ``alpha(t_j) L = s_j`` (1e-12) for the linear and the cosine schedule; Tweedie's reveal
    probabilities on it are ``k_j / (L - s_{j-1})`` (expected block sizes ``k_j``)."""
    sizes = (1, 3, 2, 4)
    length, ends = sum(sizes), torch.tensor(sizes, dtype=torch.float64).cumsum(0)
    for process in (MaskedProcess(), MaskedProcess(CosineSchedule())):
        grid = schedule_grid(sizes, process)
        assert grid.dtype == torch.float64 and grid.shape == (len(sizes) + 1,)
        assert float(grid[0]) == 1.0 and float(grid[-1]) == 0.0
        assert bool((grid[1:] < grid[:-1]).all())
        revealed = process.schedule.alpha(grid) * length
        assert (revealed[1:] - ends).abs().max() <= TOLERANCE
        reveal = get("tweedie").reveal_probability(process, grid[:-1], grid[1:])
        left = length - torch.cat([ends.new_zeros(1), ends[:-1]])
        assert (reveal - torch.tensor(sizes) / left).abs().max() <= TOLERANCE


def test_euler_runs_on_the_optimal_grid() -> None:
    """Euler on the DP's grid (K = 3 blocks for L = 5) runs in ``unmask.sample`` (tokens clean,
    at most K calls) and in the exact law, whose TV is measured (a number in (0, 1)) and whose KL
    is below its path KL (the Binomial-size expectation of E)."""
    target = masked_law_targets()["markov"]
    best = optimal_sizes(information_profile(target), 3)
    grid = schedule_grid(best.sizes)
    result = unmask.sample(
        target.denoiser(), "euler", vocab_size=3, length=5, batch_size=64, grid=grid, generator=0
    )
    assert result.tokens.shape == (64, 5) and int(result.tokens.max()) < 3
    assert result.nfe <= len(best.sizes)
    law = output_law(target, "euler", grid=grid)
    distance = tv(law, target.probs())
    assert 0 < distance < 1
    assert kl(target.probs(), law) <= path_kl(target, "euler", grid=grid) + TOLERANCE


def test_bad_arguments_raise() -> None:
    """Sizes that do not sum to L, more blocks than tokens, and tokens without ``vocab_size``
    are refused with ``ValueError``."""
    profile = information_profile(random_table(2, 3, seed=0))
    with pytest.raises(ValueError, match="sum to"):
        schedule_error(profile, (1, 1))
    with pytest.raises(ValueError, match="exceeds the length"):
        optimal_sizes(profile, 4)
    with pytest.raises(ValueError, match="vocab_size is required"):
        estimate_information_profile(lambda z, t: None, torch.zeros(4, 3, dtype=torch.long))
