"""``TabulatedDenoiser`` and ``ChunkedDenoiser``: the model's own logits, computed once per state."""

from __future__ import annotations

import pytest
import torch

from unmask.exact import run_law
from unmask.train.data import default_target
from unmask.train.evaluation import ChunkedDenoiser, TabulatedDenoiser, can_tabulate
from unmask.train.models import ModelConfig, build_model


def tiny(length: int = 4, **overrides) -> torch.nn.Module:
    """An untrained tiny denoiser for V = 4."""
    torch.manual_seed(0)
    return build_model(ModelConfig.preset("tiny", vocab_size=4, length=length, **overrides)).eval()


class Counting(torch.nn.Module):
    """A model that records how many rows it was called on."""

    def __init__(self, model):
        super().__init__()
        self.model, self.rows = model, 0
        self.time_agnostic, self.vocab_size = model.time_agnostic, model.vocab_size

    def forward(self, x_t, t):
        self.rows += len(x_t)
        return self.model(x_t, t)


def test_lookups_are_the_models_logits_and_each_state_is_evaluated_once():
    """The table returns exactly what the model returns for the same rows, and asking again for
    known states calls the model on no new row."""
    model = Counting(tiny())
    table = TabulatedDenoiser(model, 4, 4, rows_per_call=7)
    x = torch.randint(0, 5, (50, 4), generator=torch.Generator().manual_seed(1))
    t = torch.rand(50, dtype=torch.float64)
    with torch.no_grad():
        expected = model.model(x, t)
    looked_up = table(x, t)
    assert torch.equal(looked_up, expected)
    distinct = len(torch.unique(x, dim=0))
    assert model.rows == distinct == table.evaluated
    assert torch.equal(table(x.flip(0), t), expected.flip(0)) and model.rows == distinct
    seen = []
    table.progress = lambda done, states: seen.append((done, states))
    table.fill()  # every other state, once: then lookups call the model on nothing
    assert model.rows == 5**4 == table.evaluated and seen[-1] == (625, 625)
    assert torch.equal(table(x, t), expected) and model.rows == 625


def test_exact_laws_through_the_table_equal_those_from_the_model():
    """run_law with the table gives the very law run_law gives with the model itself."""
    target, model = default_target(length=4), tiny()
    table = TabulatedDenoiser(model, 4, 4)
    for sampler, steps in (("euler", 3), ("first-hitting", None), ("top-k", 2)):
        with torch.no_grad():
            direct = run_law(target, sampler, steps, denoiser=model).law
        assert torch.equal(run_law(target, sampler, steps, denoiser=table).law, direct), sampler


def test_time_conditioned_and_oversized_models_are_refused():
    """A model whose output depends on t, or whose table would exceed the limit, is refused with
    the alternative named; can_tabulate says the same."""
    conditioned = tiny(time_conditioning=True)
    assert not can_tabulate(conditioned, 4, 4)
    with pytest.raises(ValueError, match="ChunkedDenoiser"):
        TabulatedDenoiser(conditioned, 4, 4)
    assert not can_tabulate(tiny(12), 4, 12)
    with pytest.raises(ValueError, match="above the limit"):
        TabulatedDenoiser(tiny(12), 4, 12)


def test_chunked_calls_match_one_call_without_autograd():
    """Logits in pieces of 3 rows match one call (to float32 rounding), carry no autograd graph,
    and count the calls made."""
    model = tiny()
    x = torch.randint(0, 5, (10, 4), generator=torch.Generator().manual_seed(2))
    t = torch.zeros(10, dtype=torch.float64)
    chunked = ChunkedDenoiser(model, rows_per_call=3)
    out = chunked(x, t)
    with torch.no_grad():
        torch.testing.assert_close(out, model(x, t), atol=1e-5, rtol=1e-5)
    assert not out.requires_grad and chunked.calls == 4 and chunked.rows == 10
    assert chunked.time_agnostic and chunked.vocab_size == 4
