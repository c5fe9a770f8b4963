"""``target_from_description``: the exact target of a checkpoint's data description."""

from __future__ import annotations

import pytest
import torch

from unmask.train.data import ByteText, TargetData, default_target, target_from_description

from .checkpoints import TEXTS


@pytest.mark.parametrize("length", [4, 8])
def test_the_built_in_target_comes_back_with_the_same_law(length):
    """The description of TargetData(default_target(L)) rebuilds a target with the same law
    (identical probability tables), at the described length."""
    description = TargetData(default_target(length), validation_size=16, name="hmm").describe()
    rebuilt = target_from_description(description)
    assert rebuilt is not None and rebuilt.length == length and rebuilt.vocab_size == 4
    assert torch.equal(rebuilt.probs(), default_target(length).probs())


def test_text_data_has_no_target():
    """Byte-level text has no exact law: None."""
    description = ByteText(length=8, texts=TEXTS, validation_fraction=0.2).describe()
    assert target_from_description(description) is None


def test_another_target_is_refused():
    """A description whose parameters hash differs (a target with another seed) is a ValueError
    naming parameters_sha256, not a silently wrong target; so is a missing hash, a bad length or
    a record that is not a description."""
    other = TargetData(default_target(8, seed=1), validation_size=16).describe()
    with pytest.raises(ValueError, match="parameters_sha256"):
        target_from_description(other)
    good = TargetData(default_target(8), validation_size=16).describe()
    with pytest.raises(ValueError, match='no "parameters_sha256"'):
        target_from_description({**good, "parameters_sha256": None})
    with pytest.raises(ValueError, match="length"):
        target_from_description({**good, "length": 0})
    with pytest.raises(ValueError, match="vocab_size 5"):
        target_from_description({**good, "vocab_size": 5})
    with pytest.raises(ValueError, match='no "kind"'):
        target_from_description({"length": 8})
    with pytest.raises(TypeError, match="data description"):
        target_from_description(["target"])
