"""Rows split between the processes of a data-parallel job, and their results gathered back.

Every process of a ``torchrun`` job (:class:`unmask.train.trainer.DistributedContext`) takes a
contiguous block of the global rows ``0..N-1`` (:func:`rows_of`; the first ``N mod W`` ranks one
more row), computes them with their global ids, and :func:`gather_json` brings every process's
JSON-ready results to every process, in rank order: concatenated, they are the rows of one
process. Results travel as JSON bytes (never pickle), over the job's backend (gloo on the CPU,
NCCL on CUDA devices).
"""

from __future__ import annotations

import json
from typing import Any

import torch
import torch.distributed as dist

from ... import checks
from ..trainer import DistributedContext


def rows_of(total: int, rank: int, world_size: int) -> range:
    """The global rows of ``rank`` among ``world_size`` processes sharing ``total`` rows: a
    contiguous block, the first ``total mod world_size`` ranks taking one row more."""
    total = checks.positive_int("total", total, minimum=0)
    world_size = checks.positive_int("world_size", world_size)
    rank = checks.positive_int("rank", rank, minimum=0, maximum=world_size - 1)
    share, extra = divmod(total, world_size)
    start = rank * share + min(rank, extra)
    return range(start, start + share + (1 if rank < extra else 0))


def gather_json(obj: Any, ctx: DistributedContext) -> list[Any]:
    """Every rank's JSON-serialisable ``obj``, on every rank, in rank order (``[obj]`` round-tripped
    through JSON for a single process)."""
    checks.instance("ctx", ctx, DistributedContext, "a DistributedContext")
    try:
        payload = json.dumps(obj).encode()
    except (TypeError, ValueError) as error:
        raise TypeError(f"obj must be JSON-serialisable to be gathered: {error}") from None
    if not ctx.is_distributed:
        return [json.loads(payload)]
    size = torch.tensor([len(payload)], dtype=torch.int64, device=ctx.device)
    sizes = [torch.zeros_like(size) for _ in range(ctx.world_size)]
    dist.all_gather(sizes, size)
    longest = max(int(s.item()) for s in sizes)
    buffer = torch.zeros(longest, dtype=torch.uint8, device=ctx.device)
    if payload:
        buffer[: len(payload)] = torch.frombuffer(bytearray(payload), dtype=torch.uint8).to(ctx.device)
    buffers = [torch.empty_like(buffer) for _ in range(ctx.world_size)]
    dist.all_gather(buffers, buffer)
    return [
        json.loads(part[: int(n.item())].cpu().numpy().tobytes())
        for part, n in zip(buffers, sizes, strict=True)
    ]
