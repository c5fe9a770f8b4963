"""Bad input raises a ValueError or TypeError that names the argument and the value, before any
model call."""

from __future__ import annotations

import pytest
import torch

from unmask import MaskedProcess, UniformProcess
from unmask.schedules import ConstantRateSchedule, LinearSchedule
from unmask.train.losses import (
    antithetic_times,
    autoregressive_loss,
    hollow_loss,
    masked_diffusion_loss,
    uniform_diffusion_loss,
    uniform_times,
)

V, L = 3, 4
X = torch.tensor([[0, 1, 2, 1], [2, 2, 0, 1]])


class Spy:
    """A denoiser (with loo) that counts its calls and returns zeros of the right shape."""

    vocab_size = V

    def __init__(self):
        self.calls = 0

    def __call__(self, z, t, attention_mask=None):
        self.calls += 1
        return torch.zeros(*z.shape, V)

    def loo(self, z, t, attention_mask=None):
        return self(z, t)


def _masked(**changes):
    args = {"x": X, "schedule": LinearSchedule(), "generator": torch.Generator()}
    args.update(changes)
    return lambda model: masked_diffusion_loss(model, **args)


def _hollow(**changes):
    args = {"x": X, "schedule": LinearSchedule(), "generator": torch.Generator()}
    args.update(changes)
    return lambda model: hollow_loss(model, **args)


def _uniform(**changes):
    args = {"x": X, "process": UniformProcess(), "generator": torch.Generator()}
    args.update(changes)
    return lambda model: uniform_diffusion_loss(model, **args)


CASES = {
    "x with the mask id": (_masked(x=torch.tensor([[0, 3, 1, 1]])), ValueError, "mask id 3"),
    "x above the mask id": (_uniform(x=torch.tensor([[0, 7, 1, 1]])), ValueError, "the id 7"),
    "negative id": (_hollow(x=torch.tensor([[0, -1, 1, 1]])), ValueError, "the id -1"),
    "float x": (_masked(x=X.float()), TypeError, "integer token ids"),
    "x of one dimension": (_masked(x=X[0]), ValueError, r"shape \[B, L\]"),
    "x not a tensor": (_masked(x=[[0, 1]]), TypeError, "LongTensor"),
    "t_min zero": (_masked(t_min=0.0), ValueError, r"t_min must lie in \(0, 1\)"),
    "t_min one": (_masked(t_min=1.0), ValueError, "t_min"),
    "t_min text": (_masked(t_min="0.01"), TypeError, "t_min must be a number"),
    "hollow t_min half": (_hollow(t_min=0.5), ValueError, r"t_min must lie in \(0, 0.5\)"),
    "schedule name": (_masked(schedule="linear"), TypeError, "get_schedule"),
    "process as schedule": (_masked(schedule=MaskedProcess()), TypeError, "its .schedule"),
    "schedule as process": (_uniform(process=LinearSchedule()), TypeError, "UniformProcess"),
    "uniform t_min zero": (
        _uniform(process=UniformProcess(ConstantRateSchedule(), t_min=0.0)),
        ValueError,
        "t_min",
    ),
    "int seed": (_masked(generator=3), TypeError, "torch.Generator"),
    "unknown reduction": (_masked(reduction="mean"), ValueError, "reduction must be one of"),
    "antithetic not bool": (_masked(antithetic=1), TypeError, "antithetic"),
    "mask of wrong shape": (_masked(attention_mask=torch.ones(2, 3, dtype=torch.bool)), ValueError, "shape"),
    "float mask": (_masked(attention_mask=torch.ones(2, 4)), TypeError, "attention_mask"),
    "mask not 0/1": (_masked(attention_mask=torch.full((2, 4), 2)), ValueError, "0 and 1"),
    "row of padding": (
        _masked(attention_mask=torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]])),
        ValueError,
        "row 1",
    ),
    "mask twice": (
        _masked(attention_mask=torch.ones(2, 4, dtype=torch.bool), cond={"attention_mask": torch.ones(2, 4)}),
        ValueError,
        "once",
    ),
    "cond of wrong rows": (
        _masked(cond={"attention_mask": torch.ones(3, 4)}),
        ValueError,
        r"cond\['attention_mask'\]",
    ),
    "cond not accepted": (_masked(cond={"labels": torch.ones(2, 4)}), TypeError, "labels"),
    "times out of range": (_masked(t=torch.tensor([0.5, 1.5], dtype=torch.float64)), ValueError, "1.5"),
    "times of wrong shape": (
        _masked(t=torch.tensor([0.5], dtype=torch.float64)),
        ValueError,
        r"\[B\] = \[2\]",
    ),
    "uniform times below t_min": (
        _uniform(t=torch.tensor([0.5, 0.001], dtype=torch.float64)),
        ValueError,
        "0.001",
    ),
    "wrong vocab_size": (_masked(vocab_size=4), ValueError, "vocab_size=4"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_raises_before_any_model_call(case):
    """Each bad argument raises the stated error, whose message names it, and the model is never
    called."""
    run, error, pattern = CASES[case]
    model = Spy()
    with pytest.raises(error, match=pattern):
        run(model)
    assert model.calls == 0


def test_models_without_what_the_loss_needs():
    """A model that is not callable, a hollow loss on a model without loo and a model without a
    vocabulary (no vocab_size anywhere) are refused by name."""
    with pytest.raises(TypeError, match="callable"):
        masked_diffusion_loss(object(), X, LinearSchedule(), None)
    with pytest.raises(TypeError, match="no callable loo"):
        hollow_loss(lambda z, t: torch.zeros(*z.shape, V), X, LinearSchedule(), None, vocab_size=V)
    with pytest.raises(TypeError, match="vocab_size is needed"):
        masked_diffusion_loss(lambda z, t: torch.zeros(*z.shape, V), X, LinearSchedule(), None)


def test_logits_of_the_wrong_shape_are_named():
    """Logits with a mask column (V + 1) are reported with the hint to drop it."""

    def model(z, t):
        return torch.zeros(*z.shape, V + 1)

    with pytest.raises(ValueError, match="mask column"):
        masked_diffusion_loss(model, X, LinearSchedule(), None, vocab_size=V)
    with pytest.raises(ValueError, match=r"logits \[B, L, V\]"):
        autoregressive_loss(lambda x: torch.zeros(2, 4), X)


@pytest.mark.parametrize("draw", [antithetic_times, uniform_times])
def test_bad_time_ranges(draw):
    """Time draws refuse t_min >= t_max, t_max above 1 and a batch below 1."""
    with pytest.raises(ValueError, match="below t_max"):
        draw(4, None, t_min=0.5, t_max=0.5)
    with pytest.raises(ValueError, match="t_max"):
        draw(4, None, t_min=0.1, t_max=1.5)
    with pytest.raises(ValueError, match="batch"):
        draw(0, None)
