"""``unmask.sample``: the one driver that runs every sampler.

It owns what all samplers share: argument checks, the device, the start state, prompts, padding
and conditioning, the time grid, the denoiser calls and their count, reuse of unchanged rows for
time-agnostic denoisers, the random streams, the final step, the path log-probability, progress
callbacks and the result record. The loop itself is :func:`unmask.samplers.loop.run_steps`,
shared with the exact-law runner.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from .. import checks
from ..denoisers import Denoiser, check_accepts, check_vocabulary, is_time_agnostic
from ..grids import check_steps, make_grid
from ..pieces import dense_for
from ..processes import MaskedProcess, Process
from ..progress import AUTO_DELAY, StepProgress
from ..streams import RowStreams, seed_from
from . import registry
from .base import Sampler
from .drawing import DrawingContext
from .loop import Stop, run_steps
from .model_calls import ModelCalls, ModelOutput

Callback = Callable[[int, int | None, torch.Tensor], None]

#: The most token ids ``return_trajectory=True`` may keep (2 GiB of int64).
MAX_TRAJECTORY_ENTRIES = 2**28


@dataclass(frozen=True)
class SampleResult:
    """What :func:`sample` returns.

    Attributes:
        tokens: LongTensor ``[B, L]`` of clean tokens (no mask id left at a free position).
        nfe: number of batched denoiser calls made (one batched call counts once).
        nfe_per_row: LongTensor ``[B]``, the calls each row took part in.
        steps: number of sampler steps taken.
        grid: float64 ``[N + 1]`` time grid for grid samplers, else None.
        trajectory: LongTensor ``[steps + 1, B, L]`` of states when asked for, else None.
        diagnostics: per-sampler diagnostics averaged over rows (e.g. ``clipped_mass``).
        row_diagnostics: the same diagnostics per row, float64 ``[B]`` each (e.g. ``kl_bound``, the
            bound a certified or entropy-bounded sampler accumulated on each row's path).
        sampler: the resolved sampler object.
        log_prob: float64 ``[B]``, the log-probability of each row's drawn path under the
            sampler's kernel (every decision, value and subset drawn); with
            ``differentiable=True`` it carries gradients to the model's outputs and the grid.
        records: with ``record=True``, every denoiser call's outputs, in order; else None.
    """

    tokens: torch.Tensor
    nfe: int
    nfe_per_row: torch.Tensor
    steps: int
    grid: torch.Tensor | None
    trajectory: torch.Tensor | None
    diagnostics: dict[str, float]
    sampler: Sampler
    log_prob: torch.Tensor
    records: list[ModelOutput] | None = None
    row_diagnostics: dict[str, torch.Tensor] = field(default_factory=dict)


def resolve_sampler(sampler: str | Sampler, process: Process, steps: int | None, length: int) -> Sampler:
    """A sampler object for ``process`` from a name or an object, configured for ``steps``."""
    if isinstance(sampler, str):
        sampler = registry.get(sampler, process.name)
    elif not isinstance(sampler, Sampler):
        raise TypeError(
            f"sampler must be a name ({', '.join(registry.names(process.name))}) or a Sampler object, "
            f"got {type(sampler).__name__}"
        )
    if not isinstance(process, sampler.process_type):
        wanted = sampler.process_type
        raise ValueError(
            f"sampler {sampler.name!r} is for the {wanted.name} process, but the process is {process.name}; "
            f"pass process={wanted.__name__}(...) or another sampler"
        )
    if steps is not None:
        check_steps(steps)
        if not sampler.takes_steps:
            raise ValueError(
                f"{sampler.name} takes no steps (it sets its own number of calls), got steps={steps}; "
                "pass steps=None, or use k-random for a fixed number of calls"
            )
    return sampler.resolve(steps, length)


def check_process(process: Process | None) -> Process:
    """The default masked process, or ``process`` after a type check."""
    if process is None:
        return MaskedProcess()
    if not isinstance(process, Process):
        raise TypeError(
            f"process must be a MaskedProcess or a UniformProcess, got {type(process).__name__} "
            "(any unmask.processes.Process works)"
        )
    return process


def check_trajectory_size(steps: int, batch: int, length: int) -> None:
    """Raise before sampling if ``return_trajectory`` would keep more than
    :data:`MAX_TRAJECTORY_ENTRIES` token ids (``steps + 2`` states of ``[B, L]`` at most)."""
    entries = (steps + 2) * batch * length
    if entries > MAX_TRAJECTORY_ENTRIES:
        raise ValueError(
            f"return_trajectory=True would keep up to {steps + 2:,} states of [B, L] = [{batch}, {length}]: "
            f"{entries:,} token ids ({entries * 8 / 2**30:.1f} GiB), more than the limit of 2**28 "
            f"({MAX_TRAJECTORY_ENTRIES * 8 / 2**30:.0f} GiB); use fewer steps or a smaller batch, or "
            "keep what you need from callback=(step, total, z)"
        )


def check_final_denoise(final_denoise: bool | None, process: Process) -> bool:
    """``final_denoise`` as a bool: None means True; False warns on a process that always reveals
    every position at the end (the masked process), where it would be ignored."""
    if final_denoise is None:
        return True
    if not isinstance(final_denoise, bool):
        raise TypeError(f"final_denoise must be True, False or None, got {final_denoise!r}")
    if not final_denoise and not process.optional_final_denoise:
        warnings.warn(
            f"final_denoise=False is ignored by the {process.name} process: sampling always ends with "
            "every free position revealed (final_denoise applies to the uniform process); drop it",
            stacklevel=3,
        )
    return final_denoise


def warn_prior_mismatch(process: Process, start_time: float) -> None:
    """Warn when the process says its start state at ``start_time`` is not exact."""
    message = process.prior_mismatch(start_time)
    if message is not None:
        warnings.warn(message, stacklevel=3)


def resolve_device(prompt: torch.Tensor | None, device: torch.device | str | None) -> torch.device:
    """The device of the run: the prompt's, or ``device`` (which must agree with it), or the CPU."""
    if device is not None:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError) as error:
            raise ValueError(
                f"device must name a torch device ('cpu', 'cuda', 'cuda:1'), got {device!r}"
            ) from error
    if prompt is not None and torch.is_tensor(prompt):
        if (
            device is not None
            and prompt.device != device
            and not (device.index is None and prompt.device.type == device.type)
        ):
            raise ValueError(
                f"the prompt is on {prompt.device} but device={device}; move the prompt there or drop device="
            )
        return prompt.device
    return device if device is not None else torch.device("cpu")


