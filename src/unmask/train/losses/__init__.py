"""Training losses for discrete diffusion (and autoregressive) models, as pure functions.

Each loss draws what it needs from a ``torch.Generator``, calls the model once and returns a
:class:`LossTerms`: the scalar ``loss`` to call ``backward()`` on, the per-sequence ``nelbo [B]``
in nats, the real-token counts ``tokens [B]`` (``bits_per_token`` follows) and the drawn times.

* :func:`masked_diffusion_loss`: MDLM's continuous-time NELBO of the masked process (spec §1.4);
* :func:`uniform_diffusion_loss`: the continuous-time NELBO of the uniform process (spec §1.2);
* :func:`hollow_loss`: HollowDiff's ``(L_masked + L_unmasked) / 2`` from leave-one-out
  conditionals (spec §2.6);
* :func:`autoregressive_loss`: next-token cross-entropy;
* :func:`antithetic_times`, :func:`uniform_times`: the time draws of a batch.

A model is any callable following the denoiser contract (:mod:`unmask.denoisers`); the losses
accept an ``attention_mask`` (padding is never corrupted, scored or counted) and ``cond`` keyword
arguments for the model.
"""

from .autoregressive import autoregressive_loss
from .hollow import hollow_loss
from .masked import masked_diffusion_loss
from .terms import REDUCTIONS, LossTerms
from .times import DEFAULT_T_MIN, antithetic_times, uniform_times
from .uniform import uniform_diffusion_loss

__all__ = [
    "DEFAULT_T_MIN",
    "REDUCTIONS",
    "LossTerms",
    "antithetic_times",
    "autoregressive_loss",
    "hollow_loss",
    "masked_diffusion_loss",
    "uniform_diffusion_loss",
    "uniform_times",
]
