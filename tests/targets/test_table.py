"""Tests of ``Table``: agreement with a pure-Python enumeration, log-probabilities, samples and
the renormalisation of its input."""

from __future__ import annotations

import math

import pytest
import torch

from unmask.processes import UniformProcess
from unmask.targets import MarkovChain, Table

from .helpers import CHI_SQUARE_LEVEL, BruteForce, chi_square_pvalue, partial_states


def random_table(V: int, L: int, seed: int, zeros: float = 0.3) -> torch.Tensor:
    """A random law ``[V] * L`` with a fraction ``zeros`` of its entries set to 0."""
    g = torch.Generator().manual_seed(seed)
    p = torch.rand([V] * L, generator=g, dtype=torch.float64)
    p[torch.rand([V] * L, generator=g) < zeros] = 0.0
    return p / p.sum()


@pytest.mark.parametrize(("V", "L", "seed"), [(2, 3, 0), (3, 3, 1), (2, 4, 2), (4, 2, 3)])
def test_table_matches_pure_python_enumeration(V: int, L: int, seed: int) -> None:
    """Masked conditionals, leave-one-out conditionals and uniform posteriors of ``Table`` equal a
    pure-Python enumeration to 1e-12 (sparse table, so impossible contexts are included)."""
    p = random_table(V, L, seed)
    table, brute = Table(p), BruteForce(p)
    z = partial_states(table, rows=40, seed=seed)
    assert torch.allclose(
        table.conditionals(z),
        torch.tensor([brute.conditionals(r) for r in z.tolist()], dtype=torch.float64),
        rtol=0,
        atol=1e-12,
    )
    assert torch.allclose(
        table.leave_one_out(z),
        torch.tensor([brute.leave_one_out(r) for r in z.tolist()], dtype=torch.float64),
        rtol=0,
        atol=1e-12,
    )
    process = UniformProcess()
    x = torch.randint(0, V, (20, L), generator=torch.Generator().manual_seed(seed))
    t = torch.linspace(0, 1, 20, dtype=torch.float64)
    kernels = process.transition_matrix(t, V)
    expected = torch.tensor(
        [brute.uniform_posterior(r, k.tolist()) for r, k in zip(x.tolist(), kernels, strict=True)],
        dtype=torch.float64,
    )
    assert torch.allclose(table.uniform_posterior(x, t, process), expected, rtol=0, atol=1e-12)


def test_table_log_prob_and_probs_round_trip() -> None:
    """``log_prob`` reads the table entry (``-inf`` for a zero entry) and ``probs()`` returns it."""
    p = random_table(3, 3, seed=5)
    table = Table(p)
    assert torch.equal(table.probs(), p / p.sum())
    x = torch.cartesian_prod(*[torch.arange(3)] * 3)
    expected = p.reshape(-1).log()
    assert torch.equal(table.log_prob(x), expected)
    assert bool(torch.isneginf(table.log_prob(x)[p.reshape(-1) == 0]).all())


def test_table_renormalises_within_tolerance() -> None:
    """An input summing to ``1 + 5e-10`` is accepted and renormalised to sum to 1 (to rounding)."""
    p = torch.full((2, 2), 0.25, dtype=torch.float64)
    p[0, 0] += 5e-10
    assert math.isclose(float(Table(p).probs().sum()), 1.0, abs_tol=1e-15)


def test_table_samples_pass_chi_square() -> None:
    """20000 samples of a sparse 3^3 table pass Pearson's chi-square test at level 1e-3 and never
    hit a zero entry."""
    table = Table(random_table(3, 3, seed=7))
    samples = table.sample(20000, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (20000, 3)
    assert chi_square_pvalue(samples, table.probs()) > CHI_SQUARE_LEVEL


def test_table_sample_is_reproducible_and_handles_zero() -> None:
    """The same generator seed gives the same samples; ``n = 0`` gives an empty ``[0, L]`` tensor."""
    table = Table(random_table(2, 3, seed=8))
    a = table.sample(50, generator=torch.Generator().manual_seed(3))
    b = table.sample(50, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert table.sample(0).shape == (0, 3)


def test_table_blocks_agree_with_forward_backward() -> None:
    """A table over 2^12 sequences queried with 50 rows split into blocks of 16 (the block size is
    lowered for the test) gives the same conditionals, leave-one-out conditionals and uniform
    posteriors as the Markov chain it came from (forward-backward), to 1e-12."""
    chain = MarkovChain.random(vocab_size=2, length=12, concentration=0.5, seed=4)
    table = Table(chain.probs())
    table._block = 16
    z = partial_states(chain, rows=47, seed=4)
    assert torch.allclose(table.conditionals(z), chain.conditionals(z), rtol=0, atol=1e-12)
    assert torch.allclose(table.leave_one_out(z), chain.leave_one_out(z), rtol=0, atol=1e-12)
    x, t = chain.sample(50, generator=torch.Generator().manual_seed(5)), torch.linspace(0, 1, 50)
    process = UniformProcess()
    assert torch.allclose(
        table.uniform_posterior(x, t, process), chain.uniform_posterior(x, t, process), rtol=0, atol=1e-12
    )
