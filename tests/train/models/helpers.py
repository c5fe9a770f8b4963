"""Tiny models shared by the model tests."""

from __future__ import annotations

import torch

from unmask.train.models import ModelConfig, build_model

#: Vocabulary and length of the tiny models (the mask id is V).
V, L = 5, 8
DENOISER_KINDS = ("denoiser", "hollow")
KINDS = ("denoiser", "hollow", "autoregressive")


def tiny(kind: str = "denoiser", *, seed: int = 0, noise: float = 0.0, **overrides) -> torch.nn.Module:
    """A tiny model of ``kind`` (V = 5, L = 8), in eval mode, built from ``seed``; ``noise > 0`` adds
    N(0, noise^2) to every parameter, so that zero-initialised parts (adaLN) are active and outputs
    vary visibly with the inputs."""
    torch.manual_seed(seed)
    model = build_model(ModelConfig.preset("tiny", vocab_size=V, length=L, kind=kind, **overrides)).eval()
    if noise:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(noise * torch.randn_like(p))
    return model


def call(model: torch.nn.Module, x: torch.Tensor, t=0.5, **cond) -> torch.Tensor:
    """The network's logits of any kind: ``raw_logits`` of a denoiser, ``forward`` of an
    autoregressive model."""
    if hasattr(model, "raw_logits"):
        return model.raw_logits(x, t, **cond)
    return model(x, **cond)


def tokens(batch: int, length: int = L, *, seed: int = 0, masked: bool = True) -> torch.Tensor:
    """Random ids ``[batch, length]`` in ``0..V`` (``0..V-1`` when not ``masked``)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V + 1 if masked else V, (batch, length), generator=g)
