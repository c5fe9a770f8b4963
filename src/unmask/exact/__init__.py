"""Exact output laws of samplers, distances to the target, information profiles and path-KL."""

from .laws import LawResult, output_law, reference_law, run_law
from .metrics import entropy, kl, leakage, tv
from .path_kl import path_kl
from .profile import information_profile, subset_entropies

__all__ = [
    "LawResult",
    "entropy",
    "information_profile",
    "kl",
    "leakage",
    "output_law",
    "path_kl",
    "reference_law",
    "run_law",
    "subset_entropies",
    "tv",
]
