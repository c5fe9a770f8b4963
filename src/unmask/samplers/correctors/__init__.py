"""Correctors for the masked process and the predictor-corrector sampler (spec §2.6, §4.8), and
ReMDM remasking."""

from .base import Corrector
from .forward_backward import ForwardBackward
from .gibbs import UniformGibbs
from .informed import Informed
from .predictor_corrector import PredictorCorrector
from .remasking import ReMDM

__all__ = ["Corrector", "ForwardBackward", "Informed", "PredictorCorrector", "ReMDM", "UniformGibbs"]
