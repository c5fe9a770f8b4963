"""One rank of the two-process gloo test of ``test_distributed.py``: it sets the variables
``torchrun`` sets, then all-reduces, broadcasts, and takes the averaged gradient and one SGD step
of a tiny float64 linear model on this rank's half of a batch of 8 rows; writes ``rank<r>.json``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from unmask.train.trainer import DistributedContext, all_reduce_mean, average_gradients, broadcast_object


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """The global batch: 8 rows, the same on every rank."""
    generator = torch.Generator().manual_seed(1)
    return torch.randn(8, 3, generator=generator, dtype=torch.float64), torch.randn(
        8, 2, generator=generator, dtype=torch.float64
    )


def model() -> torch.nn.Module:
    """A linear layer plus a parameter that the loss does not use, initialised alike on every rank."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2).double()
    layer.unused = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    return layer


def worker(rank: int, out: Path, port: int) -> None:
    """Rank ``rank`` of 2 (the first argument, as ``torch.multiprocessing`` passes it)."""
    os.environ.update(
        {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank), "LOCAL_RANK": str(rank)}
    )
    os.environ["WORLD_SIZE"] = "2"
    torch.set_num_threads(1)
    ctx = DistributedContext.from_environment(device="cpu")
    ctx.init()
    try:
        mean = all_reduce_mean(torch.tensor([ctx.rank + 1.0, 10.0 * ctx.rank], dtype=torch.float64), ctx)
        config = broadcast_object({"run": "tiny", "steps": (1, 2)} if ctx.is_main else None, ctx)
        net = model()
        x, y = batch()
        rows = slice(4 * ctx.rank, 4 * (ctx.rank + 1))
        loss = ((net(x[rows]) - y[rows]) ** 2).mean()
        loss.backward()
        average_gradients(net, ctx, bucket_bytes=40)  # several buckets
        torch.optim.SGD(net.parameters(), lr=0.1).step()
        result = {
            "rank": ctx.rank,
            "world_size": ctx.world_size,
            "backend": ctx.backend,
            "mean": mean.tolist(),
            "config": config,
            "grads": {name: p.grad.tolist() for name, p in net.named_parameters()},
            "weights": {name: p.tolist() for name, p in net.named_parameters()},
        }
    finally:
        ctx.destroy()
    (out / f"rank{ctx.rank}.json").write_text(json.dumps(result))
