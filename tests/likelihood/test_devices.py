"""Device discipline of the likelihood estimators: every tensor they create names its device.

With ``torch.set_default_device("meta")`` in force, a tensor created without ``device=`` lands on
the meta device, and mixing it with the CPU inputs raises (or leaves a result off the CPU). Every
estimator, called with CPU sequences and a CPU denoiser under that default, must give CPU results
equal to those computed without it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest
import torch

from unmask import MaskedProcess, UniformProcess
from unmask.likelihood import (
    conditional_nelbo,
    draw_moments,
    exact_nelbo,
    log_ratio,
    nelbo,
    ratio_moments,
)
from unmask.schedules import ConstantRateSchedule, CosineSchedule

V, L = 3, 4


class TableDenoiser:
    """Logits from a fixed float64 table ``[L, V + 1, V]`` indexed by position and by the value the
    position holds (``V`` = masked): it creates no tensor, so it is clean on any default device."""

    def __init__(self, seed: int) -> None:
        g = torch.Generator(device="cpu").manual_seed(seed)
        self.table = torch.randn(L, V + 1, V, generator=g, dtype=torch.float64, device="cpu")
        self.positions = torch.arange(L, device="cpu")

    def __call__(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.table[self.positions.expand_as(z), z]


@contextlib.contextmanager
def meta_default() -> Iterator[None]:
    """Make ``meta`` torch's default device inside the ``with`` block; restore the previous default
    afterwards (also when the block raises)."""
    previous = torch.get_default_device()
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device(previous)


UNIFORM = UniformProcess(ConstantRateSchedule(horizon=3.0), t_min=0.05)
MASKED = MaskedProcess(CosineSchedule())


def _nelbo(method: str, **options) -> Callable[[dict], torch.Tensor]:
    return lambda i: nelbo(i["model"], i["x"], V, method, samples=8, generator=3, **options).nll


#: One call per estimator and per option that creates tensors of its own, by name; each takes the
#: inputs built by the ``inputs`` fixture.
ESTIMATES: dict[str, Callable[[dict], torch.Tensor]] = {
    "time-free": _nelbo("time-free"),
    "uniform-count": _nelbo("uniform-count", max_rows=5),
    "time-integral": _nelbo("time-integral"),
    "time-integral antithetic": _nelbo("time-integral", variant="antithetic", eps=1e-2),
    "time-integral stratified": _nelbo("time-integral", variant="stratified", strata=4),
    "discrete": _nelbo("discrete", steps=3, process=MASKED),
    "target stderr": _nelbo("time-free", target_stderr=0.5, max_samples=64),
    "exact": _nelbo("exact"),
    "uniform time-integral": _nelbo("time-integral", process=UNIFORM),
    "uniform antithetic": _nelbo("time-integral", process=UNIFORM, variant="antithetic"),
    "uniform discrete": _nelbo("discrete", process=UNIFORM, steps=4),
    "uniform exact": _nelbo("exact", process=UNIFORM),
    "uniform exact steps": _nelbo("exact", process=UNIFORM, steps=3),
    "response": lambda i: nelbo(i["model"], i["x"], V, samples=8, generator=3, response=i["response"]).nll,
    "exact response": lambda i: nelbo(i["model"], i["x"], V, "exact", response=i["response"]).nll,
    "cpu generator": lambda i: (
        nelbo(i["model"], i["x"], V, samples=8, generator=torch.Generator(device="cpu").manual_seed(4)).nll
    ),
    "conditional_nelbo": lambda i: (
        conditional_nelbo(
            i["model"], i["x"][:, :1], i["x"][:, 1:], V, method="time-free", samples=8, generator=6
        ).nll
    ),
    "log_ratio": lambda i: (
        log_ratio(i["model"], i["x"], i["y"], V, "uniform-count", samples=8, generator=5).log_ratio
    ),
    "log_ratio exact": lambda i: (
        log_ratio(i["model"], i["x"], i["y"], V, "exact", response=i["response"]).log_ratio
    ),
    "exact_nelbo": lambda i: exact_nelbo(i["other"], i["x"], V, CosineSchedule(), i["response"]),
    "draw_moments": lambda i: draw_moments(i["model"], i["x"], V).variance,
    "draw_moments discrete": lambda i: draw_moments(i["model"], i["x"], V, "discrete", steps=3).variance,
    "draw_moments time-integral": lambda i: draw_moments(i["model"], i["x"], V, "time-integral").variance,
    "draw_moments antithetic": lambda i: (
        draw_moments(i["model"], i["x"], V, "time-integral", variant="antithetic").variance
    ),
    "draw_moments stratified": lambda i: (
        draw_moments(i["model"], i["x"], V, "time-integral", variant="stratified", strata=3).variance
    ),
    "ratio_moments": lambda i: (
        ratio_moments(i["other"], i["x"], i["y"], V, "uniform-count", response=i["response"]).coupled
    ),
}


@pytest.fixture(scope="module")
def inputs() -> dict:
    """Built on the CPU before any default device changes: two table denoisers, sequences ``x``,
    ``y`` (``x`` with its first token changed) and a response mask."""
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randint(0, V, (3, L), generator=g, device="cpu")
    y = x.clone()
    y[:, 0] = (y[:, 0] + 1) % V
    response = torch.tensor([False, True, True, True], device="cpu")
    return {"model": TableDenoiser(0), "other": TableDenoiser(1), "x": x, "y": y, "response": response}


@pytest.mark.parametrize("name", list(ESTIMATES))
def test_estimators_name_their_device(name: str, inputs: dict) -> None:
    """Under a meta default device each estimator returns a CPU tensor equal (exactly) to its
    result without that default: no tensor it creates was left to the default device."""
    expected = ESTIMATES[name](inputs)
    with meta_default():
        assert torch.empty(0).device.type == "meta"
        got = ESTIMATES[name](inputs)
    assert got.device.type == "cpu", name
    assert got.dtype == expected.dtype and torch.equal(got, expected), (name, got, expected)
