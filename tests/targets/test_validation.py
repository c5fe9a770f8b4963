"""Bad arguments raise ``ValueError`` / ``TypeError`` naming the argument and what was expected."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unmask.processes import MaskedProcess, UniformProcess
from unmask.targets import HMM, Copies, CyclicHMM, MarkovChain, Table


def test_token_ids_and_shapes_are_checked() -> None:
    """Wrong rank, wrong length, ids out of range (mask ids where none are allowed) and float
    tensors are rejected by every method that takes tokens."""
    target = MarkovChain.mixing(3, 4, eps=0.5)
    with pytest.raises(ValueError, match=r"x must have shape \[B, L\]"):
        target.log_prob(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="L = 4"):
        target.log_prob(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"ids must lie in 0\.\.2"):
        target.log_prob(torch.full((1, 4), 3))
    with pytest.raises(ValueError, match=r"or 3 \(the mask id\)"):
        target.conditionals(torch.full((1, 4), 4))
    with pytest.raises(ValueError, match="-1"):
        target.leave_one_out(torch.full((1, 4), -1))
    with pytest.raises(TypeError, match="integer token ids"):
        target.conditionals(torch.zeros(1, 4))
    with pytest.raises(TypeError, match="LongTensor"):
        target.conditionals([[0, 1, 2, 0]])
    with pytest.raises(ValueError, match="z holds the id 3"):
        target.uniform_posterior(torch.full((1, 4), 3), torch.zeros(1), UniformProcess())
    with pytest.raises(ValueError, match="z must have shape"):
        target.denoiser()(torch.zeros(1, 3, dtype=torch.long), torch.zeros(1))


def test_times_and_process_are_checked() -> None:
    """Times outside [0, 1] or of the wrong shape, and a process that is not a UniformProcess, are
    rejected."""
    target = Copies(2, 3)
    z = torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        target.uniform_posterior(z, torch.tensor([0.5, 1.5]), UniformProcess())
    with pytest.raises(ValueError, match=r"t must have shape \[B\] = \[2\]"):
        target.uniform_posterior(z, torch.zeros(3), UniformProcess())
    with pytest.raises(TypeError, match="process must be a UniformProcess"):
        target.uniform_posterior(z, torch.zeros(2), MaskedProcess())
    with pytest.raises(TypeError, match="process must be a UniformProcess"):
        target.uniform_denoiser("uniform")
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        target.uniform_marginal(2.0, UniformProcess())
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        target.denoiser()(z, torch.tensor([-0.1, 0.5]))


def test_probs_refuses_large_tables() -> None:
    """``probs()`` and ``uniform_marginal`` on 2^23 sequences raise, giving V**L, the reason and the
    alternatives; a Table that large is refused at construction."""
    target = Copies(2, 23)
    with pytest.raises(
        ValueError, match=r"V\*\*L = 2\*\*23 = 8388608 entries.*dense.*log_prob\(x\) or sample\(n\)"
    ):
        target.probs()
    with pytest.raises(ValueError, match="uniform_marginal"):
        target.uniform_marginal(0.5, UniformProcess())
    with pytest.raises(ValueError, match="8388608 entries"):
        Table(torch.zeros([2] * 23, dtype=torch.float32))
    assert target.log_prob(torch.zeros(1, 23, dtype=torch.long)).item() == pytest.approx(-0.6931471805599453)


def test_distribution_arguments_are_checked() -> None:
    """Negative entries, wrong sums, wrong shapes and non-finite values in laws are rejected with
    the argument's name."""
    eye = torch.eye(2, dtype=torch.float64)
    half = torch.full((2,), 0.5, dtype=torch.float64)
    with pytest.raises(ValueError, match="initial must sum to 1"):
        MarkovChain(torch.tensor([0.5, 0.6]), eye, 3)
    with pytest.raises(ValueError, match="transition must have shape"):
        MarkovChain(half, torch.eye(3), 3)
    with pytest.raises(ValueError, match="transition must hold non-negative"):
        MarkovChain(half, torch.tensor([[1.5, -0.5], [0.5, 0.5]]), 3)
    with pytest.raises(ValueError, match="rows .* sum to 1"):
        MarkovChain(half, torch.tensor([[0.5, 0.4], [0.5, 0.5]]), 3)
    with pytest.raises(ValueError, match="length must be an integer >= 1"):
        MarkovChain(half, eye, 0)
    with pytest.raises(TypeError, match="initial must be a tensor"):
        MarkovChain(0.5, eye, 3)
    with pytest.raises(ValueError, match="emission must have shape"):
        HMM(half, eye, torch.full((3, 2), 0.5), 3)
    with pytest.raises(ValueError, match="probs must hold finite"):
        Table(torch.tensor([[float("nan"), 0.5], [0.25, 0.25]]))
    with pytest.raises(ValueError, match="probs must have shape"):
        Table(torch.full((2, 3), 1 / 6))
    with pytest.raises(ValueError, match="probs must sum to 1"):
        Table(torch.full((2, 2), 0.3))
    with pytest.raises(TypeError, match="probs must be a tensor"):
        Table([[0.25, 0.25], [0.25, 0.25]])


