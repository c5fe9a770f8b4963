"""Helpers for the uniform-sampler tests: the sampler names and a chi-square goodness-of-fit test."""

from __future__ import annotations

from stats import CHI_SQUARE_LEVEL, chi_square_pvalue  # noqa: F401  (re-exported)

#: The four uniform-process samplers, by registry name.
UNIFORM_SAMPLERS = ("euler", "tau-leaping", "tweedie", "trapezoidal")
