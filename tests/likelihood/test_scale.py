"""Large vocabularies: the estimators read float64 rows of a few positions at a time, never a
float64 ``[R, L, V]``, and get the numbers of the dense float64 formulas."""

from __future__ import annotations

import math

import pytest
import torch

from unmask import UniformProcess
from unmask.likelihood import nelbo
from unmask.likelihood.scoring import token_nll
from unmask.probabilities import Probabilities
from unmask.schedules import ConstantRateSchedule


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_token_nll_equals_the_float64_log_softmax(dtype):
    """-log p(x_i | z) read by Probabilities.log_prob_of from float32 or bf16 logits equals
    -log_softmax of those logits (their values, in float64) to 1e-12, over every position and on a
    masked subset; a token of probability 0 (logit -inf) has NLL inf."""
    g = torch.Generator().manual_seed(0)
    rows, length, size = 6, 7, 3000
    logits = (4 * torch.randn(rows, length, size, generator=g)).to(dtype)
    x = torch.randint(0, size, (rows, length), generator=g)
    logits[0, 0, x[0, 0]] = -torch.inf
    reference = -torch.log_softmax(logits.to(torch.float64), -1).gather(-1, x[..., None]).squeeze(-1)
    got = token_nll(lambda z, t: logits, x, torch.zeros(rows, dtype=torch.float64), x, size)
    assert got.dtype == torch.float64 and math.isinf(float(got[0, 0]))
    torch.testing.assert_close(got, reference, rtol=0, atol=1e-12)
    where = torch.rand(rows, length, generator=g) < 0.4
    masked = token_nll(lambda z, t: logits, x, torch.zeros(rows, dtype=torch.float64), x, size, where=where)
    torch.testing.assert_close(masked, torch.where(where, reference, 0.0), rtol=0, atol=1e-12)


class PositionDenoiser:
    """float32 logits ``[R, L, V]`` from a fixed table ``[L, V]``, whatever the state: a model with a
    large vocabulary and no exact answer, for checking how the logits are read."""

    def __init__(self, length: int, size: int) -> None:
        g = torch.Generator().manual_seed(1)
        self.table = 3 * torch.randn(length, size, generator=g)
        self.positions = torch.arange(length)

    def __call__(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.table[self.positions.expand_as(z)]


@pytest.mark.parametrize("method,steps", [("time-integral", None), ("discrete", 4)])
def test_uniform_bound_reads_a_few_positions_at_a_time(method, steps, monkeypatch):
    """With V = 4096 the uniform bound reads float64 rows of at most 1/16 of the positions of a call
    at once, and gives the same numbers (1e-12) as one piece per call and as the dense path of the
    accelerators (every position computed, UNMASK_DENSE=1)."""
    length, size, batch = 6, 4096, 3
    process = UniformProcess(ConstantRateSchedule(horizon=3.0), t_min=0.05)
    model = PositionDenoiser(length, size)
    x = torch.randint(0, size, (batch, length), generator=torch.Generator().manual_seed(2))
    pieces: list[int] = []
    rows = Probabilities.rows

    def counting(self, index):
        pieces.append(len(index))
        return rows(self, index)

    def estimate():
        return nelbo(model, x, size, method, samples=16, generator=3, process=process, steps=steps)

    monkeypatch.setattr(Probabilities, "rows", counting)
    result = estimate()
    per_pass = batch * 16 * length  # the positions of the 48 draws, all in one denoiser call
    assert result.nfe == 1 and pieces and max(pieces) <= math.ceil(per_pass / 16), (pieces, per_pass)
    monkeypatch.setattr("unmask.pieces.MIN_PIECE_VALUES", 1 << 40)  # one piece per pass
    whole = estimate()
    monkeypatch.setattr("unmask.pieces.MIN_PIECE_VALUES", 1 << 16)
    monkeypatch.setenv("UNMASK_DENSE", "1")
    dense = estimate()
    assert bool(torch.isfinite(result.nll).all())
    torch.testing.assert_close(whole.nll, result.nll, rtol=0, atol=1e-12)
    torch.testing.assert_close(dense.nll, result.nll, rtol=0, atol=1e-12)
