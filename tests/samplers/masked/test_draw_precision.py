"""Precision of categorical draws (spec §4.13, §9.1, T20): float32 uniforms and cumulative sums
drop rare tokens and lower the entropy; the float64 default does not.

``unmask.streams.categorical_from_uniform`` is an inverse-CDF draw, monotone in ``u``, and the
streams' uniforms are ``u = (k + 0.5) 2^-b`` for an integer ``k`` in ``[0, 2^b)``, with ``b = 52``
(float64) or ``b = 23`` (float32). The exact law of a draw in either dtype is therefore
``P(j) = #{k : draw(k) = j} / 2^b``, and the counts follow from bisection over ``k`` at every
token boundary. In float32 every probability becomes a multiple of ``2^-23``: a token below that
either gets nothing or is inflated to ``2^-23``, so the mass of many rare tokens piles onto a
few of them and their entropy contribution drops from about ``R log(1/p)`` to ``R log(2^23)``.
"""

from __future__ import annotations

import math

import pytest
import torch

import unmask
from unmask.exact import entropy
from unmask.streams import RowStreams, categorical_from_uniform
from unmask.targets import Table

BITS = {torch.float64: 52, torch.float32: 23}

#: One position, V = 64: a dominant token 0, then 63 rare tokens with probabilities spread evenly
#: over [1e-8, 5.9e-8], all below 2^-24 ~ 5.96e-8 (total rare mass ~2.2e-6, ~18 float32 grid cells).
VOCAB = 64


def rare_target() -> Table:
    rare = torch.linspace(1e-8, 5.9e-8, VOCAB - 1, dtype=torch.float64)
    return Table(torch.cat([(1 - rare.sum()).reshape(1), rare]))


#: float32 grid spacing of the uniforms.
GRID = 2.0**-23


def straddling_target() -> Table:
    """One position, V = 64, built to make float32 losses cheap to observe by sampling: 63 rare
    tokens first, then the dominant one. The rare ones alternate "thin" (``GRID / 8``) and "wide"
    (``7 GRID / 8`` ~ 1.04e-7), starting with a thin one of ``GRID / 2 + GRID / 16``; so every
    float32 grid point ``(k + 0.5) GRID`` falls inside a thin token, with a margin of ``GRID / 16``,
    and every wide token lies strictly between two grid points. In float32 the 31 wide tokens
    (total ~3.2e-6) get probability 0 and the 32 thin ones are inflated to ``GRID``."""
    thin, wide = GRID / 8, 7 * GRID / 8
    rare = [GRID / 2 + GRID / 16] + [wide, thin] * 31
    rare = torch.tensor(rare, dtype=torch.float64)
    return Table(torch.cat([rare, (1 - rare.sum()).reshape(1)]))


