"""Per-position reductions of a model's logits (``Probabilities``): computed from the logits in their
own dtype with float32 or float64 accumulation, a bounded number of positions at a time, they equal
the float64 references, whatever the pieces and whether computed densely or gathered."""

from __future__ import annotations

import pytest
import torch

from unmask import pieces
from unmask.probabilities import Probabilities


def _logits(dtype: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(3, 5, 300, generator=g) * 6).to(dtype)
    logits[0, 0, :290] = float("-inf")  # a position with ten possible tokens
    return logits


def _reference(logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """The float64 references, from the logits' exact values."""
    exact = logits.to(torch.float64)
    log_probs = torch.log_softmax(exact, -1)
    probs = log_probs.exp()
    top = probs.topk(2, -1).values
    tokens = torch.arange(15).reshape(3, 5) * 17 % 300
    tokens[0, 0] = 295
    return {
        "log_normalizer": torch.logsumexp(exact, -1),
        "log_prob_of": log_probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1),
        "max_prob": probs.amax(-1),
        "margin": top[..., 0] - top[..., 1],
        "entropy": -torch.where(probs > 0, probs * log_probs, 0.0).sum(-1),
        "argmax": exact.argmax(-1),
        "tokens": tokens,
    }


def _reductions(probs: Probabilities, tokens: torch.Tensor, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {
        "log_normalizer": probs.log_normalizer(dtype),
        "log_prob_of": probs.log_prob_of(tokens, dtype),
        "max_prob": probs.max_prob(dtype),
        "margin": probs.margin(dtype),
        "entropy": probs.entropy(dtype),
        "argmax": probs.argmax(),
    }


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_reductions_equal_the_float64_references(dtype: torch.dtype) -> None:
    """Float64 accumulation reproduces the float64 references of the logits' values to 1e-12 (bf16
    and float32 logits alike); float32 accumulation stays within float32 rounding (1e-5)."""
    logits = _logits(dtype)
    reference = _reference(logits)
    probs = Probabilities(logits)
    for accumulate, tolerance in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        got = _reductions(probs, reference["tokens"], accumulate)
        for name, value in got.items():
            if name == "argmax":
                assert torch.equal(value, reference[name])
                continue
            assert value.dtype == accumulate, name
            assert not torch.isnan(value).any(), name
            assert torch.allclose(value.double(), reference[name], rtol=tolerance, atol=tolerance), name


def test_reductions_do_not_depend_on_pieces_or_density(monkeypatch) -> None:
    """One piece, a piece per position, dense and gathered: the same numbers, bit for bit."""
    logits = _logits(torch.float32)
    tokens = _reference(logits)["tokens"]
    base = _reductions(Probabilities(logits), tokens, torch.float64)
    monkeypatch.setattr(pieces, "MIN_PIECE_VALUES", 1)
    for dense in ("0", "1"):
        monkeypatch.setenv("UNMASK_DENSE", dense)
        again = _reductions(Probabilities(logits), tokens, torch.float64)
        for name in base:
            assert torch.equal(base[name], again[name]), (name, dense)


def test_row_maps_read_the_rows_they_stand_for() -> None:
    """Probabilities over a row map (rows of a larger logits tensor) give the reductions and rows of
    those rows."""
    logits = _logits(torch.float32)
    rows = torch.tensor([2, 0, 2, 1])
    mapped, copied = Probabilities(logits, rows=rows), Probabilities(logits[rows])
    assert torch.equal(mapped.entropy(), copied.entropy())
    assert torch.equal(mapped.dense(), copied.dense())
    index = torch.tensor([0, 7, 19])
    assert torch.equal(mapped.rows(index), copied.rows(index))
    assert torch.equal(mapped.take(torch.tensor([3, 0])).dense(), copied.dense()[[3, 0]])


def test_bad_accumulation_dtype_is_refused() -> None:
    """Only float32 and float64 accumulation exist; anything else names the argument."""
    with pytest.raises(ValueError, match="accumulation dtype must be torch.float32 or torch.float64"):
        Probabilities(_logits(torch.float32)).entropy(torch.float16)
