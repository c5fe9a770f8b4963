"""Every loss backpropagates finite, non-zero gradients into a small torch module, at drawn times
and at extreme explicit times (t = 0, t = 1 and next to them), in float32 and bf16."""

from __future__ import annotations

import pytest
import torch

from unmask import UniformProcess
from unmask.schedules import ConstantRateSchedule, CosineSchedule, LinearSchedule
from unmask.train.losses import (
    autoregressive_loss,
    hollow_loss,
    masked_diffusion_loss,
    uniform_diffusion_loss,
)

from .models import TinyAutoregressive, TinyDenoiser, TinyHollow

V, L, B = 5, 6, 5
EXTREME = torch.tensor([0.0, 1e-12, 0.5, 1 - 1e-12, 1.0], dtype=torch.float64)


def _batch(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, V, (B, L), generator=torch.Generator().manual_seed(seed))


def _check_gradients(model: torch.nn.Module, loss: torch.Tensor) -> None:
    assert bool(torch.isfinite(loss)), loss
    model.zero_grad()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads, "no parameter received a gradient"
    assert all(bool(torch.isfinite(g).all()) for g in grads)
    assert any(bool((g != 0).any()) for g in grads)


@pytest.mark.parametrize("schedule", [LinearSchedule(), CosineSchedule()], ids=["linear", "cosine"])
@pytest.mark.parametrize("times", [None, EXTREME], ids=["drawn", "extreme"])
def test_masked_loss_gradients(schedule, times):
    """masked_diffusion_loss: finite loss and finite, non-zero parameter gradients."""
    torch.manual_seed(0)
    model = TinyDenoiser(V, L)
    got = masked_diffusion_loss(model, _batch(), schedule, torch.Generator().manual_seed(1), t=times)
    _check_gradients(model, got.loss)


@pytest.mark.parametrize("schedule", [LinearSchedule(), CosineSchedule()], ids=["linear", "cosine"])
@pytest.mark.parametrize("times", [None, EXTREME], ids=["drawn", "extreme"])
def test_hollow_loss_gradients(schedule, times):
    """hollow_loss: finite loss and gradients, also at t = 0 (no masked position, infinite hazard)
    and t = 1 (no unmasked position, infinite rate under the linear schedule)."""
    torch.manual_seed(0)
    model = TinyHollow(V, L)
    got = hollow_loss(model, _batch(), schedule, torch.Generator().manual_seed(1), t=times)
    assert bool(torch.isfinite(got.parts["masked"]).all() and torch.isfinite(got.parts["unmasked"]).all())
    _check_gradients(model, got.loss)


@pytest.mark.parametrize(
    "process",
    [
        UniformProcess(ConstantRateSchedule(horizon=10.0), t_min=1e-3),
        UniformProcess(LinearSchedule(), t_min=1e-3),
    ],
    ids=["constant-rate", "linear"],
)
@pytest.mark.parametrize("extreme", [False, True], ids=["drawn", "extreme"])
def test_uniform_loss_gradients(process, extreme):
    """uniform_diffusion_loss: finite loss and gradients at drawn times and at t = t_min, next to
    it, and at t = 1 (alpha = 0 and an infinite rate under the linear schedule)."""
    torch.manual_seed(0)
    model = TinyDenoiser(V, L)
    times = None
    if extreme:
        times = torch.tensor([1e-3, 1e-3 + 1e-12, 0.5, 1 - 1e-12, 1.0], dtype=torch.float64)
    got = uniform_diffusion_loss(model, _batch(), process, torch.Generator().manual_seed(1), t=times)
    _check_gradients(model, got.loss)


def test_autoregressive_loss_gradients():
    """autoregressive_loss: finite loss and gradients, with padding."""
    torch.manual_seed(0)
    model = TinyAutoregressive(V)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, 4:] = False
    _check_gradients(model, autoregressive_loss(model, _batch(), mask).loss)


def test_bf16_models_train():
    """A bf16 model gets finite, non-zero gradients from the masked and the uniform loss (the
    log-softmax runs in float32)."""
    torch.manual_seed(0)
    model = TinyDenoiser(V, L, dtype=torch.bfloat16)
    _check_gradients(
        model, masked_diffusion_loss(model, _batch(), LinearSchedule(), torch.Generator().manual_seed(1)).loss
    )
    process = UniformProcess(ConstantRateSchedule(horizon=10.0), t_min=1e-3)
    _check_gradients(
        model, uniform_diffusion_loss(model, _batch(), process, torch.Generator().manual_seed(1)).loss
    )
