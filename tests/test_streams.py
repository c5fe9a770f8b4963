"""Counter-based per-row random streams (spec §2.0, §9.1): batch-size invariance, uniformity,
independence, exact inverse-CDF draws that never return a zero-mass index, random subsets."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import unmask
from stats import CHI_SQUARE_LEVEL, chi_square_pvalue
from unmask.streams import RowStreams, categorical_from_uniform, choose_subset, seed_from

DTYPES = [torch.float64, torch.float32]


def _chi_square_uniform(u: torch.Tensor, bins: int) -> float:
    """P-value of Pearson's chi-square test that ``u`` (in (0, 1)) is uniform over ``bins`` bins."""
    cells = (u.reshape(-1, 1).double() * bins).floor().long().clamp(max=bins - 1)
    return chi_square_pvalue(cells, torch.full((bins,), 1.0 / bins, dtype=torch.float64))


def _draws(streams: RowStreams) -> list[torch.Tensor]:
    """A fixed sequence of draws of every kind, as the driver would make them."""
    rows = len(streams.row_ids)
    g = torch.Generator().manual_seed(1)
    probs = torch.rand(rows, 3, 5, generator=g, dtype=torch.float64)
    return [
        streams.uniform(),
        streams.uniform(4),
        streams.bernoulli(torch.full((rows, 3), 0.3, dtype=torch.float64)),
        streams.categorical(probs),
        streams.uniform(2, 3),
    ]


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_seed_same_rows_whatever_the_batch(dtype):
    """Row b sees the same numbers whatever the batch size and whichever other rows are present."""
    big = _draws(RowStreams(123, torch.arange(12), dtype))
    small = _draws(RowStreams(123, torch.arange(5), dtype))
    picked = _draws(RowStreams(123, torch.tensor([7, 2]), dtype))
    for a, b, c in zip(big, small, picked, strict=True):
        assert torch.equal(a[:5], b)
        # Probability rows differ with the batch in _draws, so compare uniform-based draws only.
        if a.is_floating_point() or a.dtype == torch.bool:
            assert torch.equal(a[[7, 2]], c)


def test_categorical_rows_are_batch_invariant():
    """The categorical draw of row b depends only on row b's probabilities and stream."""
    g = torch.Generator().manual_seed(2)
    probs = torch.rand(9, 4, 6, generator=g, dtype=torch.float64)
    full = RowStreams(5, torch.arange(9)).categorical(probs)
    part = RowStreams(5, torch.tensor([3, 8])).categorical(probs[[3, 8]])
    assert torch.equal(full[[3, 8]], part)


def test_sample_rows_do_not_depend_on_batch_size():
    """``unmask.sample`` with the same seed gives the same first rows for batch sizes 3 and 8."""
    vocab, length = 3, 4

    def denoiser(x, t):
        return torch.log(torch.tensor([0.5, 0.3, 0.2])).expand(x.shape[0], length, vocab)

    for sampler, steps in (("euler", 3), ("first-hitting", None)):
        runs = [
            unmask.sample(
                denoiser, sampler, vocab_size=vocab, length=length, batch_size=b, steps=steps, generator=9
            ).tokens
            for b in (3, 8)
        ]
        assert torch.equal(runs[0], runs[1][:3])


def test_different_seeds_differ():
    """Two seeds give different streams; seed_from accepts an int, a Generator or None."""
    a = RowStreams(1, torch.arange(4)).uniform(8)
    b = RowStreams(2, torch.arange(4)).uniform(8)
    assert not bool((a == b).any())
    assert seed_from(5) == 5
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert seed_from(g1) == seed_from(g2)
    assert 0 <= seed_from(None) < 2**62
    with pytest.raises(TypeError, match="generator"):
        seed_from(True)
    with pytest.raises(TypeError, match="generator"):
        seed_from("seed")


@pytest.mark.parametrize("dtype", DTYPES)
def test_uniform_in_open_interval_and_uniform(dtype):
    """Uniforms lie in the open interval (0, 1) in the draw dtype and pass a 100-bin chi-square
    uniformity test (significance CHI_SQUARE_LEVEL) over rows, elements and draws."""
    streams = RowStreams(11, torch.arange(200), dtype)
    u = torch.cat([streams.uniform(250).reshape(-1) for _ in range(2)])
    assert u.dtype == dtype
    assert float(u.min()) > 0 and float(u.max()) < 1
    assert _chi_square_uniform(u, 100) > CHI_SQUARE_LEVEL


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_uniforms_stay_inside(dtype):
    """The largest and smallest values the construction can produce are strictly inside (0, 1)."""
    bits = 52 if dtype == torch.float64 else 23
    k = torch.tensor([0, 2**bits - 1], dtype=torch.int64).to(dtype)
    u = (k + 0.5) * 2.0**-bits
    assert float(u[0]) > 0 and float(u[1]) < 1


