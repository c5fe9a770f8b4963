"""Gauss-Legendre quadrature for the time integrals of the likelihood estimators.

Integrands with a ``1/t`` factor near ``t = 0`` (the time-integral weights, the uniform process'
rates) become smooth in ``u = log t``, so :func:`log_time_nodes` places the nodes there.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch


@lru_cache(maxsize=16)
def _legendre(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(nodes)


def unit_nodes(nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes ``t`` and weights ``dt`` (float64 ``[nodes]``) on ``[0, 1]``."""
    x, w = _legendre(nodes)
    return torch.as_tensor((x + 1) / 2, dtype=torch.float64), torch.as_tensor(w / 2, dtype=torch.float64)


def log_time_nodes(low: float, high: float, nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes ``t`` and weights ``dt`` on ``[low, high]`` (``0 < low < high``), placed in ``u = log t``
    (``dt = t du``)."""
    x, w = _legendre(nodes)
    a, b = math.log(low), math.log(high)
    t = torch.as_tensor(a + (x + 1) / 2 * (b - a), dtype=torch.float64).exp()
    return t, torch.as_tensor(w / 2 * (b - a), dtype=torch.float64) * t
