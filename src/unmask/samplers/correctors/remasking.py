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
  schedule;
* ``"confidence"`` (ReMDM-conf): each position carries a confidence memory ``psi_i``: ``-inf``
  while masked, and ``-p(x_i = v | z_t)`` from the step that revealed it to ``v`` (minus the
  model's probability of the drawn token: an improbable token has a high ``psi``). A step remasks
  clean free position ``i`` with probability ``sigma_i = eta_i sigma_max`` where ``eta_i =
  exp(psi_i) / sum_j exp(psi_j)`` is the softmax of ``psi`` over the row's clean free positions (0
  at masked and fixed positions; all 0 when nothing is clean), and reveals each masked position
  with probability ``(alpha_s - alpha_t) / (1 - alpha_t)`` (the formula above with ``sigma = 0``
  there). Then newly revealed positions get ``psi = -p(drawn token)`` and remasked ones ``-inf``.
  The ``sigma_i`` of a row sum to ``sigma_max``: a step remasks at most one token on average.
  This is the paper's code (``_ddpm_caching_update``, sampler ``remdm-conf``, of
  kuleshov-group/remdm); ``eta`` does not apply (refused). The memory is kept by the step context
  (:meth:`~unmask.samplers.base.StepContext.memory`), not in the state ``z``, so this variant has
  no exact law (:data:`CONFIDENCE_LAW_REFUSAL`): it is sampled, and measured by Monte Carlo.

Every row takes every grid step (a row with nothing masked may still be remasked).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from ... import checks
from ..base import Sampler, StepContext, force_last

VARIANTS = ("cap", "rescale", "loop", "confidence")

#: ``eta`` when not given, for the variants that use it (``"confidence"`` does not).
DEFAULT_ETA = 0.05

#: The fields that only the ``"loop"`` variant reads, and the paper's values for them.
LOOP_DEFAULTS = {"t_on": 0.55, "t_off": 0.05, "alpha_on": 0.9}

#: Grid times this close to ``t_on`` or ``t_off`` count as on the boundary (a grid made by
#: ``linspace`` puts ``0.55`` at ``0.5500000000000002``).
BOUNDARY_TOLERANCE = 1e-12

#: The step context's memory of ``"confidence"``: ``psi [n, L]`` (see the module docstring).
CONFIDENCE_MEMORY = "remdm_confidence"

CONFIDENCE_LAW_REFUSAL = (
    "ReMDM-conf (variant='confidence') remasks each token according to the model's confidence in it "
    "at the step that revealed it, a per-token memory that the state z does not hold: its law "
    "branches over (state, memory) pairs, which the state dynamic program of unmask.exact does not "
    "merge, so its exact law is not computed. Estimate it by sampling (unmask.sample; the bench runs "
    "it as a Monte Carlo cell), or use variant='cap', 'rescale' or 'loop', whose exact laws are "
    "computed"
)