def test_independence_between_rows_draws_and_elements():
    """Pairs (row b, row b+1), (draw k, draw k+1) and (element i, element i+1) fill a 10 x 10 grid
    uniformly (chi-square at CHI_SQUARE_LEVEL), and 80,000 float64 draws hold no equal values."""
    streams = RowStreams(3, torch.arange(400))
    first, second = streams.uniform(100), streams.uniform(100)
    pairs = {
        "rows": (first[:-1:2], first[1::2]),
        "draws": (first, second),
        "elements": (first[:, :-1:2], first[:, 1::2]),
    }
    for name, (a, b) in pairs.items():
        cells = (a * 10).floor() * 10 + (b * 10).floor()
        p = _chi_square_uniform((cells.reshape(-1) + 0.5) / 100, 100)
        assert p > CHI_SQUARE_LEVEL, name
    values = torch.cat([first.reshape(-1), second.reshape(-1)])
    assert values.unique().numel() == values.numel()


def test_bernoulli_frequency():
    """bernoulli(p) is True with probability p: counts within Z = 3.29 (two-sided 1e-3)."""
    streams = RowStreams(4, torch.arange(1000))
    p = torch.tensor([0.0, 1e-3, 0.3, 0.9, 1.0], dtype=torch.float64)
    hits = streams.bernoulli(p.expand(1000, 5)).sum(0).double()
    assert hits[0] == 0 and hits[-1] == 1000
    sd = (1000 * p * (1 - p)).sqrt()
    assert bool(((hits - 1000 * p).abs() <= 3.29 * sd + 1e-9).all()), hits


@pytest.mark.parametrize("dtype", DTYPES)
def test_categorical_matches_its_law(dtype):
    """Inverse-CDF draws over 20,000 rows match the (unnormalised) probabilities by Pearson's
    chi-square at CHI_SQUARE_LEVEL, and a zero-mass token is never drawn."""
    probs = torch.tensor([3.0, 0.0, 1.0, 0.5, 0.0, 2.5], dtype=torch.float64)
    streams = RowStreams(8, torch.arange(20_000), dtype)
    draws = streams.categorical(probs.expand(20_000, 6))
    assert chi_square_pvalue(draws.unsqueeze(-1), probs / probs.sum()) > CHI_SQUARE_LEVEL


@pytest.mark.parametrize("dtype", DTYPES)
def test_categorical_never_returns_zero_mass_in_adversarial_cases(dtype):
    """Zero-mass indices are never returned: at the largest and smallest uniforms the streams make,
    exactly at a break point, and at u = 1, where u * total lands on the last break point and the
    search runs past the end (rows with zero mass at the end must then fall back to the last token
    that has mass). Rows have zeros at the start, in the middle and at the end."""
    bits = 52 if dtype == torch.float64 else 23
    u_values = [(2**bits - 0.5) * 2.0**-bits, 0.5 * 2.0**-bits, 0.5, 0.25, 1 / 3, 1.0]
    g = torch.Generator().manual_seed(0)
    rows = []
    for _ in range(400):
        p = torch.rand(7, generator=g, dtype=torch.float64) * 10.0 ** torch.randint(-12, 3, (7,), generator=g)
        p[torch.rand(7, generator=g) < 0.4] = 0.0
        p[int(torch.randint(0, 7, (1,), generator=g))] = float(torch.rand(1, generator=g)) + 1e-3
        rows.append(p)
    rows += [
        torch.tensor([0.5, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64),
        torch.tensor([0.0, 0.0, 0.1, 0.2, 0.0, 0.0, 0.0], dtype=torch.float64),
        torch.tensor([0.1, 0.2, 0.3, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64),
        torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-30], dtype=torch.float64),
    ]
    probs = torch.stack(rows).to(dtype)
    past_end = 0
    for u in u_values:
        uu = torch.full((len(probs),), u, dtype=dtype)
        index = categorical_from_uniform(probs, uu)
        assert bool((probs.gather(-1, index[:, None]) > 0).all()), u
        cdf = probs.cumsum(-1)
        landing = torch.searchsorted(cdf, (uu * cdf[:, -1]).unsqueeze(-1), right=True).squeeze(-1)
        past_end += int((landing >= probs.shape[-1]).sum())
        # Past the end, the first index at which the cumulative sum reaches its total: it has mass.
        last = torch.searchsorted(cdf, cdf[:, -1:].contiguous(), right=False).squeeze(-1)
        assert torch.equal(index, torch.minimum(landing, last)), u
    assert past_end > 0, "no case ran past the last break point"
    # The exact break point 0.5 of [0.5, 0, 0.5] goes to the next token with mass, not to index 1.
    half = categorical_from_uniform(probs[400:401], torch.tensor([0.5], dtype=dtype))
    assert int(half) == 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_categorical_where_draws_only_selected_entries(dtype):
    """With ``where``, the selected entries equal the unrestricted draw (the stream advances the
    same), the others are 0, and ``exclude`` never returns the excluded index."""
    g = torch.Generator().manual_seed(4)
    probs = torch.rand(30, 5, 6, generator=g, dtype=torch.float64)
    probs[probs < 0.3] = 0.0
    probs[..., 0] += 1e-3
    where = torch.rand(30, 5, generator=g) < 0.5
    full = RowStreams(2, torch.arange(30), dtype).categorical(probs)
    part = RowStreams(2, torch.arange(30), dtype).categorical(probs, where=where)
    assert torch.equal(part[where], full[where]) and bool((part[~where] == 0).all())
    exclude = torch.randint(0, 6, (30, 5), generator=g)
    probs.scatter_(-1, exclude.unsqueeze(-1), 1.0)
    jumped = RowStreams(2, torch.arange(30), dtype).categorical(probs, where=where, exclude=exclude)
    zeroed = probs.scatter(-1, exclude.unsqueeze(-1), 0.0)
    again = RowStreams(2, torch.arange(30), dtype).categorical(zeroed)
    assert torch.equal(jumped[where], again[where])
    assert bool((jumped[where] != exclude[where]).all())
    alone = RowStreams(2, torch.arange(30), dtype).categorical(probs, exclude=exclude)
    assert torch.equal(alone, again)


