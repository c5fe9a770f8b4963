"""With a wrong denoiser every bound stays above the truth where the theory says it must.

Per sequence, a NELBO bounds the *model's* NLL, not pi's; averaged over x ~ pi it is therefore at
least the cross-entropy, hence at least H(pi) = E_pi[-log pi(x)] (Gibbs). Every expectation here
is enumerated exactly (tiny target, every sequence, every mask set).
"""

from __future__ import annotations

import torch

from unmask.exact import output_law
from unmask.likelihood import draw_moments, exact_nelbo, nelbo
from unmask.targets import MarkovChain
from unmask.targets.base import flat_index

from .helpers import Z_LIMIT, support


def _problem():
    target = MarkovChain.random(3, 4, concentration=0.5, seed=1)
    exact = target.denoiser()

    def tempered(z, t):
        """The exact logits at temperature 1/0.6 (over-confident), still time-agnostic."""
        return exact(z, t).clamp(min=-1e9) * 0.6

    tempered.time_agnostic = True
    return target, tempered


def test_every_bound_is_above_the_entropy_on_average():
    """sum_x pi(x) E[estimate(x)] >= H(pi) + 1e-3 for the exact NELBO, time-free, uniform-count,
    the time-integral clipped at eps = 1e-3 (its clip bias is far below the margin) and the discrete
    bound at T = 2, 8, 32 (which, on this problem, also stays above the continuous NELBO on
    average)."""
    target, tempered = _problem()
    x, p = support(target)
    entropy = float(-(p * p.log()).sum())
    continuous = float((p * exact_nelbo(tempered, x, 3)).sum())
    assert continuous > entropy + 1e-3, (continuous, entropy)
    for method, options in [
        ("time-free", {}),
        ("uniform-count", {}),
        ("time-integral", {"eps": 1e-3}),
        ("discrete", {"steps": 2}),
        ("discrete", {"steps": 8}),
        ("discrete", {"steps": 32}),
    ]:
        average = float((p * draw_moments(tempered, x, 3, method, **options).mean).sum())
        assert average > entropy + 1e-3, (method, options, average, entropy)
        if method == "discrete":
            assert average >= continuous - 1e-12, (options, average, continuous)


def test_nelbo_bounds_the_models_own_nll_per_sequence():
    """For a time-agnostic denoiser the continuous-time model is the random-order one-token-at-a-time
    sampler (first-hitting), so NELBO(x) >= -log phat_FHS(x) for every x (Jensen over orders); the
    time-free and uniform-count estimators average exactly to that NELBO (1e-12)."""
    target, tempered = _problem()
    x, _ = support(target)
    bound = exact_nelbo(tempered, x, 3)
    law = output_law(target, "first-hitting", denoiser=tempered).reshape(-1)
    assert bool((bound >= -law[flat_index(x, 3)].log() - 1e-12).all())
    for method in ("time-free", "uniform-count"):
        torch.testing.assert_close(draw_moments(tempered, x, 3, method).mean, bound, rtol=0, atol=1e-12)


def test_monte_carlo_with_a_wrong_denoiser_estimates_its_bound():
    """Monte Carlo with the tempered denoiser lands within 3 standard errors of its exact NELBO
    (uniform-count, 2000 draws, 4 sequences), above -log pi(x) on average."""
    target, tempered = _problem()
    x = target.sample(4, generator=torch.Generator().manual_seed(3))
    result = nelbo(tempered, x, 3, "uniform-count", samples=2000, generator=4)
    exact = exact_nelbo(tempered, x, 3)
    assert bool(((result.nll - exact).abs() <= Z_LIMIT * result.stderr).all()), (result.nll, exact)
