"""What ``unmask sample``, ``likelihood`` and ``bench`` share when they read a trained checkpoint
(``--checkpoint PATH``): the option's help, the device, the data-parallel job, loading with
one-line errors, and progress and messages from the main process only.

Data parallel: under ``torchrun`` (``WORLD_SIZE`` > 1) every process loads the model, computes its
block of the global rows (:func:`unmask.train.evaluation.sharding.rows_of`) with their global ids,
and rank 0 gathers the results and writes the output, which is the same as one process writes.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..train.evaluation.trained import TrainedModel, open_trained
from ..train.trainer import DistributedContext
from .errors import fail

CHECKPOINT_HELP = (
    "A trained checkpoint: a checkpoint folder, or a run folder (its latest checkpoint). "
    "Uses the model's EMA weights when the run kept them."
)
DEVICE_HELP = (
    "Device of the model with --checkpoint: cpu, cuda or cuda:N (default: cuda when available, "
    "else cpu; under torchrun each process takes cuda:LOCAL_RANK)."
)


def parse_device(text: str | None, ctx: DistributedContext | None = None) -> torch.device:
    """The device ``--device`` names (``None``: the job's default); a one-line ``--device`` error
    for a malformed name or a CUDA device this machine does not have. Under torchrun a bare
    ``cuda`` means this process's ``cuda:LOCAL_RANK``."""
    if text is None:
        return (ctx or DistributedContext.from_environment()).device
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise fail(
            "--device", f"must name a torch device such as cpu, cuda or cuda:0, got {text!r}"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise fail(
                "--device", f"{text!r} asks for CUDA, which this machine does not have; use --device cpu"
            )
        if device.index is None and ctx is not None and ctx.is_distributed:
            device = torch.device("cuda", ctx.local_rank)
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise fail(
                "--device", f"{text!r}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
            )
    elif device.type not in ("cpu", "mps", "xpu"):
        raise fail("--device", f"{text!r} is not a device unmask runs on; use cpu or cuda")
    return device


def job_context(device_text: str | None) -> DistributedContext:
    """This process's place in the job (``torchrun``'s variables; one process without them), on the
    device ``--device`` names; bad variables are a one-line error."""
    try:
        environment = DistributedContext.from_environment(device="cpu")
    except ValueError as error:
        raise fail("torchrun environment", str(error)) from None
    device = parse_device(device_text, environment) if device_text is not None else None
    try:
        return DistributedContext.from_environment(device=device)
    except ValueError as error:
        raise fail("--device", str(error)) from None


def open_checkpoint(path: Path, device: torch.device) -> TrainedModel:
    """The model of ``--checkpoint``; a missing, corrupt, truncated or foreign checkpoint is a
    one-line ``--checkpoint`` error (exit 2), not a traceback."""
    try:
        return open_trained(path, device=device)
    except (ValueError, TypeError, OSError) as error:
        raise fail("--checkpoint", str(error)) from None


def refuse_with_checkpoint(given: dict[str, bool]) -> None:
    """A one-line error for the first option in ``given`` (name -> whether it was given) that does
    not apply with ``--checkpoint``."""
    for option, was_given in given.items():
        if was_given:
            raise fail(option, "does not apply with --checkpoint (the checkpoint's model and data decide it)")


@contextlib.contextmanager
def joined(ctx: DistributedContext) -> Iterator[DistributedContext]:
    """``ctx`` joined to its process group for the block (nothing for one process)."""
    ctx.init()
    try:
        yield ctx
    finally:
        ctx.destroy()


def say(ctx: DistributedContext, text: str) -> None:
    """Print ``text`` on standard error from the main process only."""
    if ctx.is_main:
        print(text, file=sys.stderr)


def progress_bar(label: str, ctx: DistributedContext, enabled: bool = True) -> Progress:
    """A transient progress bar on standard error, shown by the main process only."""
    return Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=Console(stderr=True),
        disable=not (enabled and ctx.is_main), transient=True,
    )  # fmt: skip
