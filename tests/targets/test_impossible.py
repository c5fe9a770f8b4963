"""The impossible-context convention: uniform ``1/V`` at the affected entries, counted in
``impossible_contexts``, never NaN."""

from __future__ import annotations

import torch

from unmask.denoisers import check_logits
from unmask.processes import UniformProcess
from unmask.targets import Copies, Table


def test_copies_with_two_revealed_tokens_gives_uniform_and_counts() -> None:
    """Copies (V = 3, L = 4) with tokens 0 and 1 revealed: both masked positions get 1/3, the
    revealed ones keep their one-hot, and the counter grows by 2 (one per masked position) on each
    call; a possible row beside it is unaffected and not counted."""
    target = Copies(vocab_size=3, length=4)
    M = 3
    z = torch.tensor([[0, 1, M, M], [2, M, M, 2]])
    cond = target.conditionals(z)
    third = torch.full((3,), 1 / 3, dtype=torch.float64)
    assert torch.equal(cond[0, 2], third) and torch.equal(cond[0, 3], third)
    assert torch.equal(cond[0, 0], torch.tensor([1.0, 0, 0], dtype=torch.float64))
    assert torch.equal(cond[1, 1], torch.tensor([0, 0, 1.0], dtype=torch.float64))
    assert target.impossible_contexts == 2
    logits = target.denoiser()(z, torch.tensor([0.5, 0.5]))
    check_logits(logits, 2, 4, 3)
    assert target.impossible_contexts == 4
    assert not bool(torch.isnan(logits).any())


def test_copies_leave_one_out_counts_only_impossible_positions() -> None:
    """Leave-one-out on Copies with z = (0, 1, M, M): dropping position 0 leaves x = 1 (one-hot 1),
    dropping position 1 leaves x = 0, the masked positions see both tokens and get 1/3; the counter
    grows by 2. The same holds for the brute-force Table."""
    M = 3
    z = torch.tensor([[0, 1, M, M]])
    for target in (Copies(3, 4), Table(Copies(3, 4).probs())):
        loo = target.leave_one_out(z)
        eye = torch.eye(3, dtype=torch.float64)
        assert torch.equal(loo[0, 0], eye[1]) and torch.equal(loo[0, 1], eye[0])
        assert torch.allclose(loo[0, 2:], torch.full((2, 3), 1 / 3, dtype=torch.float64), rtol=0, atol=0)
        assert target.impossible_contexts == 2


def test_uniform_posterior_at_time_zero_outside_support() -> None:
    """At ``t = 0`` (``K_0 = I``) a state outside the support has ``p_0(z) = 0``: every position gets
    1/V and counts once; a state in the support gets its own one-hot."""
    target = Copies(vocab_size=2, length=3)
    z = torch.tensor([[0, 1, 0], [1, 1, 1]])
    post = target.uniform_posterior(z, torch.zeros(2, dtype=torch.float64), UniformProcess())
    assert torch.equal(post[0], torch.full((3, 2), 0.5, dtype=torch.float64))
    assert torch.equal(post[1], torch.tensor([[0.0, 1.0]] * 3, dtype=torch.float64))
    assert target.impossible_contexts == 3


def test_fully_unmasked_impossible_row_is_not_counted() -> None:
    """A fully unmasked row outside the support has no masked position: ``conditionals`` returns
    its one-hot and counts nothing, and ``log_prob`` is ``-inf``."""
    target = Copies(vocab_size=3, length=2)
    z = torch.tensor([[0, 2]])
    assert torch.equal(
        target.conditionals(z)[0], torch.tensor([[1.0, 0, 0], [0, 0, 1.0]], dtype=torch.float64)
    )
    assert target.impossible_contexts == 0
    assert torch.isneginf(target.log_prob(z)[0])
