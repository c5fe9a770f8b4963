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


def _on(values: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """A float64 tensor of host values, made on the host and moved to ``device``."""
    return torch.as_tensor(values, dtype=torch.float64, device="cpu").to(device)


def unit_nodes(nodes: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes ``t`` and weights ``dt`` (float64 ``[nodes]`` on ``device``) on ``[0, 1]``."""
    x, w = _legendre(nodes)
    return _on((x + 1) / 2, device), _on(w / 2, device)


def log_time_nodes(
    low: float, high: float, nodes: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes ``t`` and weights ``dt`` (float64 ``[nodes]`` on ``device``) on ``[low, high]``
    (``0 < low < high``), placed in ``u = log t`` (``dt = t du``)."""
    x, w = _legendre(nodes)
    a, b = math.log(low), math.log(high)
    t = _on(a + (x + 1) / 2 * (b - a), device).exp()
    return t, _on(w / 2 * (b - a), device) * t
