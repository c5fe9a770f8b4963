"""Distances between a sampler's law and the target (spec §6.3).

All inputs are probability tables of the same shape (any shape; tensors, numpy arrays or nested
lists); sums run over every entry, and each table must sum to 1 (within ``1e-6``, or a few
rounding units per entry below float64).
"""

from __future__ import annotations

from typing import Any

import torch

from .. import checks

#: How far from 1 a float64 table may sum (output laws sum to 1 within ~1e-12).
SUM_TOLERANCE = 1e-6


def _values(name: str, value: Any) -> torch.Tensor:
    """``value`` as a float64 tensor (lists and arrays converted), or raise ``TypeError``."""
    if torch.is_tensor(value):
        return value
    try:
        tensor = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        tensor = None
    if tensor is None or not (tensor.is_floating_point() or tensor.dtype == torch.int64):
        raise TypeError(
            f"{name} must be a probability table (a tensor, array or list of numbers), "
            f"got {type(value).__name__}"
        )
    return tensor


def _table(name: str, value: Any) -> torch.Tensor:
    """A probability table as a flat float64 tensor, or raise naming ``name`` and its sum."""
    given = _values(name, value)
    table = given.detach().to(torch.float64).reshape(-1)
    total = float(table.sum())
    if abs(total - 1) > checks.sum_tolerance(given.dtype, table.numel(), SUM_TOLERANCE):
        raise ValueError(
            f"{name} must be a probability table that sums to 1, got a sum of {total:.6g}; "
            "divide counts by their total"
        )
    return table


def _pair(p: Any, q: Any, names: tuple[str, str] = ("p", "q")) -> tuple[torch.Tensor, torch.Tensor]:
    p, q = _values(names[0], p), _values(names[1], q)
    if p.shape != q.shape:
        raise ValueError(f"laws must have the same shape, got {tuple(p.shape)} and {tuple(q.shape)}")
    return _table(names[0], p), _table(names[1], q)


def tv(p: torch.Tensor, q: torch.Tensor) -> float:
    """Total variation ``(1/2) sum |p - q|``."""
    p, q = _pair(p, q)
    return float(0.5 * (p - q).abs().sum())


def kl(p: torch.Tensor, q: torch.Tensor) -> float:
    """``KL(p || q) = sum_{p > 0} p log(p / q)``; pass the target as ``p`` (KL(target || sampler)).

    Each term is ``-p log1p((q - p) / p)`` where ``p / 2 <= q <= 2 p`` (no cancellation when ``q``
    is close to ``p``) and ``p log(p / q)`` elsewhere (``(q - p) / p`` would lose the digits of
    ``q / p`` when ``q << p``); ``inf`` when ``q = 0`` somewhere ``p > 0``.
    """
    p, q = _pair(p, q)
    support = p > 0
    if bool((q[support] <= 0).any()):
        return float("inf")
    ps, qs = p[support], q[support]
    near = (qs >= ps / 2) & (qs <= 2 * ps)
    terms = torch.where(near, -ps * torch.log1p((qs - ps) / ps), ps * torch.log(ps / qs))
    return float(terms.sum())


def leakage(law: torch.Tensor, target: torch.Tensor) -> float:
    """Mass that ``law`` puts outside the support of ``target``."""
    law, target = _pair(law, target, ("law", "target"))
    return float(law[target <= 0].sum())


def entropy(p: torch.Tensor) -> float:
    """Shannon entropy ``-sum p log p`` in nats."""
    p = _values("p", p).to(torch.float64).reshape(-1)
    p = p[p > 0]
    return float(-(p * p.log()).sum())
