"""Buffers reused by the pieces of one per-position pass (:mod:`unmask.pieces`)."""

from __future__ import annotations

import torch


class Workspace:
    """Buffers reused by the pieces of one pass (on the CPU a new large buffer per piece costs its
    page faults again, often more than the arithmetic)."""

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def buffer(
        self, slot: str, count: int, size: int, dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        """An uninitialised ``[count, size]`` buffer: the slot's, grown when too small."""
        held = self._buffers.get(slot)
        if held is None or held.shape[0] < count or held.shape[1] != size or held.dtype != dtype:
            held = self._buffers[slot] = torch.empty(count, size, dtype=dtype, device=device)
        return held[:count]
