"""Distances between a sampler's law and the target (spec §6.3).

All inputs are probability tables of the same shape (any shape); sums run over every entry.
"""

from __future__ import annotations

import torch


def _pair(p: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if p.shape != q.shape:
        raise ValueError(f"laws must have the same shape, got {tuple(p.shape)} and {tuple(q.shape)}")
    return p.to(torch.float64).reshape(-1), q.to(torch.float64).reshape(-1)


def tv(p: torch.Tensor, q: torch.Tensor) -> float:
    """Total variation ``(1/2) sum |p - q|``."""
    p, q = _pair(p, q)
    return float(0.5 * (p - q).abs().sum())


def kl(p: torch.Tensor, q: torch.Tensor) -> float:
    """``KL(p || q) = sum_{p > 0} p log(p / q)``; pass the target as ``p`` (KL(target || sampler)).

    Computed as ``-sum p log1p((q - p) / p)`` to avoid cancellation when ``q`` is close to ``p``;
    ``inf`` when ``q = 0`` somewhere ``p > 0``.
    """
    p, q = _pair(p, q)
    support = p > 0
    if bool((q[support] <= 0).any()):
        return float("inf")
    ps, qs = p[support], q[support]
    return float(-(ps * torch.log1p((qs - ps) / ps)).sum())


def leakage(law: torch.Tensor, target: torch.Tensor) -> float:
    """Mass that ``law`` puts outside the support of ``target``."""
    law, target = _pair(law, target)
    return float(law[target <= 0].sum())


def entropy(p: torch.Tensor) -> float:
    """Shannon entropy ``-sum p log p`` in nats."""
    p = p.to(torch.float64).reshape(-1)
    p = p[p > 0]
    return float(-(p * p.log()).sum())
