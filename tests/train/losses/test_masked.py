"""The masked-diffusion loss: unbiased for -log pi(x) with exact conditionals under several
schedules, exact values at fixed times, padding, and reproducibility."""

from __future__ import annotations

import math

import pytest
import torch

from unmask.likelihood.masks import bernoulli_masks
from unmask.schedules import CosineSchedule, LinearSchedule, get_schedule
from unmask.targets import MarkovChain
from unmask.train.losses import DEFAULT_T_MIN, antithetic_times, masked_diffusion_loss

from .models import Z_LIMIT, monte_carlo, spread_of_support

V, L = 3, 5


@pytest.fixture(scope="module")
def chain():
    """A peaked, strongly dependent chain (V = 3, L = 5) and four sequences from its most likely
    to its least likely one (-log pi from 1 to 22 nats)."""
    target = MarkovChain.random(vocab_size=V, length=L, concentration=0.5, seed=0)
    return target, spread_of_support(target)


def clip_allowance(target, x, schedule, t_min):
    """Twice the documented clip bias ``(1 - alpha(t_min)) sum_i -log pi(x_i | x_{-i})`` ``[n]``."""
    loo = -target.denoiser().loo(x, torch.zeros(len(x), dtype=torch.float64))
    per_position = loo.gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(-1)
    return 2 * float(schedule.masked_fraction(t_min)) * per_position


@pytest.mark.parametrize("name", ["linear", "cosine", "polynomial"])
def test_mean_equals_exact_nll_with_exact_conditionals(chain, name):
    """Spec §1.4: with the exact denoiser, the mean of the one-draw NELBO over 40 independent
    calls (256 antithetic draws per sequence each) equals -log pi(x) within Z_LIMIT standard
    errors plus twice the documented clip bias, for schedules with alpha(0) = 1, alpha(1) = 0."""
    target, x = chain
    schedule = get_schedule(name)
    denoiser = target.denoiser()
    g = torch.Generator().manual_seed(11)
    mean, stderr = monte_carlo(
        lambda rows: masked_diffusion_loss(denoiser, rows, schedule, g).nelbo, x, 40, 256
    )
    exact = -target.log_prob(x)
    allowance = clip_allowance(target, x, schedule, DEFAULT_T_MIN)
    assert bool(((mean - exact).abs() <= Z_LIMIT * stderr + allowance).all()), (mean, exact, stderr)


def test_plain_times_are_unbiased_too(chain):
    """With i.i.d. times (antithetic=False) the per-row draws are independent; their mean over
    10240 draws per sequence equals -log pi(x) within Z_LIMIT standard errors (cosine schedule)."""
    target, x = chain
    rows = x.repeat(2560, 1)
    schedule = CosineSchedule()
    got = masked_diffusion_loss(
        target.denoiser(), rows, schedule, torch.Generator().manual_seed(4), antithetic=False
    ).nelbo.reshape(2560, len(x))
    mean, stderr = got.mean(0), got.std(0) / math.sqrt(2560)
    allowance = clip_allowance(target, x, schedule, DEFAULT_T_MIN)
    assert bool(((mean + target.log_prob(x)).abs() <= Z_LIMIT * stderr + allowance).all())


class TableModel:
    """Position-wise logits ``table[z_i]`` (``[V + 1, V]``): position ``i`` reads ``z_i`` only.
    Records the states it is called with."""

    vocab_size = V

    def __init__(self, seed: int = 0):
        self.table = torch.randn(V + 1, V, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, z, t, attention_mask=None):
        self.calls.append((z.clone(), t.clone()))
        return self.table[z]


def test_value_at_fixed_times_is_the_formula():
    """At t = 1 (linear: every position masked, hazard 1) the NELBO is (1 - t_min) sum_i
    -log softmax(table[V])[x_i], by hand; at t = 1 under the cosine schedule the hazard is 0 and
    so is the NELBO (to rounding); at t = 0 nothing is masked and the NELBO is 0 (not inf * 0)."""
    model = TableModel()
    x = torch.tensor([[0, 1, 2, 2, 1], [2, 2, 0, 1, 0]])
    ones = torch.ones(2, dtype=torch.float64)
    got = masked_diffusion_loss(model, x, LinearSchedule(), torch.Generator().manual_seed(0), t=ones)
    probs = [math.exp(v) for v in model.table[V].tolist()]
    by_hand = [(1 - DEFAULT_T_MIN) * sum(-math.log(probs[v] / sum(probs)) for v in row) for row in x.tolist()]
    assert torch.allclose(got.nelbo, torch.tensor(by_hand, dtype=torch.float64), rtol=1e-12)
    assert torch.equal(model.calls[-1][0], torch.full_like(x, V))
    cosine = masked_diffusion_loss(model, x, CosineSchedule(), torch.Generator().manual_seed(0), t=ones)
    assert bool((cosine.nelbo.abs() < 1e-12).all())  # cos(pi/2) rounds to 6e-17
    zero = masked_diffusion_loss(model, x, LinearSchedule(), None, t=torch.zeros(2, dtype=torch.float64))
    assert torch.equal(zero.nelbo, torch.zeros(2, dtype=torch.float64))


