"""unmask: samplers, exact targets and likelihoods for masked and uniform discrete diffusion."""

from . import denoisers, exact, grids, likelihood, processes, samplers, schedules, targets
from .generate import generate
from .processes import MaskedProcess, UniformProcess
from .samplers import SampleResult, sample

__version__ = "0.1.0"

__all__ = [
    "MaskedProcess",
    "SampleResult",
    "UniformProcess",
    "__version__",
    "denoisers",
    "exact",
    "generate",
    "grids",
    "likelihood",
    "processes",
    "sample",
    "samplers",
    "schedules",
    "targets",
]
