"""The informed-corrector cyclic chain and its error rate."""

from __future__ import annotations

import torch

from unmask.targets import CyclicHMM, MarkovChain


def test_cyclic_transition_matrix() -> None:
    """``A[i, i] = p``, ``A[i, i+1 mod V] = 1 - p``, zero elsewhere; uniform first token; it is a
    ``MarkovChain``. With ``V = 1`` the single state loops with probability 1."""
    target = CyclicHMM(vocab_size=4, length=3, p=0.7)
    assert isinstance(target, MarkovChain)
    expected = torch.zeros(4, 4, dtype=torch.float64)
    for i in range(4):
        expected[i, i] = 0.7
        expected[i, (i + 1) % 4] = 0.3
    assert torch.allclose(target.transition, expected, rtol=0, atol=1e-15)
    assert torch.allclose(target.initial, torch.full((4,), 0.25, dtype=torch.float64))
    assert torch.equal(CyclicHMM(1, 3, p=0.2).transition, torch.ones(1, 1, dtype=torch.float64))


def test_error_rate_counts_forbidden_pairs() -> None:
    """The error rate is the fraction of adjacent pairs that are neither equal nor a +1 (mod V)
    step: worked examples, and exactly 0 on samples of the target."""
    target = CyclicHMM(vocab_size=4, length=5, p=0.5)
    x = torch.tensor([[0, 0, 1, 2, 3], [3, 0, 0, 1, 1], [0, 2, 1, 3, 3], [0, 3, 2, 1, 0]])
    assert torch.equal(target.error_rate(x), torch.tensor([0.0, 0.0, 0.75, 1.0], dtype=torch.float64))
    samples = target.sample(500, generator=torch.Generator().manual_seed(0))
    assert bool((target.error_rate(samples) == 0).all())
    assert torch.equal(
        CyclicHMM(3, 1, p=0.5).error_rate(torch.tensor([[2]])), torch.zeros(1, dtype=torch.float64)
    )


def test_error_rate_on_vocabulary_of_two() -> None:
    """With ``V = 2`` every pair is either equal or a +1 step, so the error rate is always 0."""
    target = CyclicHMM(vocab_size=2, length=4, p=0.5)
    x = torch.cartesian_prod(*[torch.arange(2)] * 4)
    assert bool((target.error_rate(x) == 0).all())
