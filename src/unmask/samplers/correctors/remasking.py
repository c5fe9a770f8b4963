"""ReMDM remasking sampler (Wang, Schiff, Sahoo, Kuleshov 2025, "Remasking discrete diffusion
models with inference-time scaling").

A grid step from ``t`` to ``s < t`` follows the remasking posterior: independently per position,

* a clean free position turns back into a mask with probability ``sigma_t``;
* a masked position is revealed with probability ``(alpha_s - (1 - sigma_t) alpha_t) / (1 - alpha_t)``,
  its value drawn from the model's ``p(x_i | z_t)``.

``0 <= sigma_t <= sigma_max(t, s) = min(1, (1 - alpha_s) / alpha_t)`` keeps both probabilities in
``[0, 1]``; ``sigma_t = 0`` is the Tweedie (MDLM ancestral) step, and the last step (``s = 0``,
``sigma_max = 0``) reveals everything still masked. Variants of the paper:

* ``"cap"``: ``sigma_t = min(eta, sigma_max)``;
* ``"rescale"``: ``sigma_t = eta * sigma_max`` (``0 <= eta <= 1``).

The paper's ``"confidence"`` variant weights positions by the model's confidence in each token when
it was revealed, a per-token memory that the state ``z`` does not hold; it is not implemented.
Every row takes every grid step (a row with nothing masked may still be remasked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ... import checks
from ..base import Sampler, StepContext, force_last

VARIANTS = ("cap", "rescale")


@dataclass(frozen=True)
class ReMDM(Sampler):
    """ReMDM with the ``"cap"`` (default) or ``"rescale"`` remasking schedule and strength ``eta``.

    Args:
        eta: remasking strength in ``[0, 1]`` for both variants (``0``: Tweedie's steps; with
            ``"cap"`` a value above 1 would act as 1, so it is refused like any other outside value).
        variant: ``"cap"`` or ``"rescale"`` (the paper's ``"confidence"`` is not implemented).
    """

    eta: float = 0.05
    variant: str = "cap"
    name: ClassVar[str] = "remdm"
    in_default_bench: ClassVar[bool] = False

    def __post_init__(self) -> None:
        checks.one_of("variant", self.variant, VARIANTS)
        object.__setattr__(self, "eta", checks.probability("eta", self.eta))

    def predicted_order(self, clipped_mass, tv):
        if self.eta == 0:
            return "1", "eta = 0: Tweedie's steps, first order"
        return "none", (
            f"remasking ({self.variant}, eta {self.eta}): each step remasks clean tokens drawn from "
            "factorised conditionals, so the error has no order in steps"
        )

    def remask_probability(self, alpha_t: torch.Tensor, alpha_s: torch.Tensor) -> torch.Tensor:
        """``sigma_t`` ``[n]`` from the clean probabilities ``alpha_t``, ``alpha_s`` ``[n]``."""
        room = torch.where(alpha_t > 0, (1 - alpha_s) / alpha_t.clamp(min=1e-300), 1.0)
        sigma_max = room.clamp(0.0, 1.0)
        if self.variant == "cap":
            return sigma_max.clamp(max=self.eta)
        return self.eta * sigma_max

    def active(self, ctx: StepContext, z: torch.Tensor, index: int) -> torch.Tensor:
        return torch.ones(z.shape[0], dtype=torch.bool, device=z.device)

    def step(self, ctx: StepContext, z, t, s, index):
        schedule = ctx.process.schedule
        alpha_t, alpha_s = schedule.alpha(t), schedule.alpha(s)
        sigma = self.remask_probability(alpha_t, alpha_s)
        still = 1 - alpha_t
        reveal = torch.where(still > 0, (alpha_s - (1 - sigma) * alpha_t) / still.clamp(min=1e-300), 1.0)
        reveal = force_last(reveal.clamp(0.0, 1.0), s)
        probs = ctx.denoise(z, t)
        was_masked = ctx.masked(z)
        z = ctx.remask(z, sigma[:, None])
        prob = torch.where(ctx.align(was_masked), ctx.align(reveal)[:, None], 0.0)
        return ctx.move(z, prob, ctx.align(probs)), s
