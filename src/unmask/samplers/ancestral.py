"""Masked ancestral samplers on a time grid: Euler, tau-leaping and Tweedie (spec §2.1).

Each step from ``t`` to ``s < t`` reveals every masked token independently with probability
``p_u`` and draws the revealed values independently from the model's clean-token probabilities:

* Tweedie (exact per token): ``p_u = (alpha_s - alpha_t) / (1 - alpha_t)``;
* Euler: ``p_u = min(1, lambda(t) (t - s))``;
* tau-leaping: ``p_u = 1 - exp(-lambda(t) (t - s))``.

The last step (``s = 0``) reveals everything still masked. With an exact denoiser the only error
is the factorisation error of tokens revealed in the same step; it is first order in the step size.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

from ..processes import MaskedProcess
from .base import Sampler, StepContext, force_last


@dataclass(frozen=True)
class Ancestral(Sampler):
    """Shared step of the three masked ancestral samplers; they differ in ``reveal_probability``."""

    @abstractmethod
    def reveal_probability(self, process: MaskedProcess, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Probability ``[n]`` that a token masked at ``t`` is revealed by ``s``."""

    def step(self, ctx: StepContext, z, t, s, index):
        probs = ctx.denoise(z, t)
        reveal = force_last(self.reveal_probability(ctx.process, t, s), s)
        return ctx.move(z, reveal[:, None], probs), s


@dataclass(frozen=True)
class Euler(Ancestral):
    """Masked Euler: ``p_u = min(1, lambda(t) (t - s))`` with the hazard at the left end point."""

    name: ClassVar[str] = "euler"

    def reveal_probability(self, process, t, s):
        return (process.hazard(t) * (t - s)).clamp(max=1.0)


@dataclass(frozen=True)
class TauLeaping(Ancestral):
    """Masked tau-leaping: ``p_u = 1 - exp(-lambda(t) (t - s))``; never 1, so the last step is forced."""

    name: ClassVar[str] = "tau-leaping"

    def reveal_probability(self, process, t, s):
        return -torch.expm1(-process.hazard(t) * (t - s))


@dataclass(frozen=True)
class Tweedie(Ancestral):
    """Masked Tweedie / MDLM ancestral: the exact per-token ``(alpha_s - alpha_t) / (1 - alpha_t)``."""

    name: ClassVar[str] = "tweedie"

    def reveal_probability(self, process, t, s):
        return process.unmask_probability(t, s)
