"""Data-parallel training helpers over ``torch.distributed``, and the same calls as no-ops for one process.

:class:`DistributedContext` describes this process: ``rank``, ``world_size``, ``local_rank``, its
``device`` and the ``backend`` (``"nccl"`` on CUDA, ``"gloo"`` on the CPU). It is read from the
variables ``torchrun`` sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``); without them it is the single-process context (rank 0 of 1), whose
:meth:`~DistributedContext.init` starts nothing and whose collectives return at once.

Gradient averaging: :func:`average_gradients`, not ``DistributedDataParallel``. After
``loss.backward()`` (and after every micro-batch of gradient accumulation), one call all-reduces the
gradients, flattened into one bucket per dtype and device (split past ``bucket_bytes``), and
divides by the world size. Why not DDP: the model stays unwrapped, so parameter names, checkpoints,
the EMA and ``torch.compile`` see the same module in one process and in many; gradient
accumulation needs no ``no_sync``; and the rule is visible in one function. The price is that
communication does not overlap the backward pass, which matters little at the model sizes this
library trains. A trainer that needs the overlap can wrap the model in DDP instead (and unwrap
``.module`` for checkpoints); it must then not also call :func:`average_gradients`.

Equivalence with one process: when every rank holds an equal share ``B / W`` of the global batch
and its loss is the mean over its share (or any normaliser that is the same on every rank, such
as rows x length), the average of the ranks' gradients is the gradient of the mean loss over the
global batch, so the optimizer takes the same step as one process with the whole batch. A loss
divided by a count that differs between ranks (the number of masked tokens on this rank) is not:
divide by the global count (``all_reduce_mean`` of the count times ``W``) instead.

Parameters that require a gradient but got none on this rank (unused in its forward pass) take a
zero gradient before the reduction, so that every rank sends buckets of the same layout and ends
with the same gradients: the ranks' weights never drift apart. (A parameter unused on every rank
thus gets a zero gradient rather than None, and AdamW still decays it and applies its momentum;
set ``requires_grad=False`` on parameters that must not move.)
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from ... import checks

#: The most bytes :func:`average_gradients` flattens into one all-reduce by default.
BUCKET_BYTES = 256 * 2**20


def _environment_int(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"the environment variable {name}={text!r} must be an integer (torchrun sets it); unset it "
            "to run as one process"
        ) from None


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in a data-parallel job.

    Args:
        rank: this process's index in ``[0, world_size)``.
        world_size: the number of processes (1: a single process, no process group).
        local_rank: the index on this machine (the CUDA device of this process).
        device: where this process's model and batches live.
        backend: the ``torch.distributed`` backend, ``None`` for a single process.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None

    def __post_init__(self) -> None:
        world_size = checks.positive_int("world_size", self.world_size)
        rank = checks.positive_int("rank", self.rank, minimum=0)
        if rank >= world_size:
            raise ValueError(f"rank must lie in [0, world_size={world_size}), got {rank}")
        local_rank = checks.positive_int("local_rank", self.local_rank, minimum=0)
        object.__setattr__(self, "device", torch.device(self.device))
        if world_size > 1 and self.backend not in ("nccl", "gloo"):
            raise ValueError(f"backend must be 'nccl' or 'gloo' when world_size > 1, got {self.backend!r}")
        if world_size == 1 and self.backend is not None:
            raise ValueError(
                f"backend must be None for a single process (world_size 1), got {self.backend!r}"
            )
        object.__setattr__(self, "rank", rank)
        object.__setattr__(self, "world_size", world_size)
        object.__setattr__(self, "local_rank", local_rank)

    @classmethod
    def from_environment(
        cls, device: str | torch.device | None = None, environ: Mapping[str, str] | None = None
    ) -> DistributedContext:
        """The context ``torchrun`` describes in ``environ`` (``os.environ`` by default); the
        single-process context when ``WORLD_SIZE`` is unset or 1.

        ``device``: ``None`` picks ``cuda:LOCAL_RANK`` when CUDA is available, else the CPU; the
        backend follows the device (``"nccl"`` for CUDA, ``"gloo"`` otherwise)."""
        environ = os.environ if environ is None else environ
        world_size = _environment_int(environ, "WORLD_SIZE", 1)
        rank = _environment_int(environ, "RANK", 0)
        local_rank = _environment_int(environ, "LOCAL_RANK", 0)
        if device is None:
            device = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError):
            raise ValueError(
                f"device must name a torch device such as 'cpu' or 'cuda:0', got {device!r}"
            ) from None
        backend = None if world_size == 1 else ("nccl" if device.type == "cuda" else "gloo")
        return cls(rank=rank, world_size=world_size, local_rank=local_rank, device=device, backend=backend)

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the process that writes checkpoints, logs and figures."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1

    def init(self, timeout: datetime.timedelta | None = None) -> None:
        """Join the process group (``env://``: ``MASTER_ADDR`` and ``MASTER_PORT`` must be set) and,
        on CUDA, select this process's device. Nothing for a single process or when already joined."""
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if not self.is_distributed or dist.is_initialized():
            return
        missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
        if missing:
            raise ValueError(
                f"the environment variable(s) {', '.join(missing)} must be set for world_size "
                f"{self.world_size}; launch with torchrun, which sets them"
            )
        options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        dist.init_process_group(
            self.backend, init_method="env://", rank=self.rank, world_size=self.world_size, **options
        )

    def destroy(self) -> None:
        """Leave the process group (nothing for a single process or when not joined)."""
        if self.is_distributed and dist.is_initialized():
            dist.destroy_process_group()

    def barrier(self) -> None:
        """Wait until every rank gets here (nothing for a single process)."""
        if self.is_distributed:
            dist.barrier()


@contextlib.contextmanager
def distributed(
    device: str | torch.device | None = None, timeout: datetime.timedelta | None = None
) -> Iterator[DistributedContext]:
    """``with distributed() as ctx:`` the context from the environment, joined for the block and
    left after it (also on an exception); a single process joins nothing."""
    context = DistributedContext.from_environment(device)
    context.init(timeout)
    try:
        yield context
    finally:
        context.destroy()


def _check_context(ctx: Any) -> DistributedContext:
    return checks.instance("ctx", ctx, DistributedContext, "a DistributedContext")


def all_reduce_mean(tensor: torch.Tensor, ctx: DistributedContext) -> torch.Tensor:
    """The mean of ``tensor`` over the ranks, as a new tensor (``tensor`` is left as it is); a copy
    of it for a single process. ``tensor`` must be floating-point and on ``ctx.device``."""
    ctx = _check_context(ctx)
    if not torch.is_tensor(tensor) or not tensor.is_floating_point():
        raise TypeError(f"tensor must be a floating-point tensor, got {tensor!r:.80}")
    result = tensor.detach().clone()
    if ctx.is_distributed:
        dist.all_reduce(result, op=dist.ReduceOp.SUM)
        result.div_(ctx.world_size)
    return result


def broadcast_object(obj: Any, ctx: DistributedContext, src: int = 0) -> Any:
    """The JSON-serialisable ``obj`` of rank ``src``, on every rank (other ranks' ``obj`` is
    ignored): a config, a run name, a resume step. It travels as JSON bytes, never as pickle, so
    every rank (``src`` included, and a single process) gets the JSON round trip of ``obj``
    (tuples become lists)."""
    ctx = _check_context(ctx)
    src = checks.positive_int("src", src, minimum=0, maximum=ctx.world_size - 1)
    payload = b""
    if ctx.rank == src:
        try:
            payload = json.dumps(obj).encode()
        except (TypeError, ValueError) as error:
            raise TypeError(f"obj must be JSON-serialisable to be broadcast: {error}") from None
    if not ctx.is_distributed:
        return json.loads(payload)
    size = torch.tensor([len(payload)], dtype=torch.int64, device=ctx.device)
    dist.broadcast(size, src)
    buffer = torch.empty(int(size.item()), dtype=torch.uint8, device=ctx.device)
    if ctx.rank == src:
        buffer.copy_(torch.frombuffer(bytearray(payload), dtype=torch.uint8))
    dist.broadcast(buffer, src)
    return json.loads(buffer.cpu().numpy().tobytes())


def _buckets(grads: list[torch.Tensor], bucket_bytes: int) -> list[list[torch.Tensor]]:
    """``grads`` grouped by (device, dtype), in order, each group cut where it passes ``bucket_bytes``."""
    groups: dict[tuple[torch.device, torch.dtype], list[list[torch.Tensor]]] = {}
    sizes: dict[tuple[torch.device, torch.dtype], int] = {}
    for grad in grads:
        key = (grad.device, grad.dtype)
        nbytes = grad.numel() * grad.element_size()
        if key not in groups or sizes[key] + nbytes > bucket_bytes:
            groups.setdefault(key, []).append([])
            sizes[key] = 0
        groups[key][-1].append(grad)
        sizes[key] += nbytes
    return [bucket for buckets in groups.values() for bucket in buckets if bucket]


def average_gradients(
    parameters: torch.nn.Module | Iterable[torch.nn.Parameter],
    ctx: DistributedContext,
    bucket_bytes: int = BUCKET_BYTES,
) -> None:
    """Replace the gradient of every parameter that requires one by its mean over the ranks (see
    the module notes for the equivalence with one process); nothing for a single process.

    ``parameters``: a model or its parameters. ``bucket_bytes``: the most bytes flattened into one
    all-reduce (a larger gradient gets a bucket of its own). A parameter without a gradient gets a
    zero one first, so that every rank's buckets match. Sparse gradients are refused."""
    ctx = _check_context(ctx)
    bucket_bytes = checks.positive_int("bucket_bytes", bucket_bytes)
    if isinstance(parameters, torch.nn.Module):
        parameters = parameters.parameters()
    params = [p for p in parameters if p.requires_grad]
    for p in params:
        if p.grad is not None and p.grad.is_sparse:
            raise ValueError("average_gradients does not take sparse gradients; use dense embeddings")
    if not ctx.is_distributed:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    for bucket in _buckets([p.grad for p in params], bucket_bytes):
        flat = torch.cat([g.reshape(-1) for g in bucket])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat.div_(ctx.world_size)
        pieces = flat.split([g.numel() for g in bucket])
        torch._foreach_copy_(bucket, [piece.view_as(g) for piece, g in zip(pieces, bucket, strict=True)])
