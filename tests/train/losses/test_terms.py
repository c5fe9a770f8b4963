"""The loss record: reductions, bits per token and immutability."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from unmask.train.losses import REDUCTIONS, LossTerms


def test_reductions_relate_as_documented():
    """token = sum nelbo / sum tokens; sequence = mean nelbo; sum = sum nelbo; bits per token is
    the token reduction over ln 2 and carries no gradient."""
    nelbo = torch.tensor([3.0, 5.0, 10.0], dtype=torch.float64, requires_grad=True)
    tokens = torch.tensor([2, 4, 4])
    got = {r: LossTerms.build(nelbo, tokens, r) for r in REDUCTIONS}
    assert math.isclose(got["token"].loss.item(), 18 / 10)
    assert math.isclose(got["sequence"].loss.item(), 6.0)
    assert math.isclose(got["sum"].loss.item(), 18.0)
    assert math.isclose(float(got["sum"].bits_per_token), 18 / (10 * math.log(2)))
    assert not got["token"].bits_per_token.requires_grad
    got["token"].loss.backward()
    assert torch.allclose(nelbo.grad, torch.full((3,), 0.1, dtype=torch.float64))


def test_the_record_is_frozen():
    """Fields cannot be reassigned and parts cannot be changed."""
    terms = LossTerms.build(torch.ones(2), torch.ones(2, dtype=torch.long), "sum", parts={"a": torch.ones(2)})
    with pytest.raises(dataclasses.FrozenInstanceError):
        terms.loss = torch.zeros(())
    with pytest.raises(TypeError):
        terms.parts["b"] = torch.ones(2)
