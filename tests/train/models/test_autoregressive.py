"""The autoregressive transformer: causal, normalised, and its sampler draws from its own law."""

from __future__ import annotations

import itertools

import pytest
import torch

from stats import CHI_SQUARE_LEVEL, chi_square_pvalue

from .helpers import L, V, tiny, tokens


def test_output_i_does_not_depend_on_x_j_for_j_at_or_after_i() -> None:
    """Changing ``x_j`` leaves the logits at positions ``i <= j`` bit-identical and changes those at
    some ``i > j`` (output ``i`` predicts ``x_i`` from BOS and ``x_{<i}``)."""
    model = tiny("autoregressive", noise=0.05)
    x = tokens(3, seed=10, masked=False)
    reference = model(x)
    for j in range(L):
        changed = x.clone()
        changed[:, j] = (x[:, j] + 1) % V
        out = model(changed)
        assert torch.equal(out[:, : j + 1], reference[:, : j + 1])
        if j < L - 1:
            assert not torch.equal(out[:, j + 1 :], reference[:, j + 1 :])


def test_log_prob_is_the_sum_of_gathered_log_softmax_over_real_positions() -> None:
    """``log_prob(x)`` is float64 ``sum_i log_softmax(logits_i)[x_i]``, over the real positions
    when a mask is given."""
    model = tiny("autoregressive", noise=0.05)
    x = tokens(4, seed=11, masked=False)
    terms = torch.log_softmax(model(x).double(), -1).gather(-1, x[..., None]).squeeze(-1)
    log_prob = model.log_prob(x)
    assert log_prob.dtype == torch.float64
    torch.testing.assert_close(log_prob, terms.sum(-1), atol=1e-5, rtol=1e-6)
    mask = torch.arange(L) < torch.tensor([[8], [5], [3], [1]])
    terms = torch.log_softmax(model(x, attention_mask=mask).double(), -1).gather(-1, x[..., None]).squeeze(-1)
    torch.testing.assert_close(model.log_prob(x, mask), (terms * mask).sum(-1), atol=1e-5, rtol=1e-6)


def test_log_prob_is_a_normalised_law_over_all_sequences() -> None:
    """``sum_x exp(log_prob(x)) = 1`` over all ``V^3`` sequences of length 3 (the shift by BOS
    and the causal mask are right: no position peeks at its own token)."""
    model = tiny("autoregressive", noise=0.3)
    every = torch.tensor(list(itertools.product(range(V), repeat=3)))
    total = torch.logsumexp(model.log_prob(every), 0)
    assert abs(total.item()) < 1e-5


def test_sampling_is_reproducible_and_valid() -> None:
    """A fixed seed (or a generator in the same state) gives the same samples ``[B, L]`` of clean
    ids; another seed gives others; ``length`` sets their length."""
    model = tiny("autoregressive", noise=0.3)
    first = model.sample(16, generator=0)
    assert first.shape == (16, L) and first.dtype == torch.long
    assert ((first >= 0) & (first < V)).all()
    assert torch.equal(model.sample(16, generator=torch.Generator().manual_seed(0)), first)
    assert not torch.equal(model.sample(16, generator=1), first)
    assert model.sample(4, generator=0, length=3).shape == (4, 3)


def _uneven() -> torch.nn.Module:
    """A tiny autoregressive model whose law is far from uniform yet spread over many sequences."""
    model = tiny("autoregressive", noise=0.05)
    with torch.no_grad():
        model.head.weight.mul_(3.0)
    return model


def test_samples_follow_the_model_law() -> None:
    """The empirical law of 3000 samples of length 2 matches ``exp(log_prob)`` over all V^2
    sequences (chi-square at level 1e-3), while the same samples with their second tokens shuffled
    (right marginals, no dependence on the first token) are rejected: the test has power."""
    model = _uneven()
    every = torch.tensor(list(itertools.product(range(V), repeat=2)))
    law = model.log_prob(every).exp().reshape(V, V).detach()
    assert 2 / V**2 < law.max() < 0.5
    samples = model.sample(3000, generator=0, length=2)
    assert chi_square_pvalue(samples, law) > CHI_SQUARE_LEVEL
    shuffle = torch.randperm(3000, generator=torch.Generator().manual_seed(0))
    independent = torch.stack([samples[:, 0], samples[shuffle, 1]], dim=1)
    assert chi_square_pvalue(independent, law) < CHI_SQUARE_LEVEL


def test_the_first_token_follows_the_softmax_of_the_first_output() -> None:
    """First tokens of 3000 samples match ``softmax(model(x)[:, 0])`` (which reads BOS only;
    chi-square at level 1e-3), and a uniform draw of as many is rejected."""
    model = _uneven()
    law = torch.softmax(model(torch.zeros(1, 1, dtype=torch.long))[0, 0].double(), -1).detach()
    assert law.max() > 2 / V
    samples = model.sample(3000, generator=2, length=1)
    assert chi_square_pvalue(samples, law) > CHI_SQUARE_LEVEL
    uniform = torch.randint(0, V, (3000, 1), generator=torch.Generator().manual_seed(0))
    assert chi_square_pvalue(uniform, law) < CHI_SQUARE_LEVEL


@pytest.mark.parametrize(
    ("call", "error", "text"),
    [
        (lambda m: m(torch.full((2, L), V)), ValueError, r"x holds the id 5; ids must lie in 0..4"),
        (lambda m: m(torch.zeros(2, L + 1, dtype=torch.long)), ValueError, "length 9"),
        (lambda m: m.sample(2, length=L + 1), ValueError, r"length must be at most 8"),
        (lambda m: m.sample(0), ValueError, "batch_size"),
        (lambda m: m.sample(2, generator="seed"), TypeError, "generator"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(call, error, text) -> None:
    """Bad tokens (the BOS id included), lengths, batch sizes and generators are refused by name."""
    with pytest.raises(error, match=text):
        call(tiny("autoregressive"))
