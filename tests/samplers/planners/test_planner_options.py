"""Planner hyperparameters are checked when the object is built, and sizes resolve as k-random's."""

from __future__ import annotations

import pytest

import unmask
from unmask.samplers.planned import EntropyBounded, FactorThreshold, LowConfidenceRemasking, Threshold, TopK


@pytest.mark.parametrize(
    "build",
    [
        lambda: TopK(score="likelihood"),
        lambda: TopK(k=0),
        lambda: TopK(k=2, sizes=(1, 2)),
        lambda: TopK(sizes=()),
        lambda: Threshold(0.0),
        lambda: Threshold(1.5),
        lambda: FactorThreshold(0.0),
        lambda: EntropyBounded(gamma=-0.1),
        lambda: EntropyBounded(gamma=float("inf")),
        lambda: EntropyBounded(proxy="likelihood"),
        lambda: LowConfidenceRemasking(k=1, blocks=2),
    ],
)
def test_bad_hyperparameters_raise_value_error(build) -> None:
    """Each bad value (unknown score or proxy, non-positive sizes, two size options at once, a
    threshold outside (0, 1], a non-positive factor, a negative or infinite gamma) raises
    ``ValueError`` at construction."""
    with pytest.raises(ValueError):
        build()


def test_sizes_resolve_like_k_random() -> None:
    """Top-k and low-confidence remasking take ``steps`` as k-random does (even blocks, at most
    ``steps`` calls); without sizes they reveal one token per call; with ``k`` and ``steps`` both
    given they refuse; the adaptive planners take no ``steps``."""
    target = unmask.targets.MarkovChain.random(vocab_size=3, length=5, concentration=0.3, seed=0)
    for sampler in (TopK(), LowConfidenceRemasking()):
        assert unmask.exact.run_law(target, sampler, 2).steps == 2
        assert unmask.exact.run_law(target, sampler).steps == 5
        with pytest.raises(ValueError):
            unmask.exact.run_law(target, type(sampler)(k=2), 3)
    for sampler in (Threshold(), FactorThreshold(), EntropyBounded()):
        with pytest.raises(ValueError):
            unmask.exact.run_law(target, sampler, 3)
