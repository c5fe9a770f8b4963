"""Exact entropy against brute-force enumeration, and the default target it benchmarks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unmask.targets import HMM, MarkovChain, Table, Target
from unmask.train.data import TargetData, default_target, exact_entropy, has_exact_entropy


def brute_force_entropy(target: Target) -> float:
    """``-sum_x pi(x) log pi(x)`` over every sequence, with ``log pi`` from ``target.log_prob``
    (the forward algorithm: independent of both methods of ``exact_entropy``)."""
    sequences = torch.cartesian_prod(*[torch.arange(target.vocab_size)] * target.length)
    log_p = target.log_prob(sequences.reshape(-1, target.length))
    finite = torch.isfinite(log_p)
    return float(-(log_p[finite].exp() * log_p[finite]).sum())


def block_hmm(hidden: int, per_state: int, length: int, seed: int) -> HMM:
    """A random HMM whose states emit disjoint blocks of ``per_state`` tokens (the closed form's case)."""
    rng = np.random.default_rng(seed)
    emission = np.zeros((hidden, hidden * per_state))
    for h in range(hidden):
        emission[h, h * per_state : (h + 1) * per_state] = rng.dirichlet(np.full(per_state, 0.7))
    initial = torch.from_numpy(rng.dirichlet(np.ones(hidden)))
    transition = torch.from_numpy(rng.dirichlet(np.full(hidden, 0.5), size=hidden))
    return HMM(initial, transition, torch.from_numpy(emission), length)


CASES = {
    "block-hmm (closed form)": lambda: block_hmm(hidden=3, per_state=2, length=4, seed=3),
    "default target L=4 (closed form)": lambda: default_target(length=4),
    "default target L=1 (closed form)": lambda: default_target(length=1),
    "markov chain (closed form)": lambda: MarkovChain.random(3, 5, concentration=0.5, seed=1),
    "overlapping hmm (table)": lambda: HMM.random(2, 3, 5, concentration=0.7, seed=2),
    "table": lambda: Table(torch.tensor([[0.5, 0.25], [0.0, 0.25]], dtype=torch.float64)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_exact_entropy_matches_brute_force(name: str) -> None:
    """``exact_entropy`` equals the enumeration of ``-sum pi log pi`` to 1e-12 (relative), for the
    closed form of revealed-state chains and for the dense-table method."""
    target = CASES[name]()
    assert has_exact_entropy(target)
    assert exact_entropy(target) == pytest.approx(brute_force_entropy(target), rel=1e-12, abs=1e-12)


def test_closed_form_agrees_with_samples_at_a_long_length() -> None:
    """At length 64 (no enumeration possible: 4**64 sequences) the closed form agrees with the
    Monte Carlo estimate ``mean(-log pi(x))`` over 4000 exact samples within 5 standard errors."""
    target = default_target(length=64)
    samples = target.sample(4000, generator=torch.Generator().manual_seed(0))
    nll = -target.log_prob(samples)
    stderr = float(nll.std()) / math.sqrt(nll.numel())
    assert abs(float(nll.mean()) - exact_entropy(target)) < 5 * stderr


def test_default_target_has_structure_to_learn() -> None:
    """The default target is an HMM with V = 4 and L = 8 (small enough for exact output laws:
    4**8 sequences) whose exact entropy per token lies clearly below ``log V`` (by more than 0.3
    nats) and below the entropy of its own token marginals (what a context-free model could reach)
    by more than 0.2 nats."""
    target = default_target()
    data = TargetData(target)
    per_token = data.true_entropy_per_token()
    assert isinstance(target, HMM) and target.vocab_size == 4 and target.length == 8
    assert per_token < math.log(4) - 0.3
    state = target.initial
    marginal_entropy = 0.0
    for _ in range(target.length):
        tokens = state @ target.emission
        marginal_entropy += float(-(tokens * tokens.log()).nan_to_num().sum())
        state = state @ target.transition
    assert per_token < marginal_entropy / target.length - 0.2
    assert data.describe()["entropy_per_token"] == per_token


def test_default_target_is_fixed_by_its_seed() -> None:
    """The same seed gives the same tables; another seed gives other tables."""
    a, b, c = default_target(), default_target(), default_target(seed=1)
    assert torch.equal(a.transition, b.transition) and torch.equal(a.emission, b.emission)
    assert not torch.equal(a.transition, c.transition)


def test_overlapping_hmm_too_long_to_enumerate_raises() -> None:
    """An HMM whose emissions overlap, with V**L above 2**22, has no exact entropy: ``ValueError``
    naming the reason, and ``has_exact_entropy`` says so beforehand; ``describe`` reports ``None``."""
    target = HMM.random(2, 4, 12, seed=0)
    assert not has_exact_entropy(target)
    with pytest.raises(ValueError, match="no exact entropy"):
        exact_entropy(target)
    data = TargetData(target)
    with pytest.raises(ValueError, match="no exact entropy"):
        data.true_entropy_per_token()
    assert data.describe()["entropy_per_token"] is None


def test_exact_entropy_rejects_a_non_target() -> None:
    """Anything but a ``Target`` raises ``TypeError`` naming the argument."""
    with pytest.raises(TypeError, match="target must be an exact target"):
        exact_entropy("hmm")
