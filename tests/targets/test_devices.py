"""Device discipline of the exact targets: every tensor a target method creates names its device.

With ``torch.set_default_device("meta")`` in force, a tensor created without ``device=`` lands on
the meta device, and mixing it with the CPU tables and inputs raises (or leaves a result off the
CPU). Every public method of every target, called with CPU inputs under that default, must give
CPU results equal to those computed without it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest
import torch

from unmask.processes import UniformProcess
from unmask.schedules import LinearSchedule
from unmask.targets import CyclicHMM, Table, Target

from .helpers import TARGETS, noisy_states, partial_states

NAMES = [*sorted(TARGETS), "table"]


def build(name: str) -> Target:
    """The target ``name`` of :data:`TARGETS`, or ``"table"``: a ``Table`` of a random law (built
    on the CPU whatever the default device)."""
    if name == "table":
        g = torch.Generator().manual_seed(5)
        weights = torch.rand(3, 3, 3, generator=g, dtype=torch.float64, device="cpu")
        return Table(weights / weights.sum())
    return TARGETS[name]()


@contextlib.contextmanager
def meta_default() -> Iterator[None]:
    """Make ``meta`` torch's default device inside the ``with`` block; restore it afterwards (also
    when the block raises)."""
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device(None)


def every_method(
    target: Target, inputs: dict[str, torch.Tensor], process: UniformProcess
) -> dict[str, tuple[torch.Tensor, int]]:
    """The result of every public method of ``target`` on the CPU ``inputs``, by name, with the
    impossible-context count after each call. Every tensor is made by the target: the inputs come
    ready-made on the CPU, and the only object made here is a CPU generator."""
    z, x, noisy, t = inputs["z"], inputs["x"], inputs["noisy"], inputs["t"]
    masked, uniform = target.denoiser(), target.uniform_denoiser(process)
    calls: dict[str, Callable[[], torch.Tensor]] = {
        "log_prob": lambda: target.log_prob(x),
        "sample": lambda: target.sample(50, generator=torch.Generator().manual_seed(3)),
        "probs": target.probs,
        "conditionals": lambda: target.conditionals(z),
        "leave_one_out": lambda: target.leave_one_out(z),
        "uniform_posterior": lambda: target.uniform_posterior(noisy, t, process),
        "uniform_posterior_number": lambda: target.uniform_posterior(noisy, 0.25, process),
        "uniform_marginal": lambda: target.uniform_marginal(0.3, process),
        "denoiser": lambda: masked(z, inputs["half"]),
        "denoiser_number": lambda: masked(z, 0.5),
        "denoiser_uint8": lambda: masked(inputs["z8"], inputs["half"]),
        "loo": lambda: masked.loo(z, inputs["half"]),
        "loo_uint8": lambda: masked.loo(inputs["z8"], 0.5),
        "uniform_denoiser": lambda: uniform(noisy, t),
    }
    if isinstance(target, CyclicHMM):
        calls["error_rate"] = lambda: target.error_rate(x)
    out = {}
    for name, call in calls.items():
        out[name] = (call(), target.impossible_contexts)
    return out


@pytest.mark.parametrize("process", [UniformProcess(), UniformProcess(schedule=LinearSchedule())])
@pytest.mark.parametrize("name", NAMES)
def test_methods_name_their_device(name: str, process: UniformProcess) -> None:
    """Under a meta default device, every public method with CPU inputs returns CPU tensors equal
    (exactly, ``-inf`` included) to its results without that default, and counts the same
    impossible contexts."""
    expected_target, target = build(name), build(name)
    z = partial_states(target, rows=20, seed=31)
    noisy, t = noisy_states(target, rows=12, seed=32)
    inputs = {
        "z": z,
        "z8": z.to(torch.uint8),
        "x": target.sample(10, generator=torch.Generator().manual_seed(33)),
        "noisy": noisy,
        "t": t,
        "half": torch.full((z.shape[0],), 0.5, dtype=torch.float64),
    }
    expected = every_method(expected_target, inputs, process)
    with meta_default():
        assert torch.empty(0).device.type == "meta"
        got = every_method(target, inputs, process)
    assert got.keys() == expected.keys()
    for method, (value, count) in got.items():
        want, want_count = expected[method]
        assert value.device.type == "cpu", method
        assert value.dtype == want.dtype and torch.equal(value, want), method
        assert count == want_count, method


def test_cyclic_error_rate_of_length_one_names_its_device() -> None:
    """``CyclicHMM.error_rate`` with ``L = 1`` (no pairs) returns CPU zeros under a meta default."""
    target = CyclicHMM(3, 1, p=0.6)
    x = torch.tensor([[0], [2]])
    with meta_default():
        rate = target.error_rate(x)
    assert rate.device.type == "cpu" and torch.equal(rate, torch.zeros(2, dtype=torch.float64))


@pytest.mark.parametrize("name", NAMES)
def test_targets_built_under_a_meta_default_live_on_the_cpu(name: str) -> None:
    """The factories name the CPU for the tables they create: a target built under a meta default
    lives on the CPU and has the same law as one built without it."""
    expected = build(name).probs()
    with meta_default():
        target = build(name)
    assert target.device == torch.device("cpu")
    assert torch.equal(target.probs(), expected)
