"""``TargetData``: per-step batches are exact draws from the target; the validation set is fixed."""

from __future__ import annotations

import pytest
import torch

from stats import CHI_SQUARE_LEVEL, chi_square_pvalue
from unmask.targets import MarkovChain
from unmask.train.data import TargetData, default_target


def test_batches_over_steps_follow_the_target_law() -> None:
    """Rows pooled over 60 steps of 64 rows are exact samples of the target: Pearson's chi-square
    against ``probs()`` does not reject at the suite's level (1e-3)."""
    target = MarkovChain.random(2, 3, concentration=0.8, seed=4)
    data = TargetData(target, validation_size=8)
    rows = torch.cat([data.batch(step, 64, seed=1) for step in range(60)])
    assert chi_square_pvalue(rows, target.probs()) > CHI_SQUARE_LEVEL


def test_rows_lie_in_the_support_of_the_default_target() -> None:
    """Every training and validation row has a finite log-probability under the default target."""
    target = default_target(length=12)
    data = TargetData(target, validation_size=32)
    assert bool(torch.isfinite(target.log_prob(data.batch(0, 32, seed=3))).all())
    assert bool(torch.isfinite(target.log_prob(data.validation_tokens())).all())


def test_validation_set_depends_only_on_the_validation_seed() -> None:
    """Two sources with the same ``validation_seed`` share the validation set (no training seed
    enters it); another ``validation_seed`` gives another set; its size is ``validation_size``."""
    target = default_target(length=8)
    a = TargetData(target, validation_size=40).validation_tokens()
    b = TargetData(target, validation_size=40).validation_tokens()
    c = TargetData(target, validation_size=40, validation_seed=1).validation_tokens()
    assert tuple(a.shape) == (40, 8)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_validation_uses_whole_batches_only() -> None:
    """With 10 validation sequences and batches of 4, two batches come back: rows 0..7."""
    data = TargetData(default_target(length=6), validation_size=10)
    batches = list(data.validation(4))
    assert len(batches) == 2
    assert torch.equal(torch.cat(batches), data.validation_tokens()[:8])


def test_bad_arguments_raise() -> None:
    """A non-target, a zero validation size or a negative validation seed raise, naming the argument."""
    with pytest.raises(TypeError, match="target must be an exact target"):
        TargetData("hmm")
    with pytest.raises(ValueError, match="validation_size must be an integer >= 1"):
        TargetData(default_target(), validation_size=0)
    with pytest.raises(ValueError, match="validation_seed must be a non-negative integer"):
        TargetData(default_target(), validation_seed=-1)
    with pytest.raises(ValueError, match="length must be an integer >= 1"):
        default_target(length=0)
