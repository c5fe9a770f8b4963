"""The model classes by kind: the one place where ``ModelConfig.kind`` picks a class."""

from __future__ import annotations

import torch
from torch import nn

from .autoregressive import AutoregressiveTransformer
from .config import ModelConfig
from .denoiser import TransformerDenoiser
from .hollow import HollowDenoiser

#: ``config.kind`` -> model class (each class also names its kind in ``cls.kind``).
MODEL_KINDS: dict[str, type[nn.Module]] = {
    cls.kind: cls for cls in (TransformerDenoiser, HollowDenoiser, AutoregressiveTransformer)
}


def build_model(config: ModelConfig) -> nn.Module:
    """A freshly initialised model of ``config`` (the class :data:`MODEL_KINDS` ``[config.kind]``),
    float32, on the default device."""
    if not isinstance(config, ModelConfig):
        raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
    return MODEL_KINDS[config.kind](config)


def parameter_count(config: ModelConfig, *, embeddings: bool = True) -> int:
    """The number of parameters of ``build_model(config)``, counted on the meta device (no memory,
    no initialisation: instant even for large configs). ``embeddings=False`` leaves out the token
    embedding and the output head (both ``~ V d``; the "non-embedding" count of scaling laws)."""
    with torch.device("meta"):
        model = build_model(config)
    total = sum(p.numel() for p in model.parameters())
    if not embeddings:
        total -= model.embedding.weight.numel() + model.head.weight.numel()
    return total