def confidence_weights(psi: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """``eta [n, L]``: the softmax of the confidence memory ``psi [n, L]`` (float64) over each
    row's ``clean [n, L]`` positions of finite ``psi``, ``eta_i = exp(psi_i - m) / sum_j
    exp(psi_j - m)`` with ``m`` the row's largest such ``psi``; 0 elsewhere, and in a row with no
    such position. No host synchronisation, and no NaN (nor NaN gradient) from ``-inf`` entries."""
    eligible = clean & (psi > -math.inf)
    scores = torch.where(eligible, psi, -math.inf)
    top = scores.amax(-1, keepdim=True)
    top = torch.where(top > -math.inf, top, torch.zeros_like(top))
    weights = torch.where(eligible, (torch.where(eligible, psi, top) - top).exp(), 0.0)
    total = weights.sum(-1, keepdim=True)
    return weights / torch.where(total > 0, total, torch.ones_like(total))


@dataclass(frozen=True)
class ReMDM(Sampler):
    """ReMDM with the ``"cap"`` (default), ``"rescale"``, ``"loop"`` or ``"confidence"`` remasking
    schedule.

    Args:
        eta: remasking strength in ``[0, 1]`` for ``"cap"``, ``"rescale"`` and ``"loop"`` (default
            0.05; ``0``: Tweedie's steps; with ``"cap"`` a value above 1 would act as 1, so it is
            refused like any other outside value; the paper used 0.02 with ``"loop"``). None (the
            default) means 0.05 for those variants; ``"confidence"`` takes no ``eta`` (giving one
            raises): its per-position strengths come from the confidence memory.
        variant: ``"cap"``, ``"rescale"``, ``"loop"`` or ``"confidence"`` (ReMDM-conf, the paper's
            ``remdm-conf``; sampled only, no exact law: :meth:`exact_law_refusal`).
        t_on: ``"loop"`` only (default 0.55): the grid time at which the loop phase starts.
        t_off: ``"loop"`` only (default 0.05): the grid time at which it ends; ``0 < t_off < t_on < 1``.
        alpha_on: ``"loop"`` only (default 0.9): the clean fraction held during the loop phase, in
            ``(0, 1)``.

    The loop fields are None for the other variants; giving one with another variant raises.
    """

    eta: float | None = None
    variant: str = "cap"
    t_on: float | None = None
    t_off: float | None = None
    alpha_on: float | None = None
    name: ClassVar[str] = "remdm"

    def __post_init__(self) -> None:
        if self.variant == "conf":
            raise ValueError(
                "variant 'conf' is spelled 'confidence' here (ReMDM-conf, the paper code's remdm-conf): "
                "pass variant='confidence'"
            )
        checks.one_of("variant", self.variant, VARIANTS)
        if self.variant == "confidence":
            if self.eta is not None:
                raise ValueError(
                    f"eta does not apply to variant='confidence' (its remasking probabilities are "
                    f"sigma_max times the softmax of the confidence memory), got eta={self.eta!r}; "
                    "drop eta, or use variant='rescale' for sigma = eta * sigma_max"
                )
        else:
            eta = DEFAULT_ETA if self.eta is None else self.eta
            object.__setattr__(self, "eta", checks.probability("eta", eta))
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

    def exact_law_refusal(self) -> str | None:
        """:data:`CONFIDENCE_LAW_REFUSAL` for ``"confidence"``; None for the other variants."""
        return CONFIDENCE_LAW_REFUSAL if self.variant == "confidence" else None

    def predicted_order(self, clipped_mass, tv):
        if self.variant == "confidence":
            return "none", (
                "confidence remasking: each step remasks up to sigma_max of a token, chosen by the "
                "model's confidence when it was revealed, and redraws it from factorised conditionals, "
                "so the error has no order in steps"
            )
        if self.eta == 0:
            if self.variant == "loop":
                return "1", "eta = 0: the loop phase does nothing; Tweedie's steps on the compressed grid"
            return "1", "eta = 0: Tweedie's steps, first order"
        return "none", (
            f"remasking ({self.variant}, eta {self.eta}): each step remasks clean tokens drawn from "
            "factorised conditionals, so the error has no order in steps"
        )

    @staticmethod
    def remask_bound(alpha_t: torch.Tensor, alpha_s: torch.Tensor) -> torch.Tensor:
        """``sigma_max = min(1, (1 - alpha_s) / alpha_t)`` ``[n]`` (1 where ``alpha_t = 0``) from the
        clean probabilities ``alpha_t``, ``alpha_s`` ``[n]``."""
        room = torch.where(alpha_t > 0, (1 - alpha_s) / alpha_t.clamp(min=1e-300), 1.0)
        return room.clamp(0.0, 1.0)

    def remask_probability(self, alpha_t: torch.Tensor, alpha_s: torch.Tensor) -> torch.Tensor:
        """``sigma_t`` ``[n]`` from the clean probabilities ``alpha_t``, ``alpha_s`` ``[n]`` (the
        ``"cap"`` rule for ``"loop"``, whose steps outside the loop phase set it to 0; the bound
        ``sigma_max`` for ``"confidence"``, which spreads it over the positions)."""
        sigma_max = self.remask_bound(alpha_t, alpha_s)
        if self.variant == "confidence":
            return sigma_max
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
        if self.variant == "confidence":
            return self._confidence_step(ctx, z, t, s)
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

    def _confidence_step(self, ctx: StepContext, z, t, s):
        """ReMDM-conf's step (module docstring): remask clean position ``i`` with probability
        ``sigma_i = eta_i sigma_max`` ``[n, L]``, reveal masked ones with probability
        ``(alpha_s - alpha_t) / (1 - alpha_t)`` (1 at the last step), then update the memory."""
        schedule = ctx.process.schedule
        tau_t, tau_s = self.effective_time(schedule, t), self.effective_time(schedule, s)
        alpha_t, alpha_s = schedule.alpha(tau_t), schedule.alpha(tau_s)
        psi = ctx.memory(CONFIDENCE_MEMORY, -math.inf)
        clean = ctx.clean(z)
        sigma = confidence_weights(psi, clean) * self.remask_bound(alpha_t, alpha_s)[:, None]
        still = 1 - alpha_t
        reveal = torch.where(still > 0, (alpha_s - alpha_t) / still.clamp(min=1e-300), 1.0)
        reveal = force_last(reveal.clamp(0.0, 1.0), s)
        probs = ctx.denoise(z, tau_t)
        was_masked = ctx.masked(z)
        z = ctx.remask(z, sigma)
        prob = torch.where(ctx.align(was_masked), ctx.align(reveal)[:, None], 0.0)
        probs = ctx.align(probs)
        z = ctx.move(z, prob, probs)
        masked = z == ctx.vocab_size
        revealed = ctx.align(was_masked) & ~masked
        remasked = ctx.align(clean) & masked
        drawn = probs.log_prob_of(z.long(), where=revealed).exp()
        psi = torch.where(revealed, -drawn, torch.where(remasked, -math.inf, ctx.align(psi)))
        ctx.remember(CONFIDENCE_MEMORY, psi)
        return z, s
