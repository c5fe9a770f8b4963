"""The denoiser contract and its wrappers: output checks, carry-over, score adapters, counting and
the driver's cache (reuse of unchanged rows, outputs never modified afterwards)."""

from __future__ import annotations

import pytest
import torch

from unmask import MaskedProcess, UniformProcess
from unmask.denoisers import (
    CachedDenoiser,
    CarryOver,
    CountingDenoiser,
    ScoreDenoiser,
    check_logits,
    is_time_agnostic,
)
from unmask.probabilities import Probabilities, softmax64
from unmask.schedules import CosineSchedule

V, L = 3, 4


class Recording:
    """A denoiser that records its inputs and returns fixed per-position logits plus a term in
    the row's tokens (so that different rows get different outputs)."""

    def __init__(self, time_agnostic: bool = False, dtype: torch.dtype = torch.float32):
        g = torch.Generator().manual_seed(0)
        self.base = torch.randn(L, V, generator=g).to(dtype)
        self.time_agnostic = time_agnostic
        self.inputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, x_t, t):
        self.inputs.append((x_t.clone(), t.clone()))
        shift = x_t.sum(-1, keepdim=True).unsqueeze(-1).to(self.base.dtype)
        return self.base + 0.1 * shift + t[:, None, None].to(self.base.dtype)


# -- check_logits -------------------------------------------------------------------------------


def test_check_logits_accepts_and_returns_valid_logits():
    """Valid float logits (with some -inf entries) come back unchanged (the same tensor)."""
    logits = torch.randn(2, L, V)
    logits[0, 0, :2] = float("-inf")
    assert check_logits(logits, 2, L, V) is logits


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: [[0.0]], TypeError, "must return a tensor of logits, got list"),
        (lambda: torch.zeros(2, L, V, dtype=torch.long), TypeError, "float logits, got dtype torch.int64"),
        (lambda: torch.zeros(2, L), ValueError, r"shape \(2, 4\), expected \(2, 4, 3\)"),
        (lambda: torch.zeros(2, L, V + 1), ValueError, "mask column"),
        (lambda: torch.zeros(2, L, 7), ValueError, "vocabulary 7, but vocab_size=3"),
        (lambda: torch.zeros(3, L, V), ValueError, r"expected \(2, 4, 3\)"),
    ],
)
def test_check_logits_rejects_bad_types_and_shapes(make, error, match):
    """Wrong types and shapes raise with a message naming what was got and what was expected."""
    with pytest.raises(error, match=match):
        check_logits(make(), 2, L, V)


@pytest.mark.parametrize(
    ("value", "where", "match"),
    [
        (float("nan"), (1, 2, 1), "NaN logits"),
        (float("inf"), (0, 3, 2), r"\+inf logits"),
    ],
)
def test_check_logits_rejects_nan_and_posinf(value, where, match):
    """A single NaN or +inf anywhere (also in the middle of a long row) is an error."""
    logits = torch.randn(2, L, V)
    logits[where] = value
    with pytest.raises(ValueError, match=match):
        check_logits(logits, 2, L, V)
    long = torch.randn(2, 3, 37)
    long[1, 1, 20] = value
    with pytest.raises(ValueError, match=match):
        check_logits(long, 2, 3, 37)


def test_check_logits_rejects_a_position_with_no_possible_token():
    """A position whose logits are all -inf is an error; NaN is reported before +inf."""
    logits = torch.randn(2, L, V)
    logits[1, 0] = float("-inf")
    with pytest.raises(ValueError, match="all -inf"):
        check_logits(logits, 2, L, V)
    both = torch.randn(2, L, V)
    both[0, 0, 0], both[1, 1, 1] = float("inf"), float("nan")
    with pytest.raises(ValueError, match="NaN"):
        check_logits(both, 2, L, V)


def test_softmax64_equals_the_float64_softmax_and_leaves_input_alone():
    """softmax64 gives exactly torch.softmax(logits.double()), in a new float64 tensor, for float32
    and float64 inputs (contiguous or not), across chunk boundaries, and never writes its input."""
    g = torch.Generator().manual_seed(1)
    for dtype in (torch.float32, torch.float64):
        logits = (torch.randn(5, 7, 11, generator=g) * 4).to(dtype)
        logits[0, 0, :3] = float("-inf")
        before = logits.clone()
        for x in (logits, logits.transpose(0, 1)):
            for chunk in (1, 30, 1 << 20):
                out = softmax64(x, chunk=chunk)
                assert out.dtype == torch.float64
                assert torch.equal(out, torch.softmax(x.double(), -1))
        assert torch.equal(logits, before)


