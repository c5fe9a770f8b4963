"""``unmask.sample``: the one driver that runs every sampler.

It owns what all samplers share: argument checks, the start state, the time grid, the loop, the
denoiser calls and their count, reuse of unchanged rows for time-agnostic denoisers, the random
streams, the final step, progress callbacks and the result record.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .. import checks
from ..denoisers import CachedDenoiser, Denoiser
from ..grids import make_grid
from ..processes import MaskedProcess, Process, UniformProcess
from ..streams import RowStreams, seed_from
from . import registry
from .base import Sampler
from .drawing import DrawingContext

Callback = Callable[[int, int | None, torch.Tensor], None]


@dataclass(frozen=True)
class SampleResult:
    """What :func:`sample` returns.

    Attributes:
        tokens: LongTensor ``[B, L]`` of clean tokens (no mask id left).
        nfe: number of batched denoiser calls made (one batched call counts once).
        nfe_per_row: LongTensor ``[B]``, the calls each row took part in.
        steps: number of sampler steps taken.
        grid: float64 ``[N + 1]`` time grid for grid samplers, else None.
        trajectory: LongTensor ``[steps + 1, B, L]`` of states when asked for, else None.
        diagnostics: per-sampler diagnostics averaged over rows (e.g. ``clipped_mass``).
        sampler: the resolved sampler object.
    """

    tokens: torch.Tensor
    nfe: int
    nfe_per_row: torch.Tensor
    steps: int
    grid: torch.Tensor | None
    trajectory: torch.Tensor | None
    diagnostics: dict[str, float]
    sampler: Sampler


def resolve_sampler(sampler: str | Sampler, process: Process, steps: int | None, length: int) -> Sampler:
    """A sampler object for ``process`` from a name or an object, configured for ``steps``."""
    if isinstance(sampler, str):
        sampler = registry.get(sampler, process.kind)
    elif not isinstance(sampler, Sampler):
        raise TypeError(
            f"sampler must be a name ({', '.join(registry.names(process.kind))}) or a Sampler object, "
            f"got {type(sampler).__name__}"
        )
    if sampler.process_kind != process.kind:
        raise ValueError(
            f"sampler {sampler.name!r} is for the {sampler.process_kind} process, but the process is "
            f"{process.kind}; pass a {sampler.process_kind} process or another sampler"
        )
    if steps is not None:
        checks.positive_int("steps", steps)
    if not sampler.uses_grid and sampler.name == "first-hitting" and steps is not None:
        raise ValueError(
            f"first-hitting takes no steps (it makes one call per masked token), got steps={steps}; "
            "pass steps=None, or use k-random for a fixed number of calls"
        )
    return sampler.resolve(steps, length)


def check_process(process: Process | None) -> Process:
    """The default masked process, or ``process`` after a type check."""
    if process is None:
        return MaskedProcess()
    if not isinstance(process, (MaskedProcess, UniformProcess)):
        raise TypeError(f"process must be a MaskedProcess or a UniformProcess, got {type(process).__name__}")
    return process


def warn_prior_mismatch(process: Process, start_time: float) -> None:
    """Warn when a masked sampler starts from all-mask at a time where ``alpha > 0``."""
    if process.kind != "masked":
        return
    alpha = float(process.schedule.alpha(start_time))
    if alpha > 0:
        warnings.warn(
            f"the {process.schedule.name} schedule has alpha({start_time:g}) = {alpha:.3g} > 0, but the "
            "sampler starts from the all-mask state: that is a prior mismatch (each token should "
            f"still be clean with probability {alpha:.3g}). Use a schedule with alpha(1) = 0 "
            "(linear, cosine) for exact sampling, or accept this error.",
            stacklevel=3,
        )


def start_tokens(
    prompt: torch.Tensor | None, batch_size: int | None, length: int | None, vocab_size: int
) -> torch.Tensor:
    """The start pattern ``[B, L]``: given tokens where the prompt has them, ``V`` (free) elsewhere."""
    if prompt is None:
        if batch_size is None or length is None:
            raise ValueError("give batch_size and length, or a prompt of shape [B, L]")
        checks.positive_int("batch_size", batch_size)
        checks.positive_int("length", length)
        return torch.full((batch_size, length), vocab_size, dtype=torch.long)
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
    generator: torch.Generator | int | None = None,
    draw_dtype: torch.dtype = torch.float64,
    return_trajectory: bool = False,
    final_denoise: bool = True,
    callback: Callback | None = None,
) -> SampleResult:
    """Draw ``batch_size`` sequences of ``length`` tokens from a denoiser with a sampler.

    Args:
        denoiser: ``f(x_t [B, L], t [B]) -> logits [B, L, V]`` (see :mod:`unmask.denoisers`).
        sampler: a registered name (``unmask.samplers.names()``) or a sampler object.
        vocab_size: ``V``, the number of clean tokens; the mask id is ``V``.
        length, batch_size: the output shape ``[B, L]`` (implied by ``prompt`` when given).
        steps: grid steps for grid samplers; blocks for ``k-random``; None for ``first-hitting``.
        process: ``MaskedProcess(schedule)`` (default, linear schedule) or ``UniformProcess``.
        grid: ``"uniform"`` (in t), ``"uniform-alpha"``, or explicit decreasing times.
        prompt: LongTensor ``[B, L]``; ids ``0..V-1`` are fixed and never change, ``V`` marks a
            free position (infilling patterns and prompts alike).
        generator: a ``torch.Generator`` or an int seed; row ``b`` gets the same tokens for the
            same seed whatever the batch size.
        draw_dtype: dtype of the uniforms and probabilities used for draws (float64 by default;
            float32 reproduces the precision loss of spec §9.1 and is for comparisons only).
        return_trajectory: keep every intermediate state.
        final_denoise: uniform process only: finish with one draw from ``p(x_0 | z_{t_min})``.
        callback: called as ``callback(step, total_steps_or_None, z)`` after every step.
    """
    vocab_size = checks.positive_int("vocab_size", vocab_size)
    process = check_process(process)
    z = start_tokens(prompt, batch_size, length, vocab_size)
    batch, length = z.shape
    sampler = resolve_sampler(sampler, process, steps, length)
    t_end = process.t_min if process.kind == "uniform" else 0.0
    times = make_grid(grid, steps, process.schedule, t_end) if sampler.uses_grid else None
    if not callable(denoiser):
        raise TypeError(f"denoiser must be callable as f(x_t, t) -> logits, got {type(denoiser).__name__}")
    start_time = float(times[0]) if times is not None else 1.0
    warn_prior_mismatch(process, start_time)

    free = z == vocab_size
    streams = RowStreams(seed_from(generator), torch.arange(batch), draw_dtype)
    model = CachedDenoiser(denoiser, batch, length, vocab_size)
    ctx = DrawingContext(process, vocab_size, model, streams, free)
    if process.kind == "uniform":
        uniform_law = torch.ones(1, 1, vocab_size).expand(batch, length, vocab_size)
        z = torch.where(free, streams.categorical(uniform_law, where=free), z)

    t = torch.full((batch,), start_time, dtype=torch.float64)
    states = [z.clone()] if return_trajectory else None
    total = len(times) - 1 if times is not None else None
    index = 0
    while (index < total) if total is not None else bool(ctx.masked(z).any()):
        s = torch.full((batch,), float(times[index + 1]), dtype=torch.float64) if times is not None else None
        z, t = sampler.step(ctx, z, t, s, index)
        index += 1
        if states is not None:
            states.append(z.clone())
        if callback is not None:
            callback(index, total, z)
        if total is None and index > length:
            raise RuntimeError(f"sampler {sampler.name!r} did not reveal a token in a step; this is a bug")

    z = finish(ctx, z, t, final_denoise)
    if states is not None and not torch.equal(states[-1], z):
        states.append(z.clone())
    return SampleResult(
        tokens=z,
        nfe=model.nfe,
        nfe_per_row=model.nfe_per_row,
        steps=index,
        grid=times,
        trajectory=torch.stack(states) if states is not None else None,
        diagnostics={name: float(values.mean()) for name, values in ctx.diagnostics.items()},
        sampler=sampler,
    )


def finish(ctx, z: torch.Tensor, t: torch.Tensor, final_denoise: bool) -> torch.Tensor:
    """The final denoising step (spec §9.2): reveal what a grid ending above 0 left masked, or, for
    the uniform process, draw every free position from ``p(x_0 | z_{t_min})``."""
    if ctx.process.kind == "masked":
        if bool(ctx.masked(z).any()):
            z = ctx.move(z, torch.ones(z.shape[0], 1, dtype=torch.float64), ctx.denoise(z, t))
        return z
    if final_denoise:
        z = ctx.jump(z, ctx.denoise(z, t).dense())
    return z
