"""Tests of the scaled forward-backward against enumeration of every hidden path."""

from __future__ import annotations

import itertools

import pytest
import torch

from unmask.targets.forward_backward import forward_backward


def random_chain(S: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    initial = torch.rand(S, generator=g, dtype=torch.float64)
    transition = torch.rand(S, S, generator=g, dtype=torch.float64)
    return initial / initial.sum(), transition / transition.sum(-1, keepdim=True)


def enumerate_paths(
    initial: torch.Tensor, transition: torch.Tensor, evidence: torch.Tensor, skip: int | None
):
    """``(marginals [L, S], total)`` of ``p(h) prod_{j != skip} e_j[h_j]`` by summing all paths."""
    L, S = evidence.shape
    marg = torch.zeros(L, S, dtype=torch.float64)
    for path in itertools.product(range(S), repeat=L):
        w = initial[path[0]]
        for j in range(1, L):
            w = w * transition[path[j - 1], path[j]]
        for j in range(L):
            if j != skip:
                w = w * evidence[j, path[j]]
        for j in range(L):
            marg[j, path[j]] += w
    return marg, marg[0].sum()


@pytest.mark.parametrize(("S", "L", "seed"), [(2, 4, 0), (3, 3, 1), (3, 1, 2)])
def test_forward_backward_matches_path_enumeration(S: int, L: int, seed: int) -> None:
    """Posterior, leave-one-out marginals and log-likelihood equal a sum over all ``S^L`` hidden
    paths to 1e-12, for random positive evidence."""
    initial, transition = random_chain(S, seed)
    evidence = torch.rand(4, L, S, generator=torch.Generator().manual_seed(seed + 10), dtype=torch.float64)
    result = forward_backward(initial, transition, evidence)
    for b in range(evidence.shape[0]):
        marg, total = enumerate_paths(initial, transition, evidence[b], None)
        assert torch.allclose(result.posterior[b], marg / total, rtol=0, atol=1e-12)
        assert torch.allclose(result.log_likelihood[b], total.log(), rtol=0, atol=1e-12)
        for j in range(L):
            loo, loo_total = enumerate_paths(initial, transition, evidence[b], j)
            assert torch.allclose(result.leave_one_out[b, j], loo[j] / loo_total, rtol=0, atol=1e-12)
    assert not bool(result.impossible.any())


def test_forward_backward_flags_zero_evidence_without_nan() -> None:
    """Evidence of probability 0 (identity chain, two different one-hot observations) gives
    ``impossible = True``, ``log p = -inf``, posterior rows of 0 and no NaN; the leave-one-out row
    at a position whose removal makes the rest possible is still a proper law."""
    S = 3
    initial = torch.full((S,), 1 / S, dtype=torch.float64)
    transition = torch.eye(S, dtype=torch.float64)
    ones = torch.ones(S, dtype=torch.float64)
    eye = torch.eye(S, dtype=torch.float64)
    evidence = torch.stack(
        [
            torch.stack([eye[0], eye[1], ones]),  # impossible
            torch.stack([eye[2], ones, eye[2]]),  # possible
        ]
    )
    result = forward_backward(initial, transition, evidence)
    for field in result:
        assert not bool(torch.isnan(field).any())
    assert result.impossible.tolist() == [True, False]
    assert torch.isneginf(result.log_likelihood[0])
    assert bool((result.posterior[0] == 0).all())
    assert torch.allclose(result.posterior[1], eye[2].expand(3, S))
    # Row 0: removing position 0 leaves x = 1 everywhere; removing position 1 leaves x = 0.
    assert torch.allclose(result.leave_one_out[0, 0], eye[1])
    assert torch.allclose(result.leave_one_out[0, 1], eye[0])
    assert bool((result.leave_one_out[0, 2] == 0).all())


def test_forward_backward_rejects_bad_shapes() -> None:
    """Mismatched shapes and negative evidence raise ``ValueError`` naming the argument."""
    initial, transition = random_chain(2, 0)
    with pytest.raises(ValueError, match="transition"):
        forward_backward(initial, torch.eye(3, dtype=torch.float64), torch.ones(1, 2, 2))
    with pytest.raises(ValueError, match="evidence"):
        forward_backward(initial, transition, torch.ones(1, 2, 3))
    with pytest.raises(ValueError, match="evidence"):
        forward_backward(initial, transition, -torch.ones(1, 2, 2))
    with pytest.raises(TypeError, match="initial"):
        forward_backward([0.5, 0.5], transition, torch.ones(1, 2, 2))