def test_padding_is_never_masked_scored_or_counted():
    """Padding (attention_mask 0) keeps its token in every state the model sees, adds nothing (a
    position-wise model gives the same NELBO whatever the padding holds) and is not counted in
    tokens; the model receives the mask as a bool attention_mask."""
    x = torch.tensor([[0, 1, 2, 2, 1], [2, 2, 0, 1, 0]])
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    other = x.clone()
    other[0, 3:] = torch.tensor([0, 0])
    results = []
    for sequences in (x, other):
        model = TableModel()
        kept = {}

        def spy(z, t, attention_mask=None, model=model, kept=kept):
            kept["mask"] = attention_mask
            return model(z, t)

        spy.vocab_size = V
        got = masked_diffusion_loss(
            spy, sequences.repeat(50, 1), LinearSchedule(), torch.Generator().manual_seed(1),
            attention_mask=mask.repeat(50, 1),
        )  # fmt: skip
        z = model.calls[-1][0]
        padding = mask.repeat(50, 1) == 0
        assert torch.equal(z[padding], sequences.repeat(50, 1)[padding])
        assert bool((z == V).any())
        assert kept["mask"].dtype == torch.bool and torch.equal(kept["mask"], mask.repeat(50, 1) == 1)
        assert got.tokens.tolist() == [3, 5] * 50
        results.append(got.nelbo)
    assert torch.equal(results[0], results[1])


def test_same_generator_state_gives_the_same_loss_and_times():
    """Two calls with equally seeded generators give identical times, NELBOs and losses."""
    target = MarkovChain.random(vocab_size=V, length=L, concentration=0.5, seed=0)
    x = target.sample(32, generator=torch.Generator().manual_seed(0))
    a = masked_diffusion_loss(target.denoiser(), x, LinearSchedule(), torch.Generator().manual_seed(9))
    b = masked_diffusion_loss(target.denoiser(), x, LinearSchedule(), torch.Generator().manual_seed(9))
    assert torch.equal(a.t, b.t) and torch.equal(a.nelbo, b.nelbo) and torch.equal(a.loss, b.loss)


def test_low_precision_logits_are_scored_in_float32():
    """bf16 logits give a float64 NELBO within bf16 rounding of the float32 logits' NELBO (the
    log-softmax accumulates in float32)."""
    model = TableModel()
    x = torch.tensor([[0, 1, 2, 2, 1]] * 64)

    def as_dtype(dtype):
        def f(z, t):
            return model.table[z].to(dtype)

        f.vocab_size = V
        return masked_diffusion_loss(f, x, LinearSchedule(), torch.Generator().manual_seed(2)).nelbo

    low, high = as_dtype(torch.bfloat16), as_dtype(torch.float32)
    assert low.dtype == torch.float64
    assert torch.allclose(low, high, rtol=2e-2, atol=1e-2)


def test_an_explicit_mask_pattern_gives_the_drawn_loss() -> None:
    """Passing the times and mask pattern a generator drew (``t=``, ``masked=``) gives the same
    per-sequence NELBO as letting the loss draw them with that generator; a pattern without its
    times is refused."""
    target = MarkovChain.random(vocab_size=3, length=6, concentration=0.5, seed=1)
    x = target.sample(16, generator=torch.Generator().manual_seed(0))
    model, schedule = target.denoiser(), LinearSchedule()
    drawn = masked_diffusion_loss(model, x, schedule, torch.Generator().manual_seed(5), vocab_size=3)
    g = torch.Generator().manual_seed(5)
    t = antithetic_times(16, g)
    masked = bernoulli_masks(torch.ones_like(x, dtype=torch.bool), schedule.masked_fraction(t), g)
    given = masked_diffusion_loss(model, x, schedule, vocab_size=3, t=t, masked=masked)
    assert torch.equal(drawn.nelbo, given.nelbo)
    with pytest.raises(ValueError, match="needs the times"):
        masked_diffusion_loss(model, x, schedule, vocab_size=3, masked=masked)
