"""Argument checks shared by the training losses, run before any draw or model call.

Each raises a ``ValueError`` or ``TypeError`` that names the argument, shows the value it got and
says what was expected. The checks of the token batch read the device once (one combined flag),
so that a training step pays a single synchronisation for them.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import torch

from ... import checks
from ...denoisers import check_accepts, check_vocabulary
from ...processes import MaskedProcess, UniformProcess
from ...schedules import Schedule

_INTEGER_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)

# Bits of the combined flag of :func:`check_batch`.
_NEGATIVE, _MASK_ID, _ABOVE, _NOT_BINARY, _EMPTY_ROW = 1, 2, 4, 8, 16


def check_model(model: Any, what: str = "model", signature: str = "f(x_t, t, **cond) -> logits") -> None:
    """A model must be callable as ``signature``."""
    if not callable(model):
        raise TypeError(f"{what} must be callable as {signature}, got {type(model).__name__}")


def resolve_vocab_size(model: Any, vocab_size: Any, *, required: bool = True) -> int | None:
    """``V``: ``vocab_size`` when given (checked against a ``vocab_size`` the model declares), else
    the model's own ``vocab_size`` attribute; without either, a ``TypeError`` when ``required``
    (the mask id and the noise draws need ``V`` before the model is called), else ``None``."""
    if vocab_size is not None:
        vocab_size = checks.positive_int("vocab_size", vocab_size)
        check_vocabulary(model, vocab_size)
        return vocab_size
    declared = getattr(model, "vocab_size", None)
    if isinstance(declared, int) and not isinstance(declared, bool) and declared >= 1:
        return declared
    if required:
        raise TypeError(
            "vocab_size is needed before the model is called (the mask id is vocab_size, and noise "
            "draws ids 0..vocab_size-1): pass vocab_size=V or give the model an int attribute "
            f"vocab_size; {type(model).__name__} has none"
        )
    return None


def check_schedule(schedule: Any) -> Schedule:
    """``schedule`` must be a :class:`~unmask.schedules.Schedule` object."""
    if isinstance(schedule, Schedule):
        return schedule
    hint = ""
    if isinstance(schedule, MaskedProcess):
        hint = " (a MaskedProcess was given: pass its .schedule)"
    elif isinstance(schedule, str):
        hint = f" (a name was given: pass unmask.schedules.get_schedule({schedule!r}))"
    return checks.instance("schedule", schedule, Schedule, f"a Schedule (unmask.schedules){hint}")


def check_uniform_process(process: Any) -> UniformProcess:
    """``process`` must be a :class:`~unmask.processes.UniformProcess` with ``t_min > 0``."""
    checks.instance("process", process, UniformProcess, "a UniformProcess (unmask.UniformProcess)")
    if not process.t_min > 0:
        raise ValueError(
            f"process.t_min must be > 0 for the uniform loss, got {process.t_min}: the path integrand "
            "has infinite variance at t = 0 (a flipped token's forward score grows like 1/t)"
        )
    return process


def check_t_min(t_min: Any, high: float = 1.0) -> float:
    """``t_min`` must be a number in ``(0, high)``: the clip of the drawn times."""
    if isinstance(t_min, bool) or not isinstance(t_min, numbers.Real):
        raise TypeError(f"t_min must be a number in (0, {high:g}), got {t_min!r} ({type(t_min).__name__})")
    value = float(t_min)
    if not (0 < value < high):
        raise ValueError(f"t_min must lie in (0, {high:g}) (the smallest forward time drawn), got {value}")
    return value


def check_flag(name: str, value: Any) -> bool:
    """``value`` must be ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return value


def check_generator(generator: Any) -> torch.Generator | None:
    """A ``torch.Generator`` (its draws are reproducible) or ``None`` (torch's global stream).

    An int seed is refused: a training loop that passed the same seed at every step would draw the
    same times and masks at every step.
    """
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    raise TypeError(
        "generator must be a torch.Generator (made once and reused across steps) or None, "
        f"got {generator!r} ({type(generator).__name__})"
    )


