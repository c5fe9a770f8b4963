"""The HollowDiff loss: with exact leave-one-out conditionals both terms are unbiased for
-log pi(x); for a time-agnostic model with consistent conditionals the two terms have the same
expectation; the exact model minimises each term on average over pi."""

from __future__ import annotations

import math

import pytest
import torch

from unmask.schedules import get_schedule
from unmask.targets import MarkovChain
from unmask.train.losses import DEFAULT_T_MIN, hollow_loss

from .models import Z_LIMIT, Tempered, monte_carlo, spread_of_support

V, L = 3, 5


@pytest.fixture(scope="module")
def chain():
    target = MarkovChain.random(vocab_size=V, length=L, concentration=0.5, seed=0)
    return target, spread_of_support(target)


def clip_allowance(target, x, schedule, t_min):
    """Twice the clip bias of order t_min at both ends: ``(1 - alpha(t_min)) sum_i -log pi(x_i |
    x_{-i}) + alpha(1 - t_min) sum_i -log pi(x_i)`` ``[n]`` (module docstring of the loss)."""
    zeros = torch.zeros(len(x), dtype=torch.float64)
    denoiser = target.denoiser()
    loo = -denoiser.loo(x, zeros).gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(-1)
    marginal = -denoiser(torch.full_like(x, V), zeros).gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(-1)
    m_low, alpha_high = schedule.masked_fraction(t_min), schedule.alpha(1 - t_min)
    return 2 * (float(m_low) * loo + float(alpha_high) * marginal)


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_both_terms_are_unbiased_with_exact_conditionals(chain, name):
    """With the exact denoiser (its loo gives the exact leave-one-out conditionals), the mean of
    L_masked, of L_unmasked and of L_HD over 40 independent calls of 256 draws per sequence equals
    -log pi(x) within Z_LIMIT standard errors plus twice the clip bias."""
    target, x = chain
    schedule = get_schedule(name)
    denoiser = target.denoiser()
    g = torch.Generator().manual_seed(21)
    exact = -target.log_prob(x)
    allowance = clip_allowance(target, x, schedule, DEFAULT_T_MIN)
    kept = []

    def run(rows):
        got = hollow_loss(denoiser, rows, schedule, g)
        kept.append(got)
        return got.nelbo

    mean, stderr = monte_carlo(run, x, 40, 256)
    assert bool(((mean - exact).abs() <= Z_LIMIT * stderr + allowance).all()), (mean, exact, stderr)
    for part in ("masked", "unmasked"):
        means = torch.stack([k.parts[part].reshape(256, len(x)).mean(0) for k in kept])
        mean, stderr = means.mean(0), means.std(0) / math.sqrt(len(means))
        assert bool(((mean - exact).abs() <= Z_LIMIT * stderr + allowance).all()), (part, mean, exact)


@pytest.fixture(scope="module")
def paired():
    """8192 sequences drawn from pi, scored by the exact model and by the same conditionals at
    temperature 2, on identical draws (equally seeded generators), under the linear schedule."""
    target = MarkovChain.random(vocab_size=V, length=L, concentration=0.5, seed=0)
    x = target.sample(8192, generator=torch.Generator().manual_seed(1))
    schedule = get_schedule("linear")
    exact = hollow_loss(target.denoiser(), x, schedule, torch.Generator().manual_seed(2), antithetic=False)
    tempered = hollow_loss(
        Tempered(target.denoiser(), 2.0), x, schedule, torch.Generator().manual_seed(2), antithetic=False
    )
    return exact, tempered


@pytest.mark.parametrize("part", ["masked", "unmasked"])
def test_exact_model_minimises_each_term(paired, part):
    """Averaged over x ~ pi, each term of the tempered model exceeds the exact model's (their
    difference is E_sigma KL(pi || q_sigma) > 0): the paired mean difference is above Z_LIMIT
    standard errors."""
    exact, tempered = paired
    difference = tempered.parts[part] - exact.parts[part]
    stderr = difference.std() / math.sqrt(len(difference))
    assert float(difference.mean()) > Z_LIMIT * float(stderr)


def test_terms_agree_in_expectation_for_a_time_agnostic_model(paired):
    """For a time-agnostic model whose loo agrees with its conditionals (the tempered one),
    E[L_masked] = E[L_unmasked] (both are its any-order autoregressive loss): the mean of their
    difference is within Z_LIMIT standard errors of 0, and L_HD is their average."""
    _, tempered = paired
    difference = tempered.parts["masked"] - tempered.parts["unmasked"]
    stderr = difference.std() / math.sqrt(len(difference))
    assert abs(float(difference.mean())) <= Z_LIMIT * float(stderr)
    halves = (tempered.parts["masked"] + tempered.parts["unmasked"]) / 2
    assert torch.equal(tempered.nelbo, halves)


def test_one_loo_call_scores_both_terms():
    """The loss calls the model's loo once, never the model itself, with times in
    [t_min, 1 - t_min]."""
    target = MarkovChain.random(vocab_size=V, length=L, concentration=0.5, seed=0)
    denoiser = target.denoiser()
    calls = {"loo": 0, "call": 0}

    class Counting:
        vocab_size = V

        def __call__(self, z, t):
            calls["call"] += 1
            return denoiser(z, t)

        def loo(self, z, t):
            calls["loo"] += 1
            return denoiser.loo(z, t)

    x = target.sample(64, generator=torch.Generator().manual_seed(0))
    got = hollow_loss(Counting(), x, get_schedule("linear"), torch.Generator().manual_seed(0), t_min=0.2)
    assert calls == {"loo": 1, "call": 0}
    assert bool(((got.t >= 0.2) & (got.t <= 0.8)).all())
