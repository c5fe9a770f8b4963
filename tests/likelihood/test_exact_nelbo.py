"""The exact MDLM NELBO (spec §1.4): tight and schedule-invariant with an exact denoiser."""

import math

import pytest
import torch

from unmask.likelihood import exact_nelbo, mask_weights
from unmask.schedules import CosineSchedule, LinearSchedule, LogLinearSchedule, PolynomialSchedule
from unmask.targets import HMM, MarkovChain, Table

EXACT_ENDPOINT_SCHEDULES = [
    LinearSchedule(),
    CosineSchedule(),
    PolynomialSchedule(2.0),
    PolynomialSchedule(3.5),
]


def _targets():
    g = torch.Generator().manual_seed(3)
    table = torch.rand(3, 3, 3, 3, generator=g, dtype=torch.float64) ** 2
    return [
        MarkovChain.random(3, 5, concentration=0.5, seed=1),
        HMM.random(2, 3, 4, concentration=0.7, seed=2),
        Table(table / table.sum()),
    ]


@pytest.mark.parametrize("schedule", EXACT_ENDPOINT_SCHEDULES, ids=lambda s: repr(s))
def test_nelbo_equals_nll_for_every_schedule(schedule):
    """With exact conditionals the NELBO equals -log pi(x) to 1e-10 under every schedule with
    alpha(0) = 1 and alpha(1) = 0 (the weights are integrated on the schedule itself)."""
    for target in _targets():
        x = target.sample(6, generator=torch.Generator().manual_seed(0))
        nelbo = exact_nelbo(target.denoiser(), x, target.vocab_size, schedule)
        torch.testing.assert_close(nelbo, -target.log_prob(x), rtol=0, atol=1e-10)


def test_weights_are_beta_integrals():
    """w_k = B(k, L-k+1) = 1/(k C(L,k)) for every exact-endpoint schedule (schedule invariance)."""
    for schedule in EXACT_ENDPOINT_SCHEDULES:
        w = mask_weights(schedule, 7)
        expected = torch.tensor([0.0] + [1 / (k * math.comb(7, k)) for k in range(1, 8)], dtype=torch.float64)
        torch.testing.assert_close(w, expected, rtol=1e-12, atol=0)


def test_prior_mismatch_schedule_is_not_tight():
    """With alpha(1) = eps > 0 the integral stops at masking probability 1 - eps, so it misses part
    of the chain rule and falls below -log pi(x)."""
    target = MarkovChain.random(3, 4, concentration=0.5, seed=1)
    x = target.sample(4, generator=torch.Generator().manual_seed(0))
    nelbo = exact_nelbo(target.denoiser(), x, 3, LogLinearSchedule(eps=0.1))
    assert bool((nelbo < -target.log_prob(x) - 1e-3).all())


def test_wrong_denoiser_gives_an_upper_bound():
    """A tempered (wrong) denoiser: the NELBO bounds the model's own NLL, so its average under pi is
    at least the cross-entropy, hence at least H(pi) = E_pi[-log pi(x)] (enumerated exactly)."""
    target = MarkovChain.random(3, 4, concentration=0.5, seed=1)
    exact = target.denoiser()

    def tempered(z, t):
        return exact(z, t).clamp(min=-1e9) * 0.6

    grids = torch.meshgrid(*[torch.arange(3)] * 4, indexing="ij")
    x = torch.stack([g.reshape(-1) for g in grids], dim=-1)
    weights = target.log_prob(x).exp()
    entropy = float((weights * -target.log_prob(x)).sum())
    assert float((weights * exact_nelbo(tempered, x, 3)).sum()) > entropy + 1e-3


def test_bad_input():
    """Tokens outside the vocabulary, mask ids in the data and over-long sequences are refused."""
    target = MarkovChain.random(3, 4, seed=1)
    with pytest.raises(ValueError, match="x holds the id 3"):
        exact_nelbo(target.denoiser(), torch.tensor([[0, 1, 3, 2]]), 3)
    with pytest.raises(ValueError, match="2\\^L"):
        exact_nelbo(target.denoiser(), torch.zeros(1, 17, dtype=torch.long), 3)
