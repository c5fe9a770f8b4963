"""Likelihood of sequences under masked- and uniform-diffusion denoisers, with error bars.

``nelbo(denoiser, x, vocab_size=V, method="time-free", samples=128, generator=g)`` estimates
``-log p(x)`` per sequence (:class:`LikelihoodResult`: ``nll``, ``stderr``, ``nfe``,
``bits_per_token``); ``log_ratio`` compares two answers on shared mask sets;
``conditional_nelbo`` scores a response given a prompt; ``draw_moments`` and ``ratio_moments``
give the exact mean and variance of one draw on small problems (spec §1.4, §4.11, §8). Their
options (method, process, clip, variant, budget, ...) are the fields of one record,
:class:`LikelihoodOptions`, given as keywords and checked before any denoiser call.
"""

from .budget import Budget
from .conditional import conditional_nelbo
from .coupled import log_ratio
from .estimators import ESTIMATORS, Discrete, MaskedEstimator, TimeFree, TimeIntegral, UniformCount
from .exact import exact_nelbo, mask_weights, subset_losses
from .nelbo import nelbo
from .options import METHODS, UNIFORM_METHODS, LikelihoodOptions
from .record import LikelihoodResult, RatioResult
from .uniform import UniformBound
from .variance import DrawMoments, RatioMoments, draw_moments, ratio_moments, unit_moments

__all__ = [
    "ESTIMATORS",
    "METHODS",
    "UNIFORM_METHODS",
    "Budget",
    "Discrete",
    "DrawMoments",
    "LikelihoodOptions",
    "LikelihoodResult",
    "MaskedEstimator",
    "RatioMoments",
    "RatioResult",
    "TimeFree",
    "TimeIntegral",
    "UniformBound",
    "UniformCount",
    "conditional_nelbo",
    "draw_moments",
    "exact_nelbo",
    "log_ratio",
    "mask_weights",
    "nelbo",
    "ratio_moments",
    "subset_losses",
    "unit_moments",
]
