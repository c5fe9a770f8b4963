"""Every chain-based target (Markov random and mixing, HMM, copies, cyclic) against the brute force
``Table`` built from its own ``probs()``: same law, same conditionals, exact samples."""

from __future__ import annotations

import math

import pytest
import torch

from unmask.denoisers import check_logits
from unmask.processes import UniformProcess
from unmask.schedules import LinearSchedule
from unmask.targets import Table, Target

from .helpers import CHI_SQUARE_LEVEL, TARGETS, chi_square_pvalue, noisy_states, partial_states

NAMES = sorted(TARGETS)
PROCESSES = [UniformProcess(), UniformProcess(schedule=LinearSchedule())]


def all_sequences(target: Target) -> torch.Tensor:
    """Every sequence ``[V^L, L]`` in row-major order."""
    return torch.cartesian_prod(*[torch.arange(target.vocab_size)] * target.length).reshape(-1, target.length)


@pytest.mark.parametrize("name", NAMES)
def test_probs_is_a_law_and_matches_log_prob(name: str) -> None:
    """``probs()`` is non-negative, sums to 1 (1e-12) and ``log_prob`` equals ``log probs()`` at
    every sequence (1e-12; ``-inf`` exactly where the table is 0)."""
    target = TARGETS[name]()
    table = target.probs()
    assert table.shape == (target.vocab_size,) * target.length and table.dtype == torch.float64
    assert bool((table >= 0).all()) and math.isclose(float(table.sum()), 1.0, abs_tol=1e-12)
    logp = target.log_prob(all_sequences(target))
    expected = table.reshape(-1).log()
    assert torch.equal(torch.isneginf(logp), torch.isneginf(expected))
    finite = torch.isfinite(expected)
    assert torch.allclose(logp[finite], expected[finite], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_conditionals_match_table(name: str) -> None:
    """Masked conditionals and leave-one-out conditionals equal those of ``Table(probs())`` to 1e-12
    on random partial states (possible and impossible, all-masked and fully unmasked rows), and
    both count the same number of impossible contexts."""
    target = TARGETS[name]()
    table = Table(target.probs())
    z = partial_states(target, rows=60, seed=11)
    assert torch.allclose(target.conditionals(z), table.conditionals(z), rtol=0, atol=1e-12)
    assert torch.allclose(target.leave_one_out(z), table.leave_one_out(z), rtol=0, atol=1e-12)
    assert target.impossible_contexts == table.impossible_contexts


@pytest.mark.parametrize("name", NAMES)
def test_leave_one_out_equals_conditionals_at_masked_positions(name: str) -> None:
    """At masked positions the leave-one-out conditional is the masked conditional; at unmasked
    positions ``conditionals`` is the one-hot of the current token."""
    target = TARGETS[name]()
    z = partial_states(target, rows=40, seed=12)
    cond, loo = target.conditionals(z), target.leave_one_out(z)
    masked = z == target.vocab_size
    assert torch.allclose(cond[masked], loo[masked], rtol=0, atol=1e-12)
    onehot = torch.nn.functional.one_hot(z[~masked], target.vocab_size).to(torch.float64)
    assert torch.equal(cond[~masked], onehot)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("process", PROCESSES, ids=["constant-rate", "linear"])
def test_uniform_posterior_matches_table(name: str, process: UniformProcess) -> None:
    """Uniform-process posterior marginals equal those of ``Table(probs())`` to 1e-12 for random
    states and times in ``[0, 1]`` (``t = 0`` included), and every row is a law."""
    target = TARGETS[name]()
    table = Table(target.probs())
    z, t = noisy_states(target, rows=30, seed=13)
    post = target.uniform_posterior(z, t, process)
    assert torch.allclose(post, table.uniform_posterior(z, t, process), rtol=0, atol=1e-12)
    assert torch.allclose(post.sum(-1), torch.ones(z.shape, dtype=torch.float64), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_uniform_marginal_is_table_convolved_with_kernel(name: str) -> None:
    """``uniform_marginal(t)`` equals ``sum_x pi(x) prod_j K_t[x_j, z_j]`` (computed as one matrix
    product with the Kronecker power of ``K_t``) to 1e-12, sums to 1, and is ``probs()`` at t = 0."""
    target = TARGETS[name]()
    process = UniformProcess()
    for t in (0.0, 0.05, 0.3, 1.0):
        law = target.uniform_marginal(t, process)
        kernel = process.transition_matrix(t, target.vocab_size)
        big = torch.ones(1, 1, dtype=torch.float64)
        for _ in range(target.length):
            big = torch.kron(big, kernel)
        expected = (target.probs().reshape(1, -1) @ big).reshape(law.shape)
        assert torch.allclose(law, expected, rtol=0, atol=1e-12)
        assert math.isclose(float(law.sum()), 1.0, abs_tol=1e-12)
    assert torch.allclose(target.uniform_marginal(0.0, process), target.probs(), rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_samples_pass_chi_square(name: str) -> None:
    """20000 samples (fixed seed) pass Pearson's chi-square test against ``probs()`` at level 1e-3
    and never hit a sequence of probability 0."""
    target = TARGETS[name]()
    samples = target.sample(20000, generator=torch.Generator().manual_seed(21))
    assert samples.shape == (20000, target.length) and samples.dtype == torch.long
    assert chi_square_pvalue(samples, target.probs()) > CHI_SQUARE_LEVEL


@pytest.mark.parametrize("name", NAMES)
def test_denoisers_follow_the_contract(name: str) -> None:
    """``denoiser()`` returns float64 logits ``log conditionals`` (time-agnostic, valid under
    ``check_logits``, no NaN); ``uniform_denoiser`` returns ``log uniform_posterior``
    (not time-agnostic); both point back to the target."""
    target = TARGETS[name]()
    z = partial_states(target, rows=20, seed=14)
    f = target.denoiser()
    assert f.time_agnostic is True and f.target is target
    logits = f(z, torch.full((z.shape[0],), 0.5, dtype=torch.float64))
    check_logits(logits, z.shape[0], target.length, target.vocab_size)
    assert logits.dtype == torch.float64
    assert torch.equal(logits, target.conditionals(z).log())
    process = UniformProcess()
    g = target.uniform_denoiser(process)
    assert g.time_agnostic is False and g.target is target and g.process is process
    x, t = noisy_states(target, rows=10, seed=15)
    out = g(x, t)
    check_logits(out, x.shape[0], target.length, target.vocab_size)
    assert torch.equal(out, target.uniform_posterior(x, t, process).log())


@pytest.mark.parametrize("name", NAMES)
def test_masked_denoiser_loo_is_log_leave_one_out(name: str) -> None:
    """``denoiser().loo(z, t)`` equals ``log leave_one_out(z)`` exactly (float64 ``[B, L, V]``,
    valid under ``check_logits``, uint8 states and a number ``t`` accepted) for the target and for
    its brute-force ``Table``; at masked positions it equals the ordinary logits ``f(z, t)``
    (1e-12); the denoiser stays time-agnostic."""
    target = TARGETS[name]()
    z = partial_states(target, rows=30, seed=16)
    t = torch.full((z.shape[0],), 0.5, dtype=torch.float64)
    masked = z == target.vocab_size
    for exact in (target, Table(target.probs())):
        f = exact.denoiser()
        assert f.time_agnostic is True
        loo = f.loo(z, t)
        check_logits(loo, z.shape[0], target.length, target.vocab_size)
        assert loo.dtype == torch.float64
        assert torch.equal(loo, exact.leave_one_out(z).log())
        assert torch.equal(f.loo(z.to(torch.uint8), 0.5), loo)
        ordinary = f(z, t)
        assert torch.equal(torch.isneginf(loo[masked]), torch.isneginf(ordinary[masked]))
        finite = torch.isfinite(ordinary[masked])
        assert torch.allclose(loo[masked][finite], ordinary[masked][finite], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_long_sequences_stay_finite(name: str) -> None:
    """With ``L = 200`` (far beyond any table) log-probabilities of samples are finite and the
    conditionals of a half-masked sample are laws: the scaled recursions neither under- nor
    overflow."""
    target = TARGETS[name](length=200)
    x = target.sample(8, generator=torch.Generator().manual_seed(0))
    assert bool(torch.isfinite(target.log_prob(x)).all())
    z = x.masked_fill(
        torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) < 0.5, target.vocab_size
    )
    cond = target.conditionals(z)
    assert torch.allclose(cond.sum(-1), torch.ones(z.shape, dtype=torch.float64), rtol=0, atol=1e-12)
    assert target.impossible_contexts == 0
