"""The study's fixed settings: its targets, "today's" samplers, the exactness floor and the aims."""

from __future__ import annotations

from ...targets import MarkovChain

#: Dirichlet concentration of the chains' initial law and transition rows.
CONCENTRATION = 0.3
#: The samplers whose best TV is "today's" (labels of :func:`.candidate.candidates`).
TODAY = ("k-random", "trapezoidal")
#: TVs at or below this are exact (float64 rounding of a law that equals the target).
TV_FLOOR = 1e-10
#: The aims at :data:`AIM_CALLS` calls: today's best TV at least ``AIM_RATIO`` times the best
#: candidate's, and the best candidate within ``AIM_GAP`` (TV) of the limit on every target.
AIM_CALLS = 4
AIM_RATIO = 2.0
AIM_GAP = 0.05


def chain(vocab_size: int, length: int, seed: int) -> MarkovChain:
    """The target ``MarkovChain.random(V, L, concentration=0.3, seed)``: it depends on ``V`` and
    ``seed`` only, so one seed at several lengths is one chain cut at several lengths."""
    return MarkovChain.random(vocab_size, length, concentration=CONCENTRATION, seed=seed)
