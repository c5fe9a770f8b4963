"""Bad input to the metrics of ``unmask.exact``: lists are converted, tables must sum to 1."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import unmask


def test_lists_and_arrays_are_accepted():
    p, q = [0.5, 0.5], [0.25, 0.75]
    assert unmask.exact.tv(p, q) == pytest.approx(0.25)
    assert unmask.exact.tv(np.array(p), torch.tensor(q)) == pytest.approx(0.25)
    assert unmask.exact.kl(p, q) == unmask.exact.kl(torch.tensor(p), torch.tensor(q))
    assert unmask.exact.entropy([0.5, 0.5]) == pytest.approx(np.log(2))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: unmask.exact.tv([0.5, 0.6], [0.5, 0.5]),
            ValueError,
            r"p must be a probability table that sums to 1, got a sum of 1\.1",
        ),
        (
            lambda: unmask.exact.kl([0.5, 0.5], [3, 1]),
            ValueError,
            r"q must be a probability table that sums to 1, got a sum of 4",
        ),
        (
            lambda: unmask.exact.leakage(torch.tensor([0.2, 0.2]), torch.tensor([0.5, 0.5])),
            ValueError,
            r"law must .* sum of 0\.4",
        ),
        (lambda: unmask.exact.tv("abc", [1.0]), TypeError, r"p must be a probability table.*got str"),
        (lambda: unmask.exact.tv([0.5, 0.5], [1.0]), ValueError, r"laws must have the same shape"),
    ],
)
def test_bad_tables_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_float32_tables_within_rounding_are_accepted():
    law = torch.softmax(torch.randn(1000, generator=torch.Generator().manual_seed(0)), 0).float()
    assert unmask.exact.tv(law, law.double() / law.double().sum()) < 1e-6


def test_kl_keeps_its_digits_where_q_is_far_below_p() -> None:
    """KL terms with q << p are computed as p log(p / q): for p = (1 - d, d) against
    q = (1 - d', d') with q_1 / p_1 ~ 1e-8 the result matches the closed form to 1e-14 relative."""
    p = torch.tensor([0.5, 0.5], dtype=torch.float64)
    q = torch.tensor([1 - 3e-9, 3e-9], dtype=torch.float64)
    exact = 0.5 * math.log(0.5 / (1 - 3e-9)) + 0.5 * math.log(0.5 / 3e-9)
    assert unmask.exact.kl(p, q) == pytest.approx(exact, rel=1e-14)
