"""The one tie rule (lower position first among equal scores) holds in the drawing and the
enumerating contexts alike (spec §9.10)."""

from __future__ import annotations

import pytest
import torch

import unmask
from stats import CHI_SQUARE_LEVEL, chi_square_pvalue
from unmask.exact import run_law
from unmask.samplers.planned import EntropyBounded, FactorThreshold, LowConfidenceRemasking, Threshold, TopK

from .planner_cases import TiedDenoiser, chain

#: Planners that reveal exactly one token at the all-mask state of ``TiedDenoiser`` (scores tie at
#: every position; its largest probability is e / (e + 2) = 0.58).
ONE_FIRST = {
    "top-k-confidence": TopK(k=1),
    "top-k-margin": TopK(k=1, score="margin"),
    "top-k-entropy": TopK(k=1, score="entropy"),
    "threshold": Threshold(0.9),
    "factor-threshold": FactorThreshold(0.5),
    "eb-entropy": EntropyBounded(gamma=0.0),
    "eb-confidence": EntropyBounded(gamma=0.0, proxy="confidence"),
    "eb-margin": EntropyBounded(gamma=0.0, proxy="margin"),
}


@pytest.mark.parametrize("name", sorted(ONE_FIRST))
def test_ties_go_to_the_lower_position_in_both_contexts(name: str) -> None:
    """With every position tied at the all-mask state, the first token revealed is position 0 in
    both contexts: the exact law puts all its mass on sequences ``(v, 0, 0, 0, 0)`` with ``v`` from
    softmax([2, 1, 1]) (within 1e-12), and 2,000 drawn rows all end in ``0, 0, 0, 0`` (a draw
    elsewhere would leave position 0 holding ``j mod 3`` for its own ``j``)."""
    sampler = ONE_FIRST[name]
    law = run_law(chain(), sampler, denoiser=TiedDenoiser()).law
    first = torch.softmax(torch.tensor([2.0, 1.0, 1.0], dtype=torch.float64), 0)
    assert torch.allclose(law[:, 0, 0, 0, 0], first, atol=1e-12, rtol=0)
    result = unmask.sample(TiedDenoiser(), sampler, vocab_size=3, length=5, batch_size=2_000, generator=3)
    assert bool((result.tokens[:, 1:] == 0).all())
    assert chi_square_pvalue(result.tokens, law) > CHI_SQUARE_LEVEL


def test_low_confidence_remasking_breaks_ties_alike() -> None:
    """Low-confidence remasking with k = 1 at the all-mask state of ``TiedDenoiser`` draws all
    five positions from ``(a, b, b) = softmax([2, 1, 1])`` and keeps the most probable draw: the
    lowest position ``j`` that drew 0 (probability ``(1 - a)^j a``), or position 0 with its draw
    1 or 2 if none drew 0 (those draws tie). For ``j > 0`` every position then holds ``j mod 3``
    with probability 1 - 1e-17, the tie rule keeps position 0, and the rest become 0: the output is
    ``(j mod 3, 0, 0, 0, 0)``. The exact law equals this closed form (within 1e-12), and 5,000
    draws pass the chi-square test against it (significance 1e-3)."""
    sampler = LowConfidenceRemasking(k=1)
    law = run_law(chain(), sampler, denoiser=TiedDenoiser()).law
    a = float(torch.softmax(torch.tensor([2.0, 1.0, 1.0], dtype=torch.float64), 0)[0])
    expected = torch.zeros_like(law)
    for j in range(5):  # position j is the first to draw 0
        expected[j % 3, 0, 0, 0, 0] += (1 - a) ** j * a
    for v in (1, 2):  # no position drew 0: position 0 keeps its draw v
        expected[v, 0, 0, 0, 0] += (1 - a) ** 5 / 2
    assert torch.allclose(law, expected, atol=1e-12, rtol=0)
    result = unmask.sample(TiedDenoiser(), sampler, vocab_size=3, length=5, batch_size=5_000, generator=4)
    assert chi_square_pvalue(result.tokens, law) > CHI_SQUARE_LEVEL