def test_constructor_numbers_are_checked() -> None:
    """Sizes, probabilities, concentrations, seeds, sample counts and generators are validated."""
    with pytest.raises(ValueError, match="eps must lie in"):
        MarkovChain.mixing(3, 4, eps=1.5)
    with pytest.raises(ValueError, match="p must lie in"):
        CyclicHMM(3, 4, p=-0.1)
    with pytest.raises(ValueError, match="concentration must be a finite number > 0"):
        MarkovChain.random(3, 4, concentration=0.0)
    with pytest.raises(TypeError, match=r"seed must be a non-negative integer, got 1\.5"):
        HMM.random(2, 3, 4, seed=1.5)
    with pytest.raises(ValueError, match=r"^seed must be a non-negative integer, got -1$"):
        MarkovChain.random(3, 4, seed=-1)
    with pytest.raises(ValueError, match=r"^seed must be a non-negative integer, got -1$"):
        HMM.random(2, 3, 4, seed=-1)
    with pytest.raises(TypeError, match="vocab_size must be an integer"):
        Copies(2.0, 3)
    with pytest.raises(ValueError, match="n must be an integer >= 0"):
        Copies(2, 3).sample(-1)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        Copies(2, 3).sample(4, generator=0)


def test_numpy_integers_are_accepted() -> None:
    """numpy integers work wherever an int does, with the same result."""
    plain = MarkovChain.random(3, 4, seed=5)
    numpy = MarkovChain.random(np.int64(3), np.int64(4), seed=np.int64(5))
    assert torch.equal(plain.probs(), numpy.probs())
    with pytest.raises(TypeError, match="vocab_size must be an integer"):
        MarkovChain.random(np.float64(3.0), 4)


def test_float32_distributions_within_float32_precision_are_accepted() -> None:
    """A float32 vector that sums to 1 within float32 rounding is accepted; a float64 one is held
    to 1e-9, and a float32 one off by far more than rounding is still refused."""
    initial = torch.full((10,), 0.1, dtype=torch.float32)  # sums to 1 + 1.5e-8 in float64
    transition = torch.softmax(torch.randn(10, 10, generator=torch.Generator().manual_seed(0)), -1)
    chain = MarkovChain(initial, transition, 3)
    assert abs(float(chain.probs().sum()) - 1) < 1e-12
    Table(torch.full((10, 10), 0.01, dtype=torch.float32))
    with pytest.raises(ValueError, match=r"initial must sum to 1 \(within 1e-09\)"):
        MarkovChain(initial.double() + 1e-8, transition.double(), 3)
    with pytest.raises(ValueError, match=r"initial must sum to 1.*off by 0\.001"):
        MarkovChain(initial + 1e-4, transition, 3)
