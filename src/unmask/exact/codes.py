"""States as integer codes: one int64 per row of ids, its digits in a base (the ids a position can
hold), first position most significant. The exact-law dynamic program merges, deduplicates and
looks up states through these codes."""

from __future__ import annotations

import torch

#: The largest dense table of state codes used to merge or deduplicate states.
MAX_DENSE_CODES = 1 << 24


def state_codes(z: torch.Tensor, base: int) -> torch.Tensor:
    """One int64 code per row of ``z [n, L]`` (digits in ``base``, first position most significant)."""
    powers = base ** torch.arange(z.shape[1] - 1, -1, -1, dtype=torch.int64, device=z.device)
    return (z * powers).sum(-1)


def code_digits(codes: torch.Tensor, base: int, length: int) -> torch.Tensor:
    """Inverse of :func:`state_codes`: rows ``[n, L]`` from codes ``[n]``."""
    powers = base ** torch.arange(length - 1, -1, -1, dtype=torch.int64, device=codes.device)
    return torch.div(codes.unsqueeze(-1), powers, rounding_mode="floor") % base


def unique_rows(codes: torch.Tensor, size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(index of one row per distinct code, inverse)`` for integer ``codes [n]`` (codes below
    ``size`` use a dense table, others a sort)."""
    if size is not None and size <= MAX_DENSE_CODES:
        present = torch.zeros(size, dtype=torch.bool, device=codes.device)
        present[codes] = True
        distinct = present.nonzero().squeeze(-1)
        lookup = torch.empty(size, dtype=torch.long, device=codes.device)
        lookup[distinct] = torch.arange(len(distinct), device=codes.device)
        inverse = lookup[codes]
    else:
        _, inverse = torch.unique(codes, return_inverse=True)
    count = int(inverse.max()) + 1 if len(inverse) else 0
    first = torch.zeros(count, dtype=torch.long, device=codes.device)
    first.scatter_(0, inverse, torch.arange(len(codes), device=codes.device))
    return first, inverse
