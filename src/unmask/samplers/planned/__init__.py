"""Planners: samplers that choose which masked positions to reveal from the model's probabilities
(top-k by confidence, margin or entropy; confidence thresholds; the EB-Sampler; certified
sampling; low-confidence remasking; dilated and bisection orders for chain-like data). One tie
rule for all of them (:mod:`.plan`), so that their exact laws are defined."""

from .bisection import Bisection
from .blocks import SemiAutoregressive
from .certified import Certified
from .dilated import Dilated
from .entropy_bounded import EntropyBounded
from .plan import KEY_RESOLUTION, SCORES, Planner
from .remasking import LowConfidenceRemasking
from .threshold import FactorThreshold, Threshold
from .top_k import TopK

__all__ = [
    "Bisection",
    "KEY_RESOLUTION",
    "SCORES",
    "Certified",
    "Dilated",
    "EntropyBounded",
    "FactorThreshold",
    "LowConfidenceRemasking",
    "Planner",
    "SemiAutoregressive",
    "Threshold",
    "TopK",
]