def test_softmax64_keeps_gradients():
    """Logits that require grad get the differentiable float64 softmax (same values and gradient)."""
    x = torch.randn(2, 3, 4, requires_grad=True)
    w = torch.randn(2, 3, 4, dtype=torch.float64)
    out = softmax64(x)
    (got,) = torch.autograd.grad((out * w).sum(), x)
    (expected,) = torch.autograd.grad((torch.softmax(x.double(), -1) * w).sum(), x)
    assert torch.equal(out, torch.softmax(x.double(), -1)) and torch.equal(got, expected)


# -- wrappers -----------------------------------------------------------------------------------


def test_carry_over_pins_unmasked_positions():
    """CarryOver: an unmasked position gets logit 0 on its token and -inf elsewhere; masked
    positions keep the model's logits; time_agnostic is passed through."""
    model = Recording(time_agnostic=True)
    wrapped = CarryOver(model, V)
    assert is_time_agnostic(wrapped)
    x = torch.tensor([[0, V, 2, V], [V, 1, V, 0]])
    t = torch.tensor([0.3, 0.6])
    out = wrapped(x, t)
    raw = model(x, t)
    masked = x == V
    assert torch.equal(out[masked], raw[masked])
    pinned = out[~masked]
    tokens = x[~masked]
    assert bool((pinned.gather(-1, tokens[:, None]) == 0).all())
    others = pinned.scatter(-1, tokens[:, None], float("-inf"))
    assert bool(torch.isneginf(others).all())
    assert not is_time_agnostic(CarryOver(Recording(time_agnostic=False), V))


def test_score_denoiser_masked_round_trip():
    """Masked process: a model returning log(alpha/(1-alpha) p) gives logits whose softmax is p."""
    process = MaskedProcess(CosineSchedule())
    g = torch.Generator().manual_seed(2)
    probs = torch.softmax(torch.randn(2, L, V, generator=g, dtype=torch.float64), -1)
    x = torch.full((2, L), V)
    t = torch.tensor([0.4, 0.8], dtype=torch.float64)
    score = process.logits_to_score(probs.log(), x, t, V)
    adapter = ScoreDenoiser(lambda x_t, t_: score.log(), process)
    torch.testing.assert_close(torch.softmax(adapter(x, t).double(), -1), probs, rtol=1e-12, atol=1e-14)


def test_score_denoiser_uniform_round_trip():
    """Uniform process: a model returning log score(p) gives logits whose softmax is p."""
    process = UniformProcess()
    g = torch.Generator().manual_seed(3)
    probs = torch.softmax(torch.randn(2, L, V, generator=g, dtype=torch.float64), -1)
    x = torch.randint(0, V, (2, L), generator=g)
    t = torch.tensor([0.05, 0.1], dtype=torch.float64)
    score = process.score(probs, x, t)
    adapter = ScoreDenoiser(lambda x_t, t_: score.log(), process)
    torch.testing.assert_close(torch.softmax(adapter(x, t).double(), -1), probs, rtol=1e-9, atol=1e-12)


def test_counting_denoiser_counts_calls_and_rows():
    """CountingDenoiser counts each call once and adds the rows of each call."""
    counted = CountingDenoiser(Recording(time_agnostic=True))
    assert is_time_agnostic(counted)
    counted(torch.full((3, L), V), torch.ones(3))
    counted(torch.full((2, L), V), torch.ones(2))
    assert (counted.calls, counted.rows) == (2, 5)


# -- CachedDenoiser -----------------------------------------------------------------------------


