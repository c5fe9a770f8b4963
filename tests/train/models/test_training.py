"""What training needs of the models: gradients reach every parameter, dropout acts only in
training mode, and a few optimiser steps lower the loss."""

from __future__ import annotations

import pytest
import torch

from .helpers import KINDS, V, call, tiny, tokens


def _loss(model: torch.nn.Module, kind: str, x: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the clean ``x`` from the network's logits (masked positions of a random
    corruption for the denoisers, next tokens for the autoregressive model)."""
    if kind == "autoregressive":
        return -model.log_prob(x).mean()
    g = torch.Generator().manual_seed(0)
    masked = torch.rand(x.shape, generator=g) < 0.5
    logits = call(model, torch.where(masked, V, x), torch.rand(x.shape[0], generator=g, dtype=torch.float64))
    return torch.nn.functional.cross_entropy(logits[masked], x[masked])


@pytest.mark.parametrize("kind", KINDS)
def test_every_parameter_gets_a_finite_nonzero_gradient(kind) -> None:
    """After one optimiser step, a backward pass gives every parameter (adaLN, time MLP and
    boundary vectors included) a finite, not identically zero gradient: no part of the model is
    dead. (At the very first step the time MLP's gradient is zero: the adaLN weights that read it
    start at zero, and move in that step.)"""
    overrides = {} if kind == "autoregressive" else {"time_conditioning": True}
    model = tiny(kind, **overrides).train()
    x = tokens(8, seed=12, masked=False)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    _loss(model, kind, x).backward()
    optimiser.step()
    optimiser.zero_grad()
    _loss(model, kind, x).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_is_random_in_training_mode_and_off_in_eval_mode(kind) -> None:
    """With dropout 0.3, two training-mode calls differ and two eval-mode calls are identical."""
    model = tiny(kind, dropout=0.3)
    x = tokens(2, seed=13, masked=kind != "autoregressive")
    assert torch.equal(call(model, x), call(model, x))
    model.train()
    assert not torch.equal(call(model, x), call(model, x))


@pytest.mark.parametrize("kind", KINDS)
def test_a_few_adam_steps_lower_the_loss_on_a_fixed_batch(kind) -> None:
    """Twenty Adam steps on one batch lower its loss by more than 10%: the model can learn."""
    model = tiny(kind).train()
    x = tokens(8, seed=14, masked=False)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = _loss(model, kind, x).item()
    for _ in range(20):
        optimiser.zero_grad()
        _loss(model, kind, x).backward()
        optimiser.step()
    assert _loss(model, kind, x).item() < 0.9 * first
