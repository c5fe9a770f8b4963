"""``ChunkedDenoiser``: a model called on at most ``rows_per_call`` rows at a time, without autograd.

The exact-law dynamic program (:func:`unmask.exact.run_law`) evaluates the denoiser once on every
distinct partial state of a step, which can be hundreds of thousands of rows in one call; a
transformer's activations for them would not fit in memory, and on a CPU a few thousand rows per
call run about twice as fast per row as one huge call (they stay in cache). This wrapper cuts the
rows into pieces, calls the model under ``torch.inference_mode()`` on its own device and
concatenates the logits (in the model's dtype) on the device of the input.
"""

from __future__ import annotations

from typing import Any

import torch

from ... import checks
from ...denoisers import is_time_agnostic

#: Rows per model call by default: fast on a CPU for small models, small enough for any model.
ROWS_PER_CALL = 4096


def model_device(model: Any) -> torch.device:
    """The device of ``model``'s first parameter or buffer (the CPU for a plain function)."""
    if isinstance(model, torch.nn.Module):
        for tensor in (*model.parameters(), *model.buffers()):
            return tensor.device
    return torch.device("cpu")


class ChunkedDenoiser:
    """``model(x_t, t)`` evaluated ``rows_per_call`` rows at a time (module docstring).

    Args:
        model: a denoiser ``f(x_t [B, L], t [B]) -> logits [B, L, V]``.
        rows_per_call: the most rows of one call of ``model``.

    Attributes:
        vocab_size, time_agnostic: those of ``model`` (the samplers read them).
        calls, rows: model calls made and rows evaluated so far.
    """

    def __init__(self, model: Any, rows_per_call: int = ROWS_PER_CALL):
        if not callable(model):
            raise TypeError(f"model must be a denoiser f(x_t, t) -> logits, got {type(model).__name__}")
        self.model = model
        self.rows_per_call = checks.positive_int("rows_per_call", rows_per_call)
        self.device = model_device(model)
        self.time_agnostic = is_time_agnostic(model)
        vocab_size = getattr(model, "vocab_size", None)
        if vocab_size is not None:
            self.vocab_size = vocab_size
        self.calls = 0
        self.rows = 0

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, L, V]`` on ``x_t``'s device, in the model's dtype."""
        pieces = []
        with torch.inference_mode():
            for start in range(0, len(x_t), self.rows_per_call):
                rows = slice(start, start + self.rows_per_call)
                logits = self.model(x_t[rows].to(self.device), t[rows].to(self.device))
                pieces.append(logits.to(x_t.device))
                self.calls += 1
                self.rows += len(x_t[rows])
        if not pieces:  # no rows: one call of none keeps the shape and dtype of the output
            with torch.inference_mode():
                return self.model(x_t.to(self.device), t.to(self.device)).to(x_t.device)
        # outside inference mode, cat and clone give ordinary tensors (inference tensors refuse
        # in-place updates and autograd there)
        return torch.cat(pieces) if len(pieces) > 1 else pieces[0].clone()