def _softmax(model: Recording, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.softmax(model(z, t).double(), -1)


def test_cache_evaluates_only_active_rows():
    """Only active rows are passed to the denoiser; on a first call inactive rows get the uniform
    placeholder 1/V, later they keep their previous output; nfe and nfe_per_row count the calls."""
    model = Recording()
    cache = CachedDenoiser(model, 3, L, V)
    z = torch.tensor([[V, 0, 1, 2], [0, 1, 2, 0], [V, V, V, V]])
    t = torch.tensor([0.5, 0.5, 0.5], dtype=torch.float64)
    probs = cache(z, t, active=torch.tensor([True, False, True])).dense()
    assert torch.equal(model.inputs[-1][0], z[[0, 2]])
    assert probs.dtype == torch.float64
    assert torch.equal(probs[1], torch.full((L, V), 1 / V, dtype=torch.float64))
    assert torch.equal(probs[[0, 2]], _softmax(Recording(), z[[0, 2]], t[[0, 2]]))
    again = cache(z, t * 0.5, active=torch.tensor([False, False, True])).dense()
    assert torch.equal(again[0], probs[0]) and torch.equal(again[1], probs[1])
    assert cache.nfe == 2 and cache.nfe_per_row.tolist() == [1, 0, 2]
    cache(z, t, active=torch.zeros(3, dtype=torch.bool))
    assert cache.nfe == 2 and len(model.inputs) == 2


def test_cache_reuses_unchanged_rows_of_a_time_agnostic_denoiser():
    """Time-agnostic denoiser: a row whose input is unchanged is not re-evaluated (its output is
    reused, even at another time); a call where nothing changed makes no call at all."""
    model = Recording(time_agnostic=True)
    cache = CachedDenoiser(model, 2, L, V)
    z = torch.tensor([[V, V, 0, 1], [V, 2, V, V]])
    t = torch.full((2,), 0.9, dtype=torch.float64)
    first = cache(z, t).dense().clone()
    same = cache(z, t * 0.5).dense()
    assert cache.nfe == 1 and len(model.inputs) == 1 and torch.equal(same, first)
    z2 = z.clone()
    z2[1, 0] = 1
    second = cache(z2, t * 0.5).dense()
    assert len(model.inputs) == 2 and torch.equal(model.inputs[-1][0], z2[[1]])
    assert torch.equal(second[0], first[0])
    assert torch.equal(second[1], _softmax(Recording(), z2[[1]], t[[1]] * 0.5)[0])
    assert cache.nfe == 2 and cache.nfe_per_row.tolist() == [1, 2]


def test_cache_does_not_reuse_for_a_time_dependent_denoiser():
    """Without time_agnostic every call evaluates every active row (reuse=None follows the flag);
    reuse=True forces reuse."""
    model = Recording(time_agnostic=False)
    cache = CachedDenoiser(model, 2, L, V)
    z = torch.full((2, L), V)
    t = torch.full((2,), 0.5, dtype=torch.float64)
    cache(z, t)
    cache(z, t)
    assert cache.nfe == 2 and len(model.inputs) == 2
    forced = CachedDenoiser(Recording(time_agnostic=False), 2, L, V, reuse=True)
    forced(z, t)
    forced(z, t)
    assert forced.nfe == 1


def test_cache_outputs_are_never_modified_by_later_calls():
    """A tensor returned by the cache keeps its values through later full, partial and reused
    calls; the denoiser's own output tensor is never written either."""
    model = Recording(time_agnostic=True, dtype=torch.float64)
    cache = CachedDenoiser(model, 3, L, V)
    z = torch.full((3, L), V)
    t = torch.full((3,), 1.0, dtype=torch.float64)
    kept = []
    for step in range(4):
        out = cache(z, t, active=torch.tensor([True, step % 2 == 0, True])).dense()
        kept.append((out, out.clone()))
        z = z.clone()
        z[step % 3, step] = step % V
    for out, copy in kept:
        assert torch.equal(out, copy)

    fixed = torch.randn(2, L, V, dtype=torch.float64)
    snapshot = fixed.clone()

    def constant(x_t, t_):
        return fixed[: len(x_t)]

    CachedDenoiser(constant, 2, L, V)(torch.full((2, L), V), torch.ones(2, dtype=torch.float64))
    assert torch.equal(fixed, snapshot)


def test_cache_checks_the_denoiser_output():
    """The cache validates every output (shape, vocabulary, NaN) before using it."""
    cache = CachedDenoiser(lambda x, t: torch.zeros(len(x), L, V + 1), 2, L, V)
    with pytest.raises(ValueError, match="mask column"):
        cache(torch.full((2, L), V), torch.ones(2))
    bad = CachedDenoiser(lambda x, t: torch.full((len(x), L, V), float("nan")), 2, L, V)
    with pytest.raises(ValueError, match="NaN"):
        bad(torch.full((2, L), V), torch.ones(2))


def test_probabilities_convert_only_the_selected_positions_to_the_same_numbers():
    """Probabilities[selection] (float64 softmax of the selected logits only) equals the rows of
    the dense float64 softmax exactly, for float32 and float64 logits."""
    for dtype in (torch.float32, torch.float64):
        logits = torch.randn(4, L, V, generator=torch.Generator().manual_seed(1), dtype=dtype) * 7
        lazy = Probabilities(logits)
        where = torch.rand(4, L, generator=torch.Generator().manual_seed(2)) < 0.4
        picked = lazy[where.nonzero(as_tuple=True)]
        dense = torch.softmax(logits.double(), -1)
        assert picked.dtype == torch.float64 and torch.equal(picked, dense[where])
        assert torch.equal(lazy.dense(), dense) and torch.equal(
            lazy[where.nonzero(as_tuple=True)], dense[where]
        )
