"""The Monte Carlo ``pair_tv`` of ``unmask bench``: its interval covers the true value at the
nominal rate, it contains its own estimate, and its noise correction removes most of the plug-in
bias; checked on a small target whose samplers' exact laws (and so their exact pair TVs) are known."""

import math

import pytest
import torch

import unmask
from unmask.bench.estimates import (
    binomial_mean_abs_deviation,
    law_pair_marginals,
    pair_marginals,
    pair_tv_from_pairs,
    pair_tv_null_margin,
    pair_tv_value,
)
from unmask.bench.fit import TV_FLOOR, best_per_budget
from unmask.bench.run import Cell
from unmask.targets import MarkovChain

REPEATS = 400
SAMPLES = 400
LENGTH = 5
VOCAB = 3


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: extra threads only contend
    yield
    torch.set_num_threads(threads)


def draws(law: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``[REPEATS, SAMPLES, L]`` sequences drawn from an exact law ``[V] * L`` (the same law as
    running the sampler, and much faster)."""
    flat = torch.multinomial(law.reshape(-1), REPEATS * SAMPLES, replacement=True, generator=generator)
    digits = [(flat // VOCAB ** (LENGTH - 1 - j)) % VOCAB for j in range(LENGTH)]
    return torch.stack(digits, -1).reshape(REPEATS, SAMPLES, LENGTH)


@pytest.mark.parametrize(("sampler", "steps"), [("first-hitting", None), ("euler", 4)])
def test_interval_covers_the_exact_pair_tv(sampler, steps):
    """Over 400 repeats of 400 sequences: the 95% interval covers the exact pair TV at least at
    the nominal rate (within 3 binomial standard errors), at about the nominal rate for the
    exact sampler (true value 0), and always contains the estimate; the estimate's bias is
    below the plug-in's (and below half the exact-sampler plug-in bias when the truth is 0)."""
    target = MarkovChain.mixing(VOCAB, LENGTH, eps=0.7)
    exact = pair_marginals(target)
    law = unmask.exact.output_law(target, sampler, steps)
    truth = pair_tv_value(law_pair_marginals(law), exact)
    generator = torch.Generator().manual_seed(0)
    null_margin = pair_tv_null_margin(target, SAMPLES, generator)
    estimates = [
        pair_tv_from_pairs(exact, tokens, generator, null_margin) for tokens in draws(law, generator)
    ]
    covered = sum(e.interval[0] <= truth <= e.interval[1] for e in estimates) / REPEATS
    stderr = math.sqrt(0.95 * 0.05 / REPEATS)
    assert covered >= 0.95 - 3 * stderr, (covered, truth)
    assert all(e.interval[0] <= e.estimate <= e.interval[1] for e in estimates)
    mean_estimate = sum(e.estimate for e in estimates) / REPEATS
    mean_plugin = sum(e.plugin for e in estimates) / REPEATS
    null_bias = estimates[0].null_bias
    assert abs(mean_estimate - truth) < abs(mean_plugin - truth), (mean_estimate, mean_plugin, truth)
    if sampler == "first-hitting":
        assert truth < 1e-12
        assert covered <= 0.95 + 3 * stderr, covered  # nominal, not merely conservative
        # the plug-in's mean is the exact null bias b0, and the correction removes over half of it
        plugin_sd = math.sqrt(sum((e.plugin - mean_plugin) ** 2 for e in estimates) / (REPEATS - 1))
        assert abs(mean_plugin - null_bias) < 4 * plugin_sd / math.sqrt(REPEATS)
        assert mean_estimate < 0.6 * null_bias
    else:
        assert truth > 0.02  # a real error, well above the float64 floor


def test_binomial_mean_absolute_deviation_is_exact():
    """de Moivre's closed form equals the enumerated E|X - np| for X ~ Binomial(n, p)."""
    n = 37
    p = torch.tensor([0.0, 0.01, 0.2, 0.5, 0.77, 0.999, 1.0], dtype=torch.float64)
    k = torch.arange(n + 1, dtype=torch.float64)
    inside = p.clamp(1e-300, 1 - 1e-16)[:, None]
    log_pmf = (
        math.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)
        + k * inside.log() + (n - k) * torch.log1p(-inside)
    )  # fmt: skip
    enumerated = (log_pmf.exp() * (k - n * p[:, None]).abs()).sum(-1)
    enumerated[0] = enumerated[-1] = 0.0
    torch.testing.assert_close(binomial_mean_abs_deviation(n, p), enumerated, rtol=1e-9, atol=1e-12)


def cell(sampler, budget, *, tv=None, pair=None, interval=None):
    method = "exact" if tv is not None else "monte-carlo"
    return Cell(
        "t", "masked", sampler, budget, budget, float(budget), None, method, tv, None, 0.0, None, None,
        pair, interval, pair, 0.0 if pair is not None else None, None, 0.0, "1", "",
    )  # fmt: skip


def test_best_per_budget_ranks_only_separated_intervals():
    """A sampler is named best only where its interval lies below every other's; overlapping
    intervals (or exact TVs at the float64 floor) are reported as a tie."""
    sampled = [
        cell("a", 4, pair=0.10, interval=(0.08, 0.12)),
        cell("b", 4, pair=0.20, interval=(0.18, 0.22)),
        cell("a", 8, pair=0.05, interval=(0.00, 0.10)),
        cell("b", 8, pair=0.06, interval=(0.01, 0.11)),
    ]
    rows = best_per_budget(sampled)
    assert [(r["budget"], r["sampler"]) for r in rows] == [(4, "a"), (8, "tie: a, b")]
    assert rows[1]["samplers"] == ["a", "b"] and rows[1]["steps"] is None
    assert rows[1]["metric"] == "pair_tv" and rows[1]["interval"] == [0.0, 0.10] and rows[1]["tv"] is None
    exact = [
        cell("a", 4, tv=0.3),
        cell("b", 4, tv=0.2),
        cell("c", 8, tv=1e-16),
        cell("d", 8, tv=TV_FLOOR / 2),
    ]
    rows = best_per_budget(exact)
    assert [(r["budget"], r["sampler"]) for r in rows] == [(4, "b"), (8, "tie: c, d")]
    assert rows[0]["tv"] == 0.2 and rows[0]["steps"] == 4 and rows[0]["interval"] is None