def start_tokens(
    prompt: torch.Tensor | None,
    batch_size: int | None,
    length: int | None,
    vocab_size: int,
    device: torch.device,
) -> torch.Tensor:
    """The start pattern ``[B, L]``: given tokens where the prompt has them, ``V`` (free) elsewhere."""
    if prompt is None:
        if batch_size is None or length is None:
            raise ValueError("give batch_size and length, or a prompt of shape [B, L]")
        batch_size = checks.positive_int("batch_size", batch_size)
        length = checks.positive_int("length", length)
        return torch.full((batch_size, length), vocab_size, dtype=torch.long, device=device)
    prompt = checks.token_tensor("prompt", prompt, vocab_size=vocab_size, allow_mask=True)
    for name, value, size in (
        ("batch_size", batch_size, prompt.shape[0]),
        ("length", length, prompt.shape[1]),
    ):
        if value is not None and value != size:
            raise ValueError(f"{name}={value} disagrees with the prompt of shape {tuple(prompt.shape)}")
    if prompt.shape[0] < 1 or prompt.shape[1] < 1:
        raise ValueError(
            f"prompt must have at least one row and one position, got shape {tuple(prompt.shape)}"
        )
    return prompt.clone()


def check_attention_mask(mask, shape: torch.Size, device: torch.device) -> torch.Tensor:
    """The positions that exist, bool ``[B, L]`` (all of them by default)."""
    if mask is None:
        return torch.ones(shape, dtype=torch.bool, device=device)
    if not torch.is_tensor(mask) or mask.dtype != torch.bool:
        got = mask.dtype if torch.is_tensor(mask) else type(mask).__name__
        raise TypeError(
            f"attention_mask must be a bool tensor [B, L] (True where a position exists), got {got}"
        )
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(
            f"attention_mask must have shape {tuple(shape)} (the prompt's), got {tuple(mask.shape)}"
        )
    if mask.device != device:
        raise ValueError(f"attention_mask is on {mask.device}, but the run is on {device}; move it there")
    if not bool(mask.any(-1).all()):
        row = int((~mask.any(-1)).nonzero()[0])
        raise ValueError(f"attention_mask marks no position in row {row}; every row needs one")
    return mask


