"""The autoregressive loss: next-token cross-entropy per sequence, checked by hand, with padding,
reductions and an inferred vocabulary."""

from __future__ import annotations

import math

import pytest
import torch

from unmask.train.losses import autoregressive_loss

#: Fixed logits [L = 3, V = 4] returned for every row.
LOGITS = [[0.0, 1.0, -1.0, 2.0], [0.5, 0.5, 0.5, 0.5], [3.0, -2.0, 0.0, 1.0]]


def fixed_model(x, attention_mask=None):
    return torch.tensor(LOGITS, dtype=torch.float64).expand(x.shape[0], -1, -1)


def by_hand(row, real):
    """sum over real positions of -log(exp(l[x_i]) / sum_v exp(l[v]))."""
    total = 0.0
    for i, (token, keep) in enumerate(zip(row, real, strict=True)):
        if keep:
            total -= LOGITS[i][token] - math.log(sum(math.exp(v) for v in LOGITS[i]))
    return total


def test_matches_a_hand_computed_value_with_padding():
    """Per-sequence NLL equals the hand-computed cross-entropy over real positions; tokens count
    the real positions; the token reduction is the sum over the total tokens."""
    x = torch.tensor([[3, 0, 0], [1, 2, 3]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    got = autoregressive_loss(fixed_model, x, mask)
    expected = [by_hand([3, 0, 0], [1, 1, 0]), by_hand([1, 2, 3], [1, 1, 1])]
    assert torch.allclose(got.nelbo, torch.tensor(expected, dtype=torch.float64), rtol=1e-12)
    assert got.tokens.tolist() == [2, 3]
    assert math.isclose(float(got.loss), sum(expected) / 5, rel_tol=1e-12)
    assert math.isclose(float(got.bits_per_token), sum(expected) / (5 * math.log(2)), rel_tol=1e-12)
    assert got.t is None and dict(got.parts) == {}


@pytest.mark.parametrize(("reduction", "value"), [("sequence", lambda e: sum(e) / 2), ("sum", sum)])
def test_other_reductions(reduction, value):
    """reduction="sequence" averages the per-sequence NLL; "sum" adds it up."""
    x = torch.tensor([[3, 0, 0], [1, 2, 3]])
    expected = [by_hand([3, 0, 0], [1, 1, 1]), by_hand([1, 2, 3], [1, 1, 1])]
    got = autoregressive_loss(fixed_model, x, reduction=reduction)
    assert math.isclose(float(got.loss), value(expected), rel_tol=1e-12)


def test_vocabulary_comes_from_the_logits_when_not_declared():
    """Without vocab_size the logits' last dimension is V; an id at or above it raises a ValueError
    naming the id."""
    with pytest.raises(ValueError, match="the id 4 at row 0, position 1"):
        autoregressive_loss(fixed_model, torch.tensor([[0, 4, 1]]))


def test_the_mask_reaches_the_model_as_bool():
    """The attention mask is passed to the model as a bool attention_mask= keyword."""
    seen = {}

    def model(x, attention_mask=None):
        seen["mask"] = attention_mask
        return fixed_model(x)

    autoregressive_loss(model, torch.tensor([[0, 1, 2]]), torch.tensor([[1, 1, 0]]))
    assert torch.equal(seen["mask"], torch.tensor([[True, True, False]]))