def draw_law(probs: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Exact law ``[V]`` (float64) of ``categorical_from_uniform(probs.to(dtype), u)`` over the
    ``2^b`` uniforms of the streams, by bisection: ``count[j]`` is the first ``k`` whose draw
    exceeds ``j`` (the draw is non-decreasing in ``k``)."""
    bits = BITS[dtype]
    size = probs.numel()
    table = probs.to(dtype).expand(size, size)
    tokens = torch.arange(size)
    low = torch.zeros(size, dtype=torch.int64)
    high = torch.full((size,), 1 << bits, dtype=torch.int64)
    while bool((low < high).any()):
        mid = (low + high) // 2
        u = (mid.clamp(max=(1 << bits) - 1).to(dtype) + 0.5) * 2.0**-bits
        above = categorical_from_uniform(table, u) > tokens
        high = torch.where(above & (low < high), mid, high)
        low = torch.where(above | (low >= high), low, mid + 1)
    counts = torch.diff(low, prepend=torch.zeros(1, dtype=torch.int64))
    return counts.to(torch.float64) * 2.0**-bits


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_stream_uniforms_lie_on_the_assumed_grid(dtype: torch.dtype) -> None:
    """The streams' uniforms are ``(k + 0.5) 2^-b`` with integer ``0 <= k < 2^b`` (b = 52 in
    float64, 23 in float32): the premise of ``draw_law``."""
    bits = BITS[dtype]
    u = RowStreams(5, torch.arange(1000), dtype).uniform(50)
    assert u.dtype == dtype
    k = u.double() * 2.0**bits - 0.5
    assert torch.equal(k, k.round())
    assert bool((k >= 0).all()) and bool((k < 2.0**bits).all())


def test_draw_law_matches_exhaustive_enumeration() -> None:
    """Control for the bisection: in float32, ``draw_law`` equals the histogram of the draw over
    all 2^23 uniforms, for a small law with a zero, a rare and a dominant token."""
    probs = torch.tensor([0.3, 0.0, 1e-8, 0.7 - 1e-8 - 3e-8, 3e-8], dtype=torch.float64)
    counts = torch.zeros(5, dtype=torch.int64)
    for start in range(0, 1 << 23, 1 << 21):
        k = torch.arange(start, start + (1 << 21))
        u = (k.to(torch.float32) + 0.5) * 2.0**-23
        draws = categorical_from_uniform(probs.to(torch.float32).expand(len(k), 5), u)
        counts += torch.bincount(draws, minlength=5)
    assert torch.equal(draw_law(probs, torch.float32), counts.double() * 2.0**-23)


def test_float32_draws_drop_rare_tokens_and_entropy() -> None:
    """Exact laws of the draw on the rare-token target: in float64 every token keeps its
    probability to 1e-14 (absolute) and the entropy matches to 1e-9 relative; in float32 every
    probability is a multiple of 2^-23, more than half of the 63 rare tokens (each below 2^-24)
    get probability 0, and the entropy is lower by more than 5% of the exact entropy (about
    3e-6 nats)."""
    probs = rare_target().probs()
    exact = entropy(probs)
    law64 = draw_law(probs, torch.float64)
    law32 = draw_law(probs, torch.float32)
    assert abs(float(law64.sum()) - 1) <= 1e-15 and abs(float(law32.sum()) - 1) <= 1e-15
    assert float((law64 - probs).abs().max()) <= 1e-14
    assert abs(entropy(law64) - exact) <= 1e-9 * exact
    cells = law32 * 2.0**23
    assert torch.equal(cells, cells.round())
    dropped = int((law32[1:] == 0).sum())
    assert dropped > (VOCAB - 1) / 2, f"only {dropped} of {VOCAB - 1} rare tokens dropped"
    loss = exact - entropy(law32)
    assert loss > 0.05 * exact, f"float32 entropy {entropy(law32):.4g} vs exact {exact:.4g}"


class FrozenDenoiser:
    """The exact denoiser of a one-position target: the same logits for every row (the only state
    it is asked about is the all-mask one), without recomputing them for millions of rows."""

    time_agnostic = True

    def __init__(self, target: Table) -> None:
        self.logits = target.denoiser()(torch.full((1, 1), target.vocab_size), torch.ones(1))[0]

    def __call__(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(z.shape[0], 1, -1)


def _draw(target: Table, rows: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Token counts ``[V]`` of ``rows`` first-hitting samples, drawn in batches of 2^18."""
    counts = torch.zeros(target.vocab_size, dtype=torch.int64)
    denoiser = FrozenDenoiser(target)
    batch = 1 << 18
    for start in range(0, rows, batch):
        result = unmask.sample(
            denoiser,
            "first-hitting",
            vocab_size=target.vocab_size,
            length=1,
            batch_size=batch,
            generator=seed + start // batch,
            draw_dtype=dtype,
        )
        counts += torch.bincount(result.tokens[:, 0], minlength=target.vocab_size)
    return counts


def test_first_hitting_float32_never_draws_the_dropped_tokens() -> None:
    """Sampler level, on ``straddling_target``: the tokens whose exact float32 probability is 0
    (set Z: the 31 wide tokens, about 3.2e-6 in all) never appear in 2^20 first-hitting draws with
    ``draw_dtype=torch.float32`` (certain, by the exact law), but do appear in 2^22 draws with the
    float64 default: the float64 count of Z is Poisson with mean lambda ~ 13.6, so a false failure
    (none drawn) has probability exp(-lambda) ~ 1e-6. The float32 draws also show the inflated
    thin tokens (expected count ~ 2^20 * 32 * GRID ~ 4)."""
    target = straddling_target()
    probs = target.probs()
    law32 = draw_law(probs, torch.float32)
    dropped = (law32 == 0) & (probs > 0)
    assert int(dropped.sum()) == 31
    expected = (1 << 22) * float(probs[dropped].sum())
    assert expected > 13
    counts32 = _draw(target, 1 << 20, torch.float32, seed=100)
    counts64 = _draw(target, 1 << 22, torch.float64, seed=200)
    assert int(counts32[dropped].sum()) == 0
    seen = int(counts64[dropped].sum())
    assert seen > 0, f"no dropped token in float64 draws (expected {expected:.1f})"
    # The float64 counts of Z are Poisson(lambda): a gross excess would mean a wrong law.
    assert seen < expected + 6 * math.sqrt(expected), f"{seen} dropped tokens drawn, expected {expected:.1f}"
