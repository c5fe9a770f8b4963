"""Uniform Tweedie is exact on a target with independent positions."""

from __future__ import annotations

import pytest
import torch

import unmask
from unmask.exact import output_law, reference_law, tv
from unmask.schedules import ConstantRateSchedule, LinearSchedule
from unmask.targets import Table


def _product_table(vocab_size: int, length: int, seed: int) -> Table:
    """Independent positions: the outer product of ``length`` random marginals."""
    g = torch.Generator().manual_seed(seed)
    table = torch.ones((), dtype=torch.float64)
    for _ in range(length):
        marginal = torch.rand(vocab_size, generator=g, dtype=torch.float64) + 0.05
        table = table.unsqueeze(-1) * (marginal / marginal.sum())
    return Table(table)


@pytest.mark.parametrize(
    "process",
    [
        unmask.UniformProcess(),
        unmask.UniformProcess(ConstantRateSchedule(horizon=2.0), t_min=0.25),
        unmask.UniformProcess(LinearSchedule(), t_min=0.1),
    ],
    ids=["default", "horizon-2", "linear"],
)
def test_one_step_is_exact_on_product_target(process) -> None:
    """One Tweedie step from the exact p_1 to t_min reproduces p_{t_min} (TV < 1e-12) on a product
    target: each position's reverse marginal is exact and positions are independent, so the only
    error of Tweedie, the factorisation error, vanishes."""
    target = _product_table(3, 3, seed=5)
    law = output_law(target, "tweedie", 1, process=process, start="exact")
    assert tv(law, reference_law(target, process)) < 1e-12


def test_one_step_is_not_exact_on_dependent_target() -> None:
    """Control for the test above: on a dependent target (a Markov chain) the same single step has a
    visible factorisation error (TV > 1e-3)."""
    target = unmask.targets.MarkovChain.mixing(3, 3, eps=0.5)
    process = unmask.UniformProcess()
    law = output_law(target, "tweedie", 1, process=process, start="exact")
    assert tv(law, reference_law(target, process)) > 1e-3
