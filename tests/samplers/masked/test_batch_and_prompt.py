"""Row-level reproducibility and prompts, for every masked sampler (spec §9.11, DESIGN "random
streams"): the same seed gives the same rows whatever the batch size, and prompted positions never
change."""

from __future__ import annotations

import pytest
import torch

import unmask
from problems import random_table

from .helpers import MASKED_CONFIGS, processes


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("config", sorted(MASKED_CONFIGS))
def test_same_seed_same_rows_for_any_batch_size(config: str, schedule: str) -> None:
    """With the same seed, the first 7 rows of a batch of 50 equal a batch of 7, token for token,
    and so do their per-row denoiser call counts (random table, V=3, L=4)."""
    sampler, steps = MASKED_CONFIGS[config]
    target = random_table(3, 4, seed=8, concentration=0.5)

    def run(batch_size: int) -> unmask.SampleResult:
        return unmask.sample(
            target.denoiser(),
            sampler,
            vocab_size=3,
            length=4,
            batch_size=batch_size,
            steps=steps,
            process=processes()[schedule],
            generator=torch.Generator().manual_seed(31),
        )

    small, large = run(7), run(50)
    assert torch.equal(small.tokens, large.tokens[:7])
    assert torch.equal(small.nfe_per_row, large.nfe_per_row[:7])
    assert not torch.equal(large.tokens[7:14], large.tokens[:7])  # rows differ from each other


def _prompt(rows: int, vocab_size: int, length: int, seed: int) -> torch.Tensor:
    """Random infilling patterns: every row fixes a random subset of positions to random tokens;
    includes a fully free row and a fully given row."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, vocab_size, (rows, length), generator=g)
    free = torch.rand(rows, length, generator=g) < 0.5
    free[0], free[1] = True, False
    return torch.where(free, torch.full_like(tokens, vocab_size), tokens)


@pytest.mark.parametrize("config", sorted(MASKED_CONFIGS))
def test_prompted_positions_never_change(config: str) -> None:
    """With a prompt of per-row infilling patterns (200 rows, random subsets fixed, one row fully
    free and one fully given), every given token is returned unchanged at every step of the
    trajectory and no mask id is left at the end."""
    sampler, steps = MASKED_CONFIGS[config]
    target = random_table(3, 4, seed=8, concentration=0.5)
    prompt = _prompt(200, 3, 4, seed=9)
    result = unmask.sample(
        target.denoiser(),
        sampler,
        vocab_size=3,
        prompt=prompt,
        steps=steps,
        return_trajectory=True,
        generator=torch.Generator().manual_seed(32),
    )
    given = prompt != 3
    for state in result.trajectory:
        assert torch.equal(state[given], prompt[given])
    assert bool((result.tokens < 3).all())
