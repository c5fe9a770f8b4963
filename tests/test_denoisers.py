"""The denoiser contract and its wrappers: output checks, carry-over, score adapters, counting,
conditioning arguments and the float64 rows of probabilities."""

from __future__ import annotations

import pytest
import torch

from unmask import MaskedProcess, UniformProcess
from unmask.denoisers import (
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
    and float64 inputs (contiguous or not), and never writes its input."""
    g = torch.Generator().manual_seed(1)
    for dtype in (torch.float32, torch.float64):
        logits = (torch.randn(5, 7, 11, generator=g) * 4).to(dtype)
        logits[0, 0, :3] = float("-inf")
        before = logits.clone()
        for x in (logits, logits.transpose(0, 1)):
            out = softmax64(x)
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


def test_probabilities_convert_only_the_selected_positions_to_the_same_numbers():
    """Probabilities.rows(index) (float64 softmax of the selected logits only) equals the rows of
    the dense float64 softmax exactly, for float32 and float64 logits, also through a row map."""
    for dtype in (torch.float32, torch.float64):
        logits = torch.randn(4, L, V, generator=torch.Generator().manual_seed(1), dtype=dtype) * 7
        lazy = Probabilities(logits)
        where = torch.rand(4, L, generator=torch.Generator().manual_seed(2)) < 0.4
        picked = lazy.rows(where.reshape(-1).nonzero().squeeze(-1))
        dense = torch.softmax(logits.double(), -1)
        assert picked.dtype == torch.float64 and torch.equal(picked, dense[where])
        assert torch.equal(lazy.dense(), dense)
        mapped = Probabilities(logits, rows=torch.tensor([2, 0, 2]))
        assert mapped.shape == (3, L, V) and torch.equal(mapped.dense(), dense[[2, 0, 2]])


def test_check_accepts_names_the_missing_conditioning_argument():
    """A conditioning name the denoiser cannot take is refused before any call, naming it; a
    denoiser with that parameter or **cond passes."""
    from unmask.denoisers import check_accepts

    def plain(x_t, t):
        return x_t

    def masked(x_t, t, attention_mask=None):
        return x_t

    def anything(x_t, t, **cond):
        return x_t

    with pytest.raises(TypeError, match="does not accept the conditioning argument 'attention_mask'"):
        check_accepts(plain, ["attention_mask"])
    check_accepts(masked, ["attention_mask"])
    check_accepts(anything, ["attention_mask", "labels"])
    check_accepts(plain, [])
