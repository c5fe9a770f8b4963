"""Every tensor of a run is created on the run's device.

No GPU is needed to check it: with torch's default device set to ``meta``, a tensor created
without an explicit device lands on the meta device, and any operation mixing it with the run's
CPU tensors raises. Sampling and exact laws must then still work, and give the numbers they give
without the meta default. Dense and gathered per-position work (``UNMASK_DENSE``) must draw the
same tokens.
"""

from __future__ import annotations

import pytest
import torch

import unmask
from problems import masked_strong_chain

V, L = 3, 4


class Table:
    """A device-clean denoiser: float64 logits from a table indexed by position, whether the
    position is masked and the count of clean tokens equal to each value (built before the meta
    default, on the CPU). It checks that every input is on the CPU."""

    time_agnostic = False

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.table = torch.randn(2, L, V, generator=g, dtype=torch.float64)
        self.mix = torch.randn(V, V, generator=g, dtype=torch.float64) * 0.5

    def __call__(self, x_t, t, **cond):
        for tensor in (x_t, t, *cond.values()):
            assert tensor.device.type == "cpu", tensor.device
        masked = (x_t == V).long()
        clean = torch.nn.functional.one_hot(x_t.clamp(max=V - 1), V) * (1 - masked).unsqueeze(-1)
        by_position = self.table[masked, torch.arange(x_t.shape[1], device=x_t.device)]
        return by_position + (clean.sum(1).to(torch.float64) @ self.mix).unsqueeze(1) + 0.1 * t[:, None, None]


RUNS = [
    ("euler", 3, None),
    ("tau-leaping", 3, None),
    ("tweedie", 3, None),
    ("first-hitting", None, None),
    ("k-random", 2, None),
    ("trapezoidal", 2, None),
    ("rk2", 2, None),
    ("euler", 3, "uniform"),
    ("tau-leaping", 3, "uniform"),
    ("tweedie", 3, "uniform"),
    ("trapezoidal", 2, "uniform"),
]


DENOISER = Table()  # built on the CPU, before any test sets the meta default


def _run(name, steps, process, **extra):
    chosen = unmask.UniformProcess() if process == "uniform" else None
    prompt = torch.full((6, L), V, device="cpu")
    prompt[:, 0] = 1
    exists = torch.ones(6, L, dtype=torch.bool, device="cpu")
    exists[::2, -1] = False
    return unmask.sample(
        DENOISER, name, vocab_size=V, steps=steps, process=chosen, prompt=prompt, attention_mask=exists,
        cond={"tag": torch.arange(6, device="cpu")}, generator=3, device="cpu", **extra,
    )  # fmt: skip


@pytest.fixture
def meta_default():
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device(None)


@pytest.mark.parametrize(("name", "steps", "process"), RUNS, ids=[f"{r[2] or 'masked'}-{r[0]}" for r in RUNS])
def test_sampling_creates_every_tensor_on_the_run_device(name, steps, process, meta_default):
    """Under a meta default device, every sampler still runs on the CPU (nothing was created
    without a device) and draws exactly what it draws without the meta default."""
    result = _run(name, steps, process, return_trajectory=True)
    torch.set_default_device(None)
    plain = _run(name, steps, process, return_trajectory=True)
    assert result.tokens.device.type == "cpu"
    assert torch.equal(result.tokens, plain.tokens)
    assert torch.equal(result.log_prob, plain.log_prob)
    assert torch.equal(result.nfe_per_row, plain.nfe_per_row)


@pytest.mark.parametrize("name", ["euler", "first-hitting", "trapezoidal"])
def test_exact_laws_create_every_tensor_on_their_device(name, meta_default):
    """The exact-law dynamic program also names a device for every tensor it creates."""
    target = masked_strong_chain()
    steps = None if name == "first-hitting" else 3
    law = unmask.exact.output_law(target, name, steps, device="cpu")
    torch.set_default_device(None)
    assert torch.equal(law, unmask.exact.output_law(target, name, steps))


@pytest.mark.parametrize(("name", "steps", "process"), RUNS, ids=[f"{r[2] or 'masked'}-{r[0]}" for r in RUNS])
def test_dense_and_gathered_pieces_draw_the_same_tokens(name, steps, process, monkeypatch):
    """Per-position work computed at every position (the accelerator path) or only where it is
    needed (the CPU path) draws the same tokens with the same path log-probabilities."""
    monkeypatch.setenv("UNMASK_DENSE", "1")
    dense = _run(name, steps, process)
    monkeypatch.setenv("UNMASK_DENSE", "0")
    gathered = _run(name, steps, process)
    assert torch.equal(dense.tokens, gathered.tokens)
    assert torch.allclose(dense.log_prob, gathered.log_prob, rtol=0, atol=1e-12)
