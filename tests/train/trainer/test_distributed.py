"""Data-parallel helpers: two gloo processes on the CPU against one process with the whole batch."""

from __future__ import annotations

import json
import socket
import time

import pytest
import torch

from unmask.train.trainer import DistributedContext, all_reduce_mean, average_gradients, broadcast_object

from .distributed_worker import batch, model, worker


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _single_process_step() -> tuple[dict, dict]:
    """Gradients and weights after one SGD step of one process on the whole batch of 8 rows."""
    net = model()
    x, y = batch()
    ((net(x) - y) ** 2).mean().backward()
    grads = {name: p.grad.clone() if p.grad is not None else None for name, p in net.named_parameters()}
    torch.optim.SGD(net.parameters(), lr=0.1).step()
    return grads, {name: p.detach() for name, p in net.named_parameters()}


def test_two_gloo_ranks_match_one_process(tmp_path):
    """Two ranks launched like torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT):
    all_reduce_mean gives the mean over ranks, broadcast_object gives rank 0's object (as JSON), and
    the averaged gradients of two half-batch mean losses equal the full-batch gradient, so one SGD
    step gives the same weights on both ranks as one process (a parameter unused by the loss gets a
    zero gradient on both ranks)."""
    # fork: the children start with torch already imported (a fresh interpreter takes seconds).
    context = torch.multiprocessing.start_processes(
        worker, args=(tmp_path, _free_port()), nprocs=2, join=False, start_method="fork"
    )
    deadline = time.monotonic() + 60
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the gloo workers did not finish within 60 s")
    grads, weights = _single_process_step()
    x, y = batch()
    half = model()
    ((half(x[:4]) - y[:4]) ** 2).mean().backward()
    assert not torch.allclose(half.weight.grad, grads["weight"])  # one half alone is not the batch
    for rank in range(2):
        result = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert (result["rank"], result["world_size"], result["backend"]) == (rank, 2, "gloo")
        assert result["mean"] == [1.5, 5.0]
        assert result["config"] == {"run": "tiny", "steps": [1, 2]}
        for name in ("weight", "bias"):
            torch.testing.assert_close(torch.tensor(result["grads"][name], dtype=torch.float64), grads[name])
            torch.testing.assert_close(
                torch.tensor(result["weights"][name], dtype=torch.float64), weights[name]
            )
        assert result["grads"]["unused"] == [0.0, 0.0]


def test_single_process_context_is_a_no_op():
    """Without torchrun's variables the context is rank 0 of 1 with no backend: init joins nothing,
    the collectives return their input (a copy), and gradients are left as they are."""
    ctx = DistributedContext.from_environment(device="cpu", environ={})
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.is_distributed, ctx.backend) == (
        0,
        1,
        True,
        False,
        None,
    )
    ctx.init()
    assert not torch.distributed.is_initialized()
    value = torch.tensor([2.0, 3.0])
    mean = all_reduce_mean(value, ctx)
    assert torch.equal(mean, value) and mean is not value
    assert broadcast_object({"a": (1, 2)}, ctx) == {"a": [1, 2]}
    net = model()
    net(torch.ones(1, 3, dtype=torch.float64)).sum().backward()
    before = net.weight.grad.clone()
    average_gradients(net, ctx)
    assert torch.equal(net.weight.grad, before) and net.unused.grad is None
    ctx.destroy()


def test_context_from_environment_and_validation():
    """torchrun's variables give the rank, size and backend; bad values are named."""
    ctx = DistributedContext.from_environment(
        device="cpu", environ={"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}
    )
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.backend, ctx.is_main) == (3, 4, 1, "gloo", False)
    with pytest.raises(ValueError, match="WORLD_SIZE='two' must be an integer"):
        DistributedContext.from_environment(environ={"WORLD_SIZE": "two"})
    with pytest.raises(ValueError, match=r"rank must lie in \[0, world_size=2\), got 2"):
        DistributedContext(rank=2, world_size=2, backend="gloo")
    with pytest.raises(TypeError, match="tensor must be a floating-point tensor"):
        all_reduce_mean(torch.tensor([1, 2]), DistributedContext())
    with pytest.raises(TypeError, match="obj must be JSON-serialisable"):
        broadcast_object(object(), DistributedContext())
