"""Classifier-free guidance for prompted generation (LLaDA's form, Nie et al. 2025).

:class:`Guided` wraps an :class:`~unmask.hf.adapter.HFDenoiser`. Each call evaluates every row
twice, in **one** batched model call of ``2n`` rows: the row itself (conditional) and the same row
with its prompt positions replaced by the mask token (unconditional), and returns

    ``uncond + (1 + w) * (cond - uncond)``

on the model's own logits (no suppression, temperature, top-k or top-p), in the model's dtype;
the adapter's processing is then applied once to the combination (suppressing before combining
would give ``-inf - -inf = NaN``). ``w = 0`` is the conditional model itself.

NFE accounting: the sampler counts one denoiser call per call of :class:`Guided` (``nfe``), and
each such call runs the model on twice the rows, so the model evaluates ``2 * nfe`` row batches
(:attr:`Guided.passes_per_call` = 2; :class:`~unmask.hf.generation.GenerationResult` reports it
as ``model_calls``).
"""

from __future__ import annotations

from typing import Any

import torch

from .. import checks
from .adapter import HFDenoiser


class Guided:
    """An :class:`HFDenoiser` with classifier-free guidance of scale ``scale`` (``w > 0``).

    The call takes ``prompt_positions`` (bool ``[n, L]``, True on the prompt's tokens) as a
    row-aligned conditioning tensor; positions outside it (generation, padding) are left as they
    are in the unconditional pass. ``attention_mask`` and other model inputs are given to both
    passes.
    """

    time_agnostic = True
    passes_per_call = 2

    def __init__(self, denoiser: HFDenoiser, scale: float) -> None:
        checks.instance("denoiser", denoiser, HFDenoiser, "an HFDenoiser")
        self.scale = checks.non_negative_float("guidance", scale)
        self.denoiser = denoiser
        self.raw = denoiser.plain()
        self.vocab_size = denoiser.vocab_size
        self.mask_id = denoiser.mask_id

    def __call__(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        prompt_positions: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        **model_inputs: torch.Tensor,
    ) -> torch.Tensor:
        """Guided logits ``[n, L, V]`` of states ``x_t [n, L]`` (module docstring)."""
        if prompt_positions is None or tuple(prompt_positions.shape) != tuple(x_t.shape):
            got = None if prompt_positions is None else tuple(prompt_positions.shape)
            raise ValueError(
                f"prompt_positions must be a bool tensor of x_t's shape {tuple(x_t.shape)}, got {got}"
            )
        unconditional = torch.where(prompt_positions, self.mask_id, x_t)
        both = torch.cat([x_t, unconditional])
        doubled: dict[str, Any] = {name: torch.cat([value, value]) for name, value in model_inputs.items()}
        if attention_mask is not None:
            doubled["attention_mask"] = torch.cat([attention_mask, attention_mask])
        logits = self.raw(both, torch.cat([t, t]), **doubled)
        cond, uncond = logits.chunk(2)
        combined = uncond + (1.0 + self.scale) * (cond - uncond)
        return self.denoiser.process(combined.to(logits.dtype))

    def __repr__(self) -> str:
        return f"Guided({self.denoiser!r}, scale={self.scale})"