def check_cond(cond, batch: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Row-aligned conditioning tensors: a mapping of names to tensors ``[B, ...]`` on ``device``."""
    if cond is None:
        return {}
    if not isinstance(cond, Mapping):
        raise TypeError(f"cond must be a mapping of names to tensors [B, ...], got {type(cond).__name__}")
    for name, value in cond.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"cond names must be valid keyword names, got {name!r}")
        if not torch.is_tensor(value) or value.dim() == 0 or value.shape[0] != batch:
            shape = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
            raise ValueError(
                f"cond[{name!r}] must be a tensor whose leading dimension is the batch size {batch}, "
                f"got {shape}"
            )
        if value.device != device:
            raise ValueError(
                f"cond[{name!r}] is on {value.device}, but the run is on {device}; move it there"
            )
    return dict(cond)


def check_row_ids(row_ids, batch: int, device: torch.device) -> torch.Tensor:
    """The rows' global ids ``[B]`` in the random streams (``0..B-1`` by default)."""
    if row_ids is None:
        return torch.arange(batch, device=device)
    if not torch.is_tensor(row_ids) or row_ids.dtype not in (torch.int64, torch.int32):
        got = row_ids.dtype if torch.is_tensor(row_ids) else type(row_ids).__name__
        raise TypeError(f"row_ids must be an integer tensor [B] of global row ids, got {got}")
    if tuple(row_ids.shape) != (batch,):
        raise ValueError(f"row_ids must have shape [B] = [{batch}], got shape {tuple(row_ids.shape)}")
    if row_ids.device != device:
        raise ValueError(f"row_ids is on {row_ids.device}, but the run is on {device}; move it there")
    if row_ids.numel() and int(row_ids.min()) < 0:
        raise ValueError(f"row_ids must be non-negative, got {int(row_ids.min())}")
    return row_ids.long()


def position_elements(exists: torch.Tensor) -> torch.Tensor:
    """Each position's name in the random streams ``[B, L]``: its rank among the row's existing
    positions (padding gets ranks after them), so that a padded row draws what it would alone."""
    length = exists.shape[-1]
    rank = exists.long().cumsum(-1) - 1
    padding = (~exists).long().cumsum(-1) - 1 + length
    return torch.where(exists, rank, padding)


def sample(
    denoiser: Denoiser,
    sampler: str | Sampler = "first-hitting",
    *,
    vocab_size: int,
    length: int | None = None,
    batch_size: int | None = None,
    steps: int | None = None,
    process: Process | None = None,
    grid: str | torch.Tensor | Sequence[float] = "uniform",
    prompt: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    cond: Mapping[str, torch.Tensor] | None = None,
    device: torch.device | str | None = None,
    generator: torch.Generator | int | None = None,
    row_ids: torch.Tensor | None = None,
    draw_dtype: torch.dtype = torch.float64,
    return_trajectory: bool = False,
    final_denoise: bool | None = None,
    differentiable: bool = False,
    record: bool = False,
    callback: Callback | None = None,
    show_progress: bool | None = None,
    stop: Stop | None = None,
) -> SampleResult:
    """Draw ``batch_size`` sequences of ``length`` tokens from a denoiser with a sampler.

    Args:
        denoiser: ``f(x_t [B, L], t [B], **cond) -> logits [B, L, V]`` (:mod:`unmask.denoisers`).
        sampler: a registered name (``unmask.samplers.names()``) or a sampler object.
        vocab_size: ``V``, the number of clean tokens; the mask id is ``V``.
        length, batch_size: the output shape ``[B, L]`` (implied by ``prompt`` when given).
        steps: grid steps for grid samplers; blocks for ``k-random``; None for ``first-hitting``.
        process: ``MaskedProcess(schedule)`` (default, linear schedule) or ``UniformProcess``.
        grid: ``"uniform"`` (in t), ``"uniform-alpha"``, or explicit decreasing times (a tensor
            that requires grad keeps it: ``log_prob`` then has a gradient in the times).
        prompt: LongTensor ``[B, L]``; ids ``0..V-1`` are fixed and never change, ``V`` marks a
            free position (infilling patterns and prompts alike).
        attention_mask: bool ``[B, L]``, True where a position exists; the others (padding) are
            never changed, never count as masked, and reach the denoiser as
            ``cond["attention_mask"]``. A padded row gives the tokens it gives alone.
        cond: row-aligned tensors ``[B, ...]`` passed to every denoiser call as keyword arguments,
            subset to the rows of the call.
        device: where the run happens (default: the prompt's device, else the CPU); every tensor
            is created there and the denoiser is called there.
        generator: a ``torch.Generator`` or an int seed; row ``b`` gets the same tokens for the
            same seed whatever the batch size, the padding and the device.
        row_ids: LongTensor ``[B]``: the rows' global ids in the random streams (default
            ``0..B-1``); a row draws what it draws with that id in any batch (sharding a batch
            across processes, or one prompt alone).
        draw_dtype: dtype of the uniforms and probabilities used for draws (float64 by default;
            float32 reproduces the precision loss of spec §9.1 and is for comparisons only).
        return_trajectory: keep every intermediate state.
        final_denoise: uniform process only: finish with one draw from ``p(x_0 | z_{t_min})``
            (None, the default: True). The masked process always ends with every free position
            revealed, so ``final_denoise=False`` there warns and changes nothing.
        differentiable: let ``log_prob`` carry gradients to the denoiser's outputs and the grid
            (otherwise sampling builds no autograd graph).
        record: keep every denoiser call's outputs in ``result.records``.
        callback: called as ``callback(step, total_steps_or_None, z)`` after every step.
        show_progress: a progress line on standard error (:mod:`unmask.progress`): True from the
            first step, False never; None (the default) when standard error is a terminal and
            the run has lasted two seconds.
        stop: ``stop(z [B, L]) -> bool [B]``, called on the whole state before every step: a row
            where it holds has ended (a generation past its end of sequence) and takes no more
            steps, no final move and no more calls; its masked positions stay masked in
            ``result.tokens``. It must be a function of the row's own tokens (then a row stops
            at the same step in any batch).
    """
    vocab_size = checks.positive_int("vocab_size", vocab_size)
    if show_progress is not None and not isinstance(show_progress, bool):
        raise TypeError(f"show_progress must be True, False or None, got {show_progress!r}")
    process = check_process(process)
    final_denoise = check_final_denoise(final_denoise, process)
    device = resolve_device(prompt, device)
    z = start_tokens(prompt, batch_size, length, vocab_size, device)
    batch, length = z.shape
    exists = check_attention_mask(attention_mask, z.shape, device)
    cond = check_cond(cond, batch, device)
    if attention_mask is not None:
        if "attention_mask" in cond:
            raise ValueError("give attention_mask once: as attention_mask= or inside cond, not both")
        cond["attention_mask"] = exists
    sampler = resolve_sampler(sampler, process, steps, length)
    times = make_grid(grid, steps, process.schedule, process.t_end, device) if sampler.uses_grid else None
    if not callable(denoiser):
        raise TypeError(f"denoiser must be callable as f(x_t, t) -> logits, got {type(denoiser).__name__}")
    if stop is not None and not callable(stop):
        raise TypeError(f"stop must be callable as stop(z) -> bool [B] or None, got {type(stop).__name__}")
    check_accepts(denoiser, list(cond))
    check_vocabulary(denoiser, vocab_size)
    start_time = float(times[0].detach()) if times is not None else 1.0
    warn_prior_mismatch(process, start_time)

    free = (z == vocab_size) & exists
    elements = position_elements(exists)
    streams = RowStreams(seed_from(generator), check_row_ids(row_ids, batch, device), draw_dtype)
    calls = ModelCalls(
        denoiser, batch, length, vocab_size, device, cond, reuse=is_time_agnostic(denoiser),
        keep_graph=differentiable, record=record,
    )  # fmt: skip
    ctx = DrawingContext(
        process, vocab_size, calls, streams, free, exists.sum(-1), elements, dense_for(device), differentiable
    )
    streams.at_step(-2)
    z = process.start(z, free, vocab_size, streams, elements)

    if return_trajectory:
        check_trajectory_size(len(times) - 1 if times is not None else length, batch, length)
    states = [z.clone()] if return_trajectory else None

    progress = None
    if show_progress or (show_progress is None and sys.stderr is not None and sys.stderr.isatty()):
        progress = StepProgress("unmask.sample", None, delay=0.0 if show_progress else AUTO_DELAY)

    def on_step(index: int, total: int | None, z: torch.Tensor) -> None:
        if progress is not None:
            progress.total = total
            progress.update(index)
        if states is not None:
            states.append(z.clone())
        if callback is not None:
            callback(index, total, z)

    grad = contextlib.nullcontext() if differentiable else torch.no_grad()
    with grad:
        t = (
            times[0].expand(batch)
            if times is not None
            else torch.ones(batch, dtype=torch.float64, device=device)
        )
        z, _, taken = run_steps(sampler, ctx, z, t, times, final_denoise, on_step, stop)
    if progress is not None:
        progress.close(taken)
    ctx.finish_checks()
    if states is not None and not torch.equal(states[-1], z):
        states.append(z.clone())
    return SampleResult(
        tokens=z,
        nfe=calls.nfe,
        nfe_per_row=calls.nfe_per_row,
        steps=taken,
        grid=times,
        trajectory=torch.stack(states) if states is not None else None,
        diagnostics={name: float(values.detach().mean()) for name, values in ctx.diagnostics.items()},
        sampler=sampler,
        log_prob=ctx.log_prob,
        records=calls.records,
        row_diagnostics={name: values.detach() for name, values in ctx.diagnostics.items()},
    )
