"""The exponential moving average: closed forms after n updates, state round trip, dtype, swapping."""

from __future__ import annotations

import math

import pytest
import torch

from unmask.train.trainer import ExponentialMovingAverage

from .conftest import Tiny


def _model(start: float) -> torch.nn.Module:
    model = torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(start)
    return model


def _set(model: torch.nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)


@pytest.mark.parametrize("n", [1, 7, 40])
def test_constant_decay_closed_form(n):
    """With constant parameters theta after starting at s0, n updates give
    theta + (s0 - theta) * d**n (float64, to rounding)."""
    model = _model(2.0)
    ema = ExponentialMovingAverage(model, decay=0.9, warmup=False)
    _set(model, -1.0)
    for _ in range(n):
        ema.update(model)
    expected = -1.0 + 3.0 * 0.9**n
    for average in ema.shadow:
        torch.testing.assert_close(average, torch.full_like(average, expected), rtol=0, atol=1e-12)
    assert ema.updates == n


def test_warmup_decay_closed_form():
    """With warm-up the k-th update (from 0) uses min(decay, (1+k)/(10+k)): after n updates the
    distance to theta shrinks by the product of those decays; the first update uses 0.1."""
    model = _model(2.0)
    ema = ExponentialMovingAverage(model, decay=0.95)
    assert ema.current_decay() == pytest.approx(0.1)
    _set(model, -1.0)
    n = 300
    for _ in range(n):
        ema.update(model)
    factor = math.prod(min(0.95, (1 + k) / (10 + k)) for k in range(n))
    for average in ema.shadow:
        torch.testing.assert_close(average, torch.full_like(average, -1.0 + 3.0 * factor), rtol=0, atol=1e-12)
    assert ema.current_decay() == 0.95


def test_state_round_trip_and_copy_to():
    """state_dict/load_state_dict carry the averages and counters; copy_to writes the averages into
    a model; applied() swaps them in for a block and restores the live weights after it."""
    torch.manual_seed(0)
    model = Tiny()
    ema = ExponentialMovingAverage(model, decay=0.5)
    with torch.no_grad():
        model.out.weight.add_(1.0)
    ema.update(model)
    other = ExponentialMovingAverage(Tiny(), decay=0.1, warmup=False)
    other.load_state_dict(ema.state_dict())
    assert (other.decay, other.warmup, other.updates) == (0.5, True, 1)
    for a, b in zip(ema.shadow, other.shadow, strict=True):
        assert torch.equal(a, b)
    live = model.out.weight.detach().clone()
    with ema.applied(model):
        assert torch.equal(model.out.weight, ema.state_dict()["shadow"]["out.weight"])
    assert torch.equal(model.out.weight, live)
    target = Tiny()
    ema.copy_to(target)
    assert torch.equal(target.out.weight, ema.state_dict()["shadow"]["out.weight"])


def test_averaged_state_dict_has_every_name_and_the_buffers():
    """The averaged weights are a full state dict: tied aliases take the average, buffers come from
    the model, and it loads into a model of the same architecture."""
    torch.manual_seed(0)
    model = Tiny(tied=True)
    ema = ExponentialMovingAverage(model, decay=0.0)  # decay 0: the average equals the last weights
    with torch.no_grad():
        model.out.weight.mul_(2.0)
        model.scale.fill_(3.0)
    ema.update(model)
    weights = ema.averaged_state_dict(model)
    assert weights.keys() == model.state_dict().keys()
    assert torch.equal(weights["head.weight"], model.out.weight) and torch.equal(
        weights["scale"], model.scale
    )
    Tiny(tied=True).load_state_dict(weights)


def test_low_precision_parameters_are_averaged_in_float32():
    """bf16 parameters get float32 averages, so that an update of 1e-4 of the gap is not lost."""
    model = torch.nn.Linear(4, 4).to(torch.bfloat16)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema = ExponentialMovingAverage(model, decay=0.9999, warmup=False)
    assert all(s.dtype == torch.float32 for s in ema.shadow)
    with torch.no_grad():
        model.weight.fill_(2.0)
    ema.update(model)
    assert ema.shadow[0][0, 0].item() == pytest.approx(1.0001, abs=1e-6)


def test_mismatches_are_refused():
    """Another model, another shape in a state, and bad arguments raise, naming what is wrong."""
    ema = ExponentialMovingAverage(Tiny())
    with pytest.raises(ValueError, match="has 2 floating-point parameters, the average holds 5"):
        ema.update(torch.nn.Linear(2, 2))
    state = ExponentialMovingAverage(Tiny(width=4)).state_dict()
    with pytest.raises(ValueError, match=r"'embed.weight' has shape \(8, 4\), this model's is \(8, 8\)"):
        ema.load_state_dict(state)
    with pytest.raises(ValueError, match=r"decay must lie in \[0, 1\], got 1.5"):
        ExponentialMovingAverage(Tiny(), decay=1.5)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        ExponentialMovingAverage("model")
