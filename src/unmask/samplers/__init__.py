"""Samplers for masked and uniform discrete diffusion, and the driver that runs them."""

from .ancestral import Euler, TauLeaping, Tweedie
from .base import Sampler, StepContext
from .driver import SampleResult, sample
from .first_hitting import FirstHitting
from .k_random import KRandom
from .registry import get, names
from .trapezoidal import RK2, Trapezoidal

__all__ = [
    "RK2",
    "Euler",
    "FirstHitting",
    "KRandom",
    "SampleResult",
    "Sampler",
    "StepContext",
    "TauLeaping",
    "Trapezoidal",
    "Tweedie",
    "get",
    "names",
    "sample",
]
