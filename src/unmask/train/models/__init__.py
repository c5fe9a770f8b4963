"""Transformer models of the training layer: a denoiser, a hollow denoiser (leave-one-out
conditionals in one call) and an autoregressive baseline, built from a :class:`ModelConfig`."""

from .autoregressive import AutoregressiveTransformer
from .config import PRESETS, ModelConfig
from .denoiser import TransformerDenoiser
from .hollow import HollowDenoiser
from .registry import MODEL_KINDS, build_model, parameter_count
from .rotary import Rotary

__all__ = [
    "MODEL_KINDS",
    "PRESETS",
    "AutoregressiveTransformer",
    "HollowDenoiser",
    "ModelConfig",
    "Rotary",
    "TransformerDenoiser",
    "build_model",
    "parameter_count",
]