def check_batch(
    x: Any, vocab_size: int | None, attention_mask: Any
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clean sequences and their real positions: ``(x LongTensor [B, L], real bool [B, L],
    tokens LongTensor [B])``.

    ``x`` holds ids ``0..V-1`` at every position (padding too; the mask id ``V`` is refused: the
    losses mask positions themselves). ``attention_mask`` (``None``: no padding) is a bool or 0/1
    integer tensor of ``x``'s shape and device, nonzero at real positions; every row needs one.
    """
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a LongTensor [B, L] of token ids, got {type(x).__name__}")
    if x.dtype not in _INTEGER_DTYPES:
        raise TypeError(f"x must hold integer token ids (torch.long), got dtype {x.dtype}")
    if x.dim() != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"x must have shape [B, L] with B, L >= 1, got shape {tuple(x.shape)}")
    x = x.long()
    real, binary = _real_positions(attention_mask, x)
    flags = (x < 0).any().long() * _NEGATIVE
    if vocab_size is not None:
        flags = flags + (x == vocab_size).any().long() * _MASK_ID + (x > vocab_size).any().long() * _ABOVE
    flags = flags + (~binary).long() * _NOT_BINARY + (~real.any(-1)).any().long() * _EMPTY_ROW
    _raise_for(int(flags), x, vocab_size, real, attention_mask)
    return x, real, real.sum(-1)


def _real_positions(attention_mask: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(real bool [B, L], whether every entry of the mask is 0 or 1)`` (nothing read yet)."""
    if attention_mask is None:
        return torch.ones_like(x, dtype=torch.bool), torch.ones((), dtype=torch.bool, device=x.device)
    if not torch.is_tensor(attention_mask) or not (
        attention_mask.dtype == torch.bool or attention_mask.dtype in _INTEGER_DTYPES
    ):
        got = attention_mask.dtype if torch.is_tensor(attention_mask) else type(attention_mask).__name__
        raise TypeError(
            f"attention_mask must be a bool (or 0/1 integer) tensor [B, L], nonzero at real positions, "
            f"got {got}"
        )
    if tuple(attention_mask.shape) != tuple(x.shape):
        raise ValueError(
            f"attention_mask must have x's shape {tuple(x.shape)}, got {tuple(attention_mask.shape)}"
        )
    if attention_mask.device != x.device:
        raise ValueError(
            f"attention_mask is on {attention_mask.device}, but x is on {x.device}; move it there"
        )
    if attention_mask.dtype == torch.bool:
        return attention_mask, torch.ones((), dtype=torch.bool, device=x.device)
    return attention_mask != 0, ((attention_mask == 0) | (attention_mask == 1)).all()


def _raise_for(flags: int, x: torch.Tensor, vocab_size: int | None, real: torch.Tensor, mask: Any) -> None:
    """The error the flags of :func:`check_batch` stand for (the details are read only then)."""
    if not flags:
        return
    if flags & _NOT_BINARY:
        bad = mask[(mask != 0) & (mask != 1)][0].item()
        raise ValueError(f"attention_mask must hold 0 and 1 only (or be bool), got the value {bad}")
    if flags & _EMPTY_ROW:
        row = int((~real.any(-1)).nonzero()[0])
        raise ValueError(f"attention_mask marks no real position in row {row}; every row needs one")
    top = "" if vocab_size is None else f"0..{vocab_size - 1}"
    if flags & _MASK_ID:
        row, position = (int(v) for v in (x == vocab_size).nonzero()[0])
        raise ValueError(
            f"x holds the mask id {vocab_size} (= vocab_size) at row {row}, position {position}; x must "
            f"be clean sequences with ids {top} (the loss masks positions itself)"
        )
    bad = (x < 0) if vocab_size is None else ((x < 0) | (x > vocab_size))
    row, position = (int(v) for v in bad.nonzero()[0])
    wanted = f"ids {top}" if top else "non-negative ids"
    raise ValueError(
        f"x holds the id {int(x[row, position])} at row {row}, position {position}; x must hold {wanted}"
    )


def check_vocabulary_range(x: torch.Tensor, vocab_size: int) -> None:
    """After a model call revealed ``V``: every id of ``x`` must lie below it."""
    if bool((x >= vocab_size).any()):
        row, position = (int(v) for v in (x >= vocab_size).nonzero()[0])
        raise ValueError(
            f"x holds the id {int(x[row, position])} at row {row}, position {position}, but the model's "
            f"logits cover {vocab_size} tokens (ids 0..{vocab_size - 1})"
        )


def check_cond(
    cond: Any, batch: int, device: torch.device, attention_mask: Any, function: Any, what: str
) -> dict[str, torch.Tensor]:
    """The keyword arguments of every model call: ``cond`` (a mapping of names to row-aligned
    tensors ``[B, ...]`` on ``x``'s device) plus ``attention_mask`` as a bool ``[B, L]`` when one is
    given; ``function`` must accept them (checked by its signature, before the call)."""
    if cond is None:
        cond = {}
    if not isinstance(cond, Mapping):
        raise TypeError(f"cond must be a mapping of names to tensors [B, ...], got {type(cond).__name__}")
    out: dict[str, torch.Tensor] = {}
    for name, value in cond.items():
        if not isinstance(name, str):
            raise TypeError(f"cond keys must be argument names (str), got {name!r}")
        if not torch.is_tensor(value) or value.dim() < 1 or value.shape[0] != batch:
            shape = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
            raise ValueError(f"cond[{name!r}] must be a tensor [B, ...] with B = {batch}, got {shape}")
        if value.device != device:
            raise ValueError(f"cond[{name!r}] is on {value.device}, but x is on {device}; move it there")
        out[name] = value
    if attention_mask is not None:
        if "attention_mask" in out:
            raise ValueError("give attention_mask once: as attention_mask= or inside cond, not both")
        out["attention_mask"] = attention_mask if attention_mask.dtype == torch.bool else attention_mask != 0
    check_accepts(function, list(out), what)
    return out


def check_times(t: Any, batch: int, device: torch.device, low: float, high: float) -> torch.Tensor:
    """Explicit forward times: a float tensor ``[B]`` with values in ``[low, high]``, as float64 on
    ``device`` (detached: the losses carry no gradient to the times)."""
    if not torch.is_tensor(t) or not t.is_floating_point():
        got = t.dtype if torch.is_tensor(t) else type(t).__name__
        raise TypeError(f"t must be a float tensor [B] of forward times, got {got}")
    if tuple(t.shape) != (batch,):
        raise ValueError(f"t must have shape [B] = [{batch}], got shape {tuple(t.shape)}")
    t = t.detach().to(device=device, dtype=torch.float64)
    outside = ~((t >= low) & (t <= high))
    if bool(outside.any()):
        raise ValueError(f"t must lie in [{low:g}, {high:g}], got {t[outside][0].item()}")
    return t
