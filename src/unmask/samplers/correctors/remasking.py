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
* ``"rescale"``: ``sigma_t = eta * sigma_max`` (``0 <= eta <= 1``);
* ``"loop"`` (ReMDM-loop): three phases in grid time. Before ``t_on``, Tweedie steps bring the clean
  fraction from 0 to ``alpha_on``; between ``t_on`` and ``t_off`` the clean fraction is held at
  ``alpha_on`` and every step remasks with ``sigma = min(eta, (1 - alpha_on) / alpha_on)``; after
  ``t_off``, Tweedie steps reveal the rest. The paper's defaults (its code, ``scripts/remdm-loop.sh``
  of kuleshov-group/remdm) are ``t_on = 0.55``, ``t_off = 0.05``, ``alpha_on = 0.9`` and
  ``eta = 0.02``; on a uniform grid the phases take the fractions ``1 - t_on``, ``t_on - t_off`` and
  ``t_off`` of the steps. See :meth:`ReMDM.effective_time` for how grid times map to the process'
  schedule.

The paper's ``"confidence"`` variant weights positions by the model's confidence in each token when
it was revealed, a per-token memory that the state ``z`` does not hold: it is refused (see
:data:`CONFIDENCE_REFUSAL`). Every row takes every grid step (a row with nothing masked may still be
remasked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ... import checks
from ..base import Sampler, StepContext, force_last

VARIANTS = ("cap", "rescale", "loop")

#: The fields that only the ``"loop"`` variant reads, and the paper's values for them.
LOOP_DEFAULTS = {"t_on": 0.55, "t_off": 0.05, "alpha_on": 0.9}

#: Grid times this close to ``t_on`` or ``t_off`` count as on the boundary (a grid made by
#: ``linspace`` puts ``0.55`` at ``0.5500000000000002``).
BOUNDARY_TOLERANCE = 1e-12

CONFIDENCE_REFUSAL = (
    "variant {variant!r} (ReMDM-conf) is not available: it remasks each token according to the "
    "model's confidence in it at the time it was revealed, a per-token memory that the state z does "
    "not hold, so its exact law cannot be computed by the state dynamic program (unmask.exact) that "
    "every sampler here shares. Use variant='cap', 'rescale' or 'loop', or the informed corrector "
    "(PredictorCorrector with Informed, 'predictor-corrector:corrector=informed'), which redraws "
    "the tokens the model is least confident in now, from its leave-one-out conditionals"
)


@dataclass(frozen=True)
class ReMDM(Sampler):
    """ReMDM with the ``"cap"`` (default), ``"rescale"`` or ``"loop"`` remasking schedule.

    Args:
        eta: remasking strength in ``[0, 1]`` for every variant (``0``: Tweedie's steps; with
            ``"cap"`` a value above 1 would act as 1, so it is refused like any other outside value;
            the paper used 0.02 with ``"loop"``).
        variant: ``"cap"``, ``"rescale"`` or ``"loop"`` (the paper's ``"confidence"`` is refused:
            its per-token memory is not part of the state).
        t_on: ``"loop"`` only (default 0.55): the grid time at which the loop phase starts.
        t_off: ``"loop"`` only (default 0.05): the grid time at which it ends; ``0 < t_off < t_on < 1``.
        alpha_on: ``"loop"`` only (default 0.9): the clean fraction held during the loop phase, in
            ``(0, 1)``.

    The loop fields are None for the other variants; giving one with another variant raises.
    """

    eta: float = 0.05
    variant: str = "cap"
    t_on: float | None = None
    t_off: float | None = None
    alpha_on: float | None = None
    name: ClassVar[str] = "remdm"

    def __post_init__(self) -> None:
        if self.variant in ("confidence", "conf"):
            raise ValueError(CONFIDENCE_REFUSAL.format(variant=self.variant))
        checks.one_of("variant", self.variant, VARIANTS)
        object.__setattr__(self, "eta", checks.probability("eta", self.eta))
        if self.variant != "loop":
            for field, value in ((field, getattr(self, field)) for field in LOOP_DEFAULTS):
                if value is not None:
                    raise ValueError(
                        f"{field} applies only to variant='loop' (the loop phase's bounds and clean "
                        f"fraction), got {field}={value!r} with variant={self.variant!r}"
                    )
            return
        for field, default in LOOP_DEFAULTS.items():
            value = default if getattr(self, field) is None else getattr(self, field)
            object.__setattr__(self, field, checks.probability(field, value, open_low=True, open_high=True))
        if not self.t_off < self.t_on:
            raise ValueError(
                f"t_off must be below t_on (the loop phase runs from t_on down to t_off; "
                f"0 < t_off < t_on < 1), got t_off={self.t_off}, t_on={self.t_on}"
            )

    def predicted_order(self, clipped_mass, tv):
        if self.eta == 0:
            if self.variant == "loop":
                return "1", "eta = 0: the loop phase does nothing; Tweedie's steps on the compressed grid"
            return "1", "eta = 0: Tweedie's steps, first order"
        return "none", (
            f"remasking ({self.variant}, eta {self.eta}): each step remasks clean tokens drawn from "
            "factorised conditionals, so the error has no order in steps"
        )

    def remask_probability(self, alpha_t: torch.Tensor, alpha_s: torch.Tensor) -> torch.Tensor:
        """``sigma_t`` ``[n]`` from the clean probabilities ``alpha_t``, ``alpha_s`` ``[n]`` (the
        ``"cap"`` rule for ``"loop"``, whose steps outside the loop phase set it to 0)."""
        room = torch.where(alpha_t > 0, (1 - alpha_s) / alpha_t.clamp(min=1e-300), 1.0)
        sigma_max = room.clamp(0.0, 1.0)
        if self.variant == "rescale":
            return self.eta * sigma_max
        return sigma_max.clamp(max=self.eta)

    def in_loop(self, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Bool ``[n]``: the steps ``t -> s`` inside the loop phase ``t_off <= s < t <= t_on``
        (always False for the other variants)."""
        if self.variant != "loop":
            return torch.zeros(t.shape, dtype=torch.bool, device=t.device)
        return (t <= self.t_on + BOUNDARY_TOLERANCE) & (s >= self.t_off - BOUNDARY_TOLERANCE)

    def effective_time(self, schedule, t: torch.Tensor) -> torch.Tensor:
        """The process time whose ``alpha`` a step uses at grid time ``t [n]`` (``t`` itself except
        for ``"loop"``).

        ``"loop"``, with ``tau_on`` the time where the schedule's ``alpha`` equals ``alpha_on``
        (``schedule.inverse(alpha_on)``): grid times in ``[t_on, 1]`` map linearly onto
        ``[tau_on, 1]``, every grid time in ``[t_off, t_on]`` maps to ``tau_on`` (``alpha`` held at
        ``alpha(tau_on)``, which is ``alpha_on`` whenever the schedule reaches it), and grid times
        in ``[0, t_off]`` map linearly onto ``[0, tau_on]``. The steps outside the loop phase are
        thus Tweedie's steps on the compressed grid, the schedule's own shape kept; for the linear
        schedule this is the paper's code, whose ``alpha`` falls linearly from 0 to ``alpha_on``
        over ``[t_on, 1]`` and rises linearly from ``alpha_on`` to 1 over ``[0, t_off]``.
        """
        t = t.to(torch.float64)
        if self.variant != "loop":
            return t
        tau_on = schedule.inverse(self.alpha_on).to(device=t.device)
        before = tau_on + (t - self.t_on) * (1 - tau_on) / (1 - self.t_on)
        after = t * tau_on / self.t_off
        tau = torch.where(t > self.t_on + BOUNDARY_TOLERANCE, before, tau_on)
        tau = torch.where(t < self.t_off - BOUNDARY_TOLERANCE, after, tau)
        return tau.clamp(0.0, 1.0)

    def active(self, ctx: StepContext, z: torch.Tensor, index: int) -> torch.Tensor:
        return torch.ones(z.shape[0], dtype=torch.bool, device=z.device)

    def step(self, ctx: StepContext, z, t, s, index):
        schedule = ctx.process.schedule
        tau_t, tau_s = self.effective_time(schedule, t), self.effective_time(schedule, s)
        alpha_t, alpha_s = schedule.alpha(tau_t), schedule.alpha(tau_s)
        sigma = self.remask_probability(alpha_t, alpha_s)
        if self.variant == "loop":
            sigma = torch.where(self.in_loop(t, s), sigma, 0.0)
        still = 1 - alpha_t
        reveal = torch.where(still > 0, (alpha_s - (1 - sigma) * alpha_t) / still.clamp(min=1e-300), 1.0)
        reveal = force_last(reveal.clamp(0.0, 1.0), s)
        probs = ctx.denoise(z, tau_t)
        was_masked = ctx.masked(z)
        z = ctx.remask(z, sigma[:, None])
        prob = torch.where(ctx.align(was_masked), ctx.align(reveal)[:, None], 0.0)
        return ctx.move(z, prob, ctx.align(probs)), s