def test_categorical_where_handles_many_pieces(monkeypatch):
    """Draws restricted by ``where`` agree with the plain draw when the selected positions are
    processed in many pieces (one position per piece), densely or gathered."""
    from unmask import pieces

    g = torch.Generator().manual_seed(6)
    probs = torch.rand(4, 3, 40, generator=g, dtype=torch.float64)
    where = torch.ones(4, 3, dtype=torch.bool)
    where[1, 2] = False
    plain = RowStreams(1, torch.arange(4)).categorical(probs)
    monkeypatch.setattr(pieces, "MIN_PIECE_VALUES", 1)
    for dense in ("0", "1"):
        monkeypatch.setenv("UNMASK_DENSE", dense)
        chunked = RowStreams(1, torch.arange(4)).categorical(probs, where=where)
        assert torch.equal(chunked[where], plain[where]) and bool((chunked[~where] == 0).all())


def _subset_index(chosen: torch.Tensor) -> torch.Tensor:
    """Each row's chosen positions as an integer code (bit mask)."""
    return (chosen.long() * (2 ** torch.arange(chosen.shape[-1]))).sum(-1)


def test_choose_subset_size_and_uniformity():
    """choose_subset picks exactly min(count, #eligible) eligible positions, and with 5 eligible of 6
    positions and count 2 each of the C(5, 2) = 10 subsets appears equally often (chi-square at
    CHI_SQUARE_LEVEL over 20,000 rows)."""
    rows = 20_000
    streams = RowStreams(21, torch.arange(rows))
    eligible = torch.tensor([True, False, True, True, True, True]).expand(rows, 6)
    chosen = choose_subset(streams.uniform(6), eligible, torch.full((rows,), 2))
    assert bool((chosen.sum(-1) == 2).all()) and not bool(chosen[:, 1].any())
    subsets = [sum(2**i for i in combo) for combo in itertools.combinations([0, 2, 3, 4, 5], 2)]
    codes = _subset_index(chosen)
    cells = torch.searchsorted(torch.tensor(sorted(subsets)), codes)
    assert torch.equal(torch.tensor(sorted(subsets))[cells], codes)
    law = torch.full((math.comb(5, 2),), 1 / math.comb(5, 2), dtype=torch.float64)
    assert chi_square_pvalue(cells.unsqueeze(-1), law) > CHI_SQUARE_LEVEL


def test_choose_subset_counts_are_clipped_per_row():
    """Per row: count 0 picks nothing, count above #eligible picks every eligible position."""
    g = torch.Generator().manual_seed(3)
    eligible = torch.rand(50, 7, generator=g) < 0.5
    count = torch.randint(0, 9, (50,), generator=g)
    chosen = choose_subset(torch.rand(50, 7, generator=g, dtype=torch.float64), eligible, count)
    assert bool((chosen <= eligible).all())
    assert torch.equal(chosen.sum(-1), torch.minimum(count, eligible.sum(-1)))


def test_bad_draw_dtype_is_rejected():
    """RowStreams accepts only float64 and float32 draws and says so."""
    with pytest.raises(ValueError, match="float64 or torch.float32"):
        RowStreams(0, torch.arange(2), torch.float16)


# The driver turns diagnostics into floats without detaching them; that warning is not this test's concern.
@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
def test_draws_accept_probabilities_that_carry_gradients():
    """A model called without no_grad returns logits that require grad: every sampler still draws,
    and the draws equal those from the detached model."""
    weights = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)

    def attached(x, t):
        return weights[x]

    def detached(x, t):
        return weights.detach()[x]

    masked = ["euler", "tweedie", "first-hitting", "k-random", "trapezoidal", "rk2"]
    uniform = ["euler", "tau-leaping", "tweedie", "trapezoidal"]
    cases = [(name, unmask.MaskedProcess()) for name in masked]
    cases += [(name, unmask.UniformProcess()) for name in uniform if name in unmask.samplers.names("uniform")]
    for name, process in cases:
        steps = None if name == "first-hitting" else 2
        runs = [
            unmask.sample(
                model, name, vocab_size=3, length=3, batch_size=2, steps=steps, process=process, generator=1
            ).tokens
            for model in (attached, detached)
        ]
        assert torch.equal(runs[0], runs[1]), name
