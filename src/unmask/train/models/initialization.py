"""Parameter initialisation shared by the models (GPT-2 style)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .block import Block

#: Standard deviation of every linear and embedding weight.
STD = 0.02


def token_embedding(rows: int, d_model: int) -> nn.Embedding:
    """An ``nn.Embedding`` of ``rows x d_model`` whose weight :func:`initialize` sets: given an
    empty weight, it skips its own ``normal_``, which on the meta device costs seconds of imports."""
    return nn.Embedding(rows, d_model, _weight=torch.empty(rows, d_model))


def initialize(model: nn.Module, depth: int) -> None:
    """Initialise ``model`` in place: linear and embedding weights normal with std :data:`STD`,
    biases zero, layer norms at the identity; the projections into the residual stream of each
    :class:`Block` with std ``STD / sqrt(2 depth)`` (``depth`` blocks on the longest path, two
    residual branches each), so the variance of the stream does not grow with depth (GPT-2); adaLN
    modulations as in :meth:`Block.reset_residual`; parameters of ``model`` itself (not of a
    submodule: the hollow model's boundary vectors) normal with std :data:`STD`.

    A model on the meta device (:func:`~unmask.train.models.parameter_count`) has no values to set,
    and is left alone (a first ``normal_`` on the meta device costs seconds of imports).
    """
    if any(p.is_meta for p in model.parameters()):
        return
    for parameter in model.parameters(recurse=False):
        nn.init.normal_(parameter, std=STD)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=STD)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            module.reset_parameters()
    for module in model.modules():
        if isinstance(module, Block):
            module.reset_residual(STD / math.sqrt(2 * depth))
