"""The uniform-diffusion loss: its path integrand is the library's, evaluated without float64
[B, L, V] tensors; its mean equals the library's exact continuous-time NELBO; padding and the
t -> 1 limit are handled."""

from __future__ import annotations

import pytest
import torch

from unmask import UniformProcess
from unmask.likelihood import nelbo
from unmask.likelihood.uniform import prior_kl, rate_integrand
from unmask.probabilities import Probabilities
from unmask.schedules import ConstantRateSchedule, LinearSchedule
from unmask.targets import MarkovChain
from unmask.train.losses import uniform_diffusion_loss
from unmask.train.losses.uniform import uniform_path_integrand

from .models import Z_LIMIT, all_sequences, monte_carlo

V, L = 3, 3

PROCESSES = {
    "constant-rate": UniformProcess(ConstantRateSchedule(horizon=3.0), t_min=0.05),
    "linear": UniformProcess(LinearSchedule(), t_min=0.05),
}


def _random_states(batch, length, size, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, size, (batch, length), generator=g)
    flipped = torch.rand(batch, length, generator=g) < 0.5
    z = torch.where(flipped, torch.randint(0, size, (batch, length), generator=g), x)
    return x, z, g


@pytest.mark.parametrize(
    "process",
    [*PROCESSES.values(), UniformProcess(ConstantRateSchedule(horizon=10.0), t_min=1e-3)],
    ids=["constant-rate", "linear", "steep"],
)
def test_path_integrand_is_the_librarys(process):
    """On random float64 logits (V = 50, half the tokens flipped, some models confident in the
    current token) and times from t_min to 1 - 1e-3, the closed-form integrand equals the
    library's rate_integrand to 1e-9 relative; from float32 logits, to 1e-4 relative."""
    x, z, g = _random_states(8, 4, 50, seed=0)
    logits = 3 * torch.randn(8, 4, 50, generator=g, dtype=torch.float64)
    logits[:4].scatter_(-1, z[:4, :, None], 20.0)
    t = torch.linspace(process.t_min, 1 - 1e-3, 8, dtype=torch.float64)
    where = torch.ones_like(x, dtype=torch.bool)
    where[0, 1] = False
    library = rate_integrand(process, Probabilities(logits), z, t, x, where)
    ours = uniform_path_integrand(logits, z, x, t, process, where)
    assert torch.allclose(ours, library, rtol=1e-9, atol=0)
    rounded = logits.float()
    single = uniform_path_integrand(rounded, z, x, t, process, where)
    reference = rate_integrand(process, Probabilities(rounded.double()), z, t, x, where)
    assert single.dtype == torch.float64
    assert torch.allclose(single, reference, rtol=1e-4, atol=0)


def test_path_integrand_vanishes_where_alpha_is_zero():
    """At t = 1 under the linear schedule (alpha = 0, rate = inf) every f is 0: the integrand is 0,
    not inf * 0, and its gradient is finite."""
    process = PROCESSES["linear"]
    x, z, g = _random_states(3, 4, 5, seed=1)
    logits = torch.randn(3, 4, 5, generator=g, requires_grad=True)
    t = torch.ones(3, dtype=torch.float64)
    value = uniform_path_integrand(logits, z, x, t, process, torch.ones_like(x, dtype=torch.bool))
    assert torch.equal(value, torch.zeros(3, dtype=torch.float64))
    value.sum().backward()
    assert bool(torch.isfinite(logits.grad).all())


class Tempered:
    """The exact uniform posterior with its logits halved (a model with the wrong laws)."""

    vocab_size = V

    def __init__(self, denoiser):
        self.denoiser = denoiser

    def __call__(self, z, t):
        return self.denoiser(z, t) / 2


@pytest.mark.parametrize(
    ("name", "model_kind"), [("constant-rate", "exact"), ("linear", "exact"), ("linear", "tempered")]
)
def test_mean_equals_the_librarys_exact_nelbo(name, model_kind):
    """For the exact uniform denoiser and for a tempered one, the mean of the one-draw loss over 40
    calls of 256 antithetic draws per sequence equals unmask.likelihood.nelbo(method="exact") (the
    enumerated continuous-time NELBO) within Z_LIMIT standard errors, for four sequences."""
    process = PROCESSES[name]
    target = MarkovChain.random(V, L, concentration=0.5, seed=1)
    denoiser = target.uniform_denoiser(process)
    model = denoiser if model_kind == "exact" else Tempered(denoiser)
    x = all_sequences(V, L)[[0, 5, 13, 26]]
    exact = nelbo(model, x, V, "exact", process=process).nll
    g = torch.Generator().manual_seed(31)
    mean, stderr = monte_carlo(lambda rows: uniform_diffusion_loss(model, rows, process, g).nelbo, x, 40, 256)
    assert bool(((mean - exact).abs() <= Z_LIMIT * stderr).all()), (mean, exact, stderr)


def test_padding_is_never_noised_scored_or_counted():
    """Padding keeps its token in both halves of the model call, the prior counts real tokens
    only, and a position-wise model gives the same NELBO whatever the padding holds; the model is
    called once on 2B rows with the attention mask repeated."""
    process = PROCESSES["constant-rate"]
    table = torch.randn(V, V, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = torch.tensor([[0, 1, 2], [2, 2, 1]]).repeat(40, 1)
    mask = torch.tensor([[True, True, False], [True, True, True]]).repeat(40, 1)
    other = x.clone()
    other[mask == 0] = 0
    results = []
    for sequences in (x, other):
        seen = []

        def model(z, t, attention_mask=None, seen=seen):
            seen.append((z, t, attention_mask))
            return table[z]

        model.vocab_size = V
        got = uniform_diffusion_loss(
            model, sequences, process, torch.Generator().manual_seed(3), attention_mask=mask
        )
        ((z, t, passed),) = seen
        assert z.shape == (160, 3) and torch.equal(passed, torch.cat([mask, mask]))
        both = torch.cat([sequences, sequences])
        padding = ~torch.cat([mask, mask])
        assert torch.equal(z[padding], both[padding])
        assert torch.equal(t[80:], torch.full((80,), process.t_min, dtype=torch.float64))
        assert got.tokens.tolist() == [2, 3] * 40
        assert torch.equal(got.parts["prior"], prior_kl(process, got.tokens, V))
        results.append(got.nelbo)
    assert torch.equal(results[0], results[1])


def test_parts_add_up_and_times_lie_in_the_process_range():
    """nelbo = path + reconstruction + prior, and the drawn times lie in [t_min, 1]."""
    process = PROCESSES["linear"]
    target = MarkovChain.random(V, L, concentration=0.5, seed=1)
    x = target.sample(64, generator=torch.Generator().manual_seed(0))
    got = uniform_diffusion_loss(
        target.uniform_denoiser(process), x, process, torch.Generator().manual_seed(1)
    )
    total = got.parts["path"] + got.parts["reconstruction"] + got.parts["prior"]
    assert torch.allclose(got.nelbo, total, rtol=1e-15, atol=0)
    assert bool(((got.t >= process.t_min) & (got.t <= 1)).all())
