"""Splitting a global batch between ranks, and iterating a fixed validation set in sharded batches.

Convention: the global batch has ``B`` rows and ``W = world_size`` ranks; ``B`` must be divisible
by ``W`` and rank ``r`` keeps the contiguous rows ``r * B / W .. (r + 1) * B / W - 1``. The rows of
all ranks, concatenated in rank order, are the ``world_size = 1`` batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ... import checks


def check_shard(batch_size: int, rank: int, world_size: int) -> slice:
    """Validate ``(batch_size, rank, world_size)`` and return the rows of ``rank`` as a slice.

    Raises ``ValueError`` unless ``batch_size >= 1``, ``world_size >= 1``, ``0 <= rank <
    world_size`` and ``batch_size`` is a multiple of ``world_size``.
    """
    batch_size = checks.positive_int("batch_size", batch_size)
    world_size = checks.positive_int("world_size", world_size)
    rank = checks.positive_int("rank", rank, minimum=0)
    if rank >= world_size:
        raise ValueError(
            f"rank must lie in 0..world_size-1 = 0..{world_size - 1}, got rank={rank}; "
            "each process passes its own rank"
        )
    if batch_size % world_size:
        raise ValueError(
            f"batch_size must be divisible by world_size: got batch_size={batch_size} and "
            f"world_size={world_size}; choose a global batch size that is a multiple of "
            f"{world_size} (for instance {batch_size - batch_size % world_size or world_size})"
        )
    per_rank = batch_size // world_size
    return slice(rank * per_rank, (rank + 1) * per_rank)


def shard_rows(batch: torch.Tensor, rank: int = 0, world_size: int = 1) -> torch.Tensor:
    """The rows of ``rank`` in the global ``batch [B, ...]``: ``batch[r * B / W : (r + 1) * B / W]``,
    shape ``[B / W, ...]`` (a view).

    Raises ``ValueError`` when ``B`` is not divisible by ``world_size`` or ``rank`` is out of range.
    """
    if not torch.is_tensor(batch):
        raise TypeError(f"batch must be a tensor [B, ...], got {type(batch).__name__}")
    if batch.dim() == 0:
        raise ValueError("batch must have a leading batch dimension [B, ...], got a 0-d tensor")
    return batch[check_shard(batch.shape[0], rank, world_size)]


def validation_batches(
    rows: torch.Tensor, batch_size: int, rank: int = 0, world_size: int = 1
) -> Iterator[torch.Tensor]:
    """The fixed validation ``rows [N, L]`` in global batches of ``batch_size`` rows, each sharded
    by :func:`shard_rows`: yields ``N // batch_size`` tensors ``[batch_size / W, L]``.

    Only whole global batches are used (the last ``N mod batch_size`` rows are left out), so every
    ``world_size`` sees the same rows. Raises ``ValueError`` when ``N < batch_size``.
    """
    check_shard(batch_size, rank, world_size)
    if rows.shape[0] < batch_size:
        raise ValueError(
            f"batch_size must be at most the number of validation sequences ({rows.shape[0]}), "
            f"got {batch_size}; use a smaller validation batch size or a larger validation set"
        )
    return _batches(rows, batch_size, rank, world_size)


def _batches(rows: torch.Tensor, batch_size: int, rank: int, world_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, rows.shape[0] - batch_size + 1, batch_size):
        yield shard_rows(rows[start : start + batch_size], rank, world_size)
