"""Exact targets: small laws with exact log-probabilities, samples and conditionals (spec §5).

They are the ground truth for every test and benchmark: ``target.denoiser()`` is the exact
masked-process denoiser, ``target.uniform_denoiser(process)`` the exact uniform-process one.
"""

from .base import Target
from .copies import Copies
from .cyclic import CyclicHMM
from .hmm import HMM
from .markov import MarkovChain
from .table import Table

__all__ = ["HMM", "Copies", "CyclicHMM", "MarkovChain", "Table", "Target"]
