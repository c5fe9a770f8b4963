"""Denoiser call counts (spec §2.1, §2.2, §9.11, §9.12): first-hitting makes one call per masked
token of each row; the grid samplers reuse calls for unchanged rows of a time-agnostic denoiser
and make one call per step otherwise."""

from __future__ import annotations

import torch

import unmask
from problems import random_table


class TimeConditioned:
    """The same exact denoiser without the ``time_agnostic`` declaration (as a network that takes
    ``t`` would be): the driver may not reuse its outputs."""

    def __init__(self, denoiser) -> None:
        self.denoiser = denoiser

    def __call__(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.denoiser(z, t)


def _target():
    return random_table(3, 4, seed=8, concentration=0.5)


def _has_mask(states: torch.Tensor) -> torch.Tensor:
    """Bool ``[steps + 1, B]``: the row still holds a mask id at that step (V = 3)."""
    return (states == 3).any(-1)


def test_first_hitting_calls_once_per_masked_token() -> None:
    """First-hitting with a prompt that leaves 0..4 positions masked (rows cycle through the
    counts): ``nfe_per_row`` equals the number of masked positions of each row, and ``nfe`` (one
    batched call per step) equals the largest of them."""
    counts = torch.arange(100) % 5  # masked positions per row: 0, 1, 2, 3, 4, 0, ...
    prompt = torch.where(torch.arange(4) < counts[:, None], 3, 1)
    result = unmask.sample(_target().denoiser(), "first-hitting", vocab_size=3, prompt=prompt, generator=1)
    assert torch.equal(result.nfe_per_row, counts)
    assert result.nfe == int(counts.max())
    assert result.steps == int(counts.max())


def test_euler_reuses_calls_with_a_time_agnostic_denoiser() -> None:
    """Euler with N = 64 steps on L = 4 and the exact (time-agnostic) denoiser: a row calls the
    denoiser only at steps where it still holds a mask and changed since its last call (read off
    the trajectory), so ``nfe_per_row <= min(N, L) = 4`` for every row, far below N; and ``nfe``
    (batched calls) is at most N."""
    steps = 64
    result = unmask.sample(
        _target().denoiser(),
        "euler",
        vocab_size=3,
        length=4,
        batch_size=300,
        steps=steps,
        return_trajectory=True,
        generator=2,
    )
    states = result.trajectory[:steps]  # the state at the start of each step
    changed = torch.ones(states.shape[:2], dtype=torch.bool)
    changed[1:] = (states[1:] != states[:-1]).any(-1)
    expected = (_has_mask(states) & changed).sum(0)
    assert torch.equal(result.nfe_per_row, expected)
    assert int(result.nfe_per_row.max()) <= min(steps, 4)
    assert result.nfe <= steps


def test_grid_samplers_call_every_step_without_time_agnosticism() -> None:
    """With a denoiser that does not declare ``time_agnostic``, Euler (N = 64) makes exactly N
    batched calls and each row is evaluated at every step where it still holds a mask; the
    theta-trapezoid (N = 16, two stages per step) makes exactly 2N batched calls."""
    steps = 64
    result = unmask.sample(
        TimeConditioned(_target().denoiser()),
        "euler",
        vocab_size=3,
        length=4,
        batch_size=300,
        steps=steps,
        return_trajectory=True,
        generator=3,
    )
    assert result.nfe == steps
    assert torch.equal(result.nfe_per_row, _has_mask(result.trajectory[:steps]).sum(0))
    trapezoid = unmask.sample(
        TimeConditioned(_target().denoiser()),
        "trapezoidal",
        vocab_size=3,
        length=4,
        batch_size=300,
        steps=16,
        generator=4,
    )
    assert trapezoid.nfe == 2 * 16


def test_k_random_calls_once_per_block() -> None:
    """k-random with sizes (1, 2, 1) on L = 4 makes 3 calls per row (one per block), whatever the
    denoiser declares."""
    for denoiser in (_target().denoiser(), TimeConditioned(_target().denoiser())):
        result = unmask.sample(
            denoiser,
            unmask.samplers.get("k-random", sizes=(1, 2, 1)),
            vocab_size=3,
            length=4,
            batch_size=50,
            generator=5,
        )
        assert result.nfe == 3
        assert bool((result.nfe_per_row == 3).all())
