"""Planners are vectorised over rows (spec §9.10, §9.11): each row's choice depends on that row
alone, with the same seed giving the same rows whatever the batch, and prompts never change."""

from __future__ import annotations

import pytest
import torch

import unmask

from .planner_cases import CASES, chain


def _prompt(rows: int, seed: int) -> torch.Tensor:
    """Per-row infilling patterns on L = 5 (V = 3): random subsets of positions fixed to random
    tokens, so rows have different numbers of masked positions; row 0 fully free, row 1 fully
    given."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 3, (rows, 5), generator=g)
    free = torch.rand(rows, 5, generator=g) < 0.6
    free[0], free[1] = True, False
    return torch.where(free, torch.full_like(tokens, 3), tokens)


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_rows_alone_or_in_a_batch(case: str) -> None:
    """With per-row prompts (different masked counts, hence different planned sets per row) and
    the same seed, the first 7 rows of a batch of 60 equal a batch of those 7 rows, token for
    token and in their per-row call counts; the rows are not all equal; every prompted token is
    returned unchanged and no mask id is left."""
    sampler, steps = CASES[case]
    prompt = _prompt(60, seed=11)

    def run(rows: int) -> unmask.SampleResult:
        return unmask.sample(
            chain().denoiser(),
            sampler,
            vocab_size=3,
            prompt=prompt[:rows],
            steps=steps,
            generator=torch.Generator().manual_seed(41),
        )

    small, large = run(7), run(60)
    assert torch.equal(small.tokens, large.tokens[:7])
    assert torch.equal(small.nfe_per_row, large.nfe_per_row[:7])
    assert len(large.tokens.unique(dim=0)) > 1
    given = prompt != 3
    assert torch.equal(large.tokens[given], prompt[given])
    assert bool((large.tokens < 3).all())
