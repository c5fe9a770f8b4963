"""Helpers for the masked-sampler tests: sampler configurations, processes, a chi-square test and
log-log slopes."""

from __future__ import annotations

import math

import torch

from stats import CHI_SQUARE_LEVEL, chi_square_pvalue  # noqa: F401  (re-exported)
from unmask import MaskedProcess
from unmask.samplers import Sampler, get
from unmask.schedules import CosineSchedule

#: Every masked sampler configuration under test: id -> (sampler object, steps or None).
#: Grid samplers use ``steps``; k-random gets its sizes from ``k``, ``sizes`` or ``steps``.
MASKED_CONFIGS: dict[str, tuple[Sampler, int | None]] = {
    "euler": (get("euler"), 4),
    "tau-leaping": (get("tau-leaping"), 4),
    "tweedie": (get("tweedie"), 4),
    "first-hitting": (get("first-hitting"), None),
    "k-random-k2": (get("k-random", k=2), None),
    "k-random-sizes": (get("k-random", sizes=(1, 2, 1)), None),
    "k-random-steps": (get("k-random"), 3),
    "trapezoidal": (get("trapezoidal"), 4),
    "rk2": (get("rk2"), 4),
}


def processes() -> dict[str, MaskedProcess]:
    """The masked processes under test: linear (the default) and cosine schedules, both with
    ``alpha(1) = 0`` (no prior mismatch)."""
    return {"linear": MaskedProcess(), "cosine": MaskedProcess(CosineSchedule())}


def flat_index(x: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Row-major cell of each sequence ``x [n, L]`` in a table ``[V] * L``."""
    powers = vocab_size ** torch.arange(x.shape[-1] - 1, -1, -1)
    return (x * powers).sum(-1)


def fitted_slope(steps: list[int], errors: list[float]) -> float:
    """Least-squares slope of ``log(error)`` against ``log(steps)``."""
    x = torch.tensor([math.log(n) for n in steps], dtype=torch.float64)
    y = torch.tensor([math.log(e) for e in errors], dtype=torch.float64)
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


def local_slopes(steps: list[int], errors: list[float]) -> list[float]:
    """``log(e_{j+1} / e_j) / log(N_{j+1} / N_j)`` between consecutive step counts."""
    return [
        math.log(errors[j + 1] / errors[j]) / math.log(steps[j + 1] / steps[j]) for j in range(len(steps) - 1)
    ]
