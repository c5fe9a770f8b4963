"""The Monte-Carlo budget: fixed draws, a target standard error with a cap, batching and chunking."""

from __future__ import annotations

import math

import pytest
import torch

from problems import likelihood_targets
from unmask.likelihood import nelbo
from unmask.likelihood.budget import RunningStats


def test_running_stats_merge_equals_direct_moments():
    """Chan's merge over uneven chunks gives the mean and unbiased variance of all values (1e-12)."""
    g = torch.Generator().manual_seed(0)
    values = torch.randn(1000, 2, generator=g, dtype=torch.float64) * 3 + 5
    index = torch.randint(0, 4, (1000,), generator=g)
    stats = RunningStats(4, 2)
    for start, stop in [(0, 7), (7, 300), (300, 301), (301, 1000)]:
        stats.add(index[start:stop], values[start:stop])
    for b in range(4):
        rows = values[index == b]
        torch.testing.assert_close(stats.mean[b], rows.mean(0), rtol=0, atol=1e-12)
        torch.testing.assert_close(stats.variance()[b], rows.var(0), rtol=0, atol=1e-12)
    assert stats.count.tolist() == torch.bincount(index, minlength=4).tolist()


def test_target_stderr_is_met_or_the_cap_is_reached():
    """With target_stderr every sequence ends at or below the target or at max_samples; sequences
    of larger variance get more draws, and each reports its own count."""
    target = likelihood_targets()[0]
    x = target.sample(6, generator=torch.Generator().manual_seed(0))
    result = nelbo(
        target.denoiser(), x, 3, "time-free", samples=64, generator=1, target_stderr=0.08, max_samples=20000
    )
    done = (result.stderr <= 0.08) | (result.samples == 20000)
    assert bool(done.all()), (result.stderr, result.samples)
    assert bool((result.samples >= 64).all()) and len(set(result.samples.tolist())) > 1
    order = torch.argsort(result.variance)
    assert result.samples[order[-1]] >= result.samples[order[0]]
    assert bool((result.nfe_per_row == result.samples).all())


def test_cap_stops_a_run_that_cannot_reach_the_target():
    """An unreachable target stops every sequence at max_samples exactly."""
    target = likelihood_targets()[0]
    x = target.sample(3, generator=torch.Generator().manual_seed(2))
    result = nelbo(
        target.denoiser(), x, 3, "time-free", samples=16, generator=3, target_stderr=1e-6, max_samples=300
    )
    assert result.samples.tolist() == [300, 300, 300]


def test_chunks_bound_the_rows_of_each_call():
    """max_rows cuts the B x samples draws into ceil(B samples / max_rows) batched calls, none larger."""
    target = likelihood_targets()[0]
    x = target.sample(5, generator=torch.Generator().manual_seed(4))
    sizes = []
    exact = target.denoiser()

    def recording(z, t):
        sizes.append(len(z))
        return exact(z, t)

    result = nelbo(recording, x, 3, "uniform-count", samples=100, generator=5, max_rows=64)
    assert result.nfe == len(sizes) == math.ceil(500 / 64) and max(sizes) <= 64


def test_units_round_samples_up_and_same_seed_same_numbers():
    """Antithetic pairs round 5 draws up to 6 (3 pairs); a single draw has an infinite standard
    error; a fixed seed reproduces the estimate exactly."""
    target = likelihood_targets()[0]
    x = target.sample(2, generator=torch.Generator().manual_seed(6))
    pairs = nelbo(target.denoiser(), x, 3, "time-integral", samples=5, generator=0, variant="antithetic")
    assert pairs.samples.tolist() == [6, 6]
    single = nelbo(target.denoiser(), x, 3, "time-free", samples=1, generator=0)
    assert bool(torch.isinf(single.stderr).all())
    again = [nelbo(target.denoiser(), x, 3, "time-free", samples=32, generator=7).nll for _ in range(2)]
    torch.testing.assert_close(again[0], again[1], rtol=0, atol=0)


@pytest.mark.parametrize("samples", [0, -3])
def test_a_zero_budget_is_refused(samples):
    """samples must be a positive integer."""
    target = likelihood_targets()[0]
    with pytest.raises(ValueError, match="samples must be an integer >= 1"):
        nelbo(target.denoiser(), target.sample(1), 3, samples=samples)


def test_progress_reports_draws():
    """progress(done, planned) reaches the total number of draws."""
    target = likelihood_targets()[0]
    seen = []
    nelbo(
        target.denoiser(),
        target.sample(3),
        3,
        samples=10,
        max_rows=8,
        progress=lambda d, p: seen.append((d, p)),
    )
    assert seen[-1] == (30, 30) and all(d <= p for d, p in seen)
