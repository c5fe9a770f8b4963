"""Argument checks shared by every layer.

Each check raises a ``ValueError`` or ``TypeError`` that names the argument, shows the value it
got and says what was expected, so that bad input fails before any work starts.
"""

from __future__ import annotations

import math
from typing import Any

import torch


def positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def probability(name: str, value: Any, *, open_low: bool = False, open_high: bool = False) -> float:
    """Return ``value`` as a float in [0, 1] (ends excluded when asked), or raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r} ({type(value).__name__})")
    value = float(value)
    low_ok = value > 0 if open_low else value >= 0
    high_ok = value < 1 if open_high else value <= 1
    if not (math.isfinite(value) and low_ok and high_ok):
        interval = ("(" if open_low else "[") + "0, 1" + (")" if open_high else "]")
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return value


def positive_float(name: str, value: Any) -> float:
    """Return ``value`` as a finite float > 0, or raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a positive number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def times_in_unit_interval(name: str, t: torch.Tensor) -> None:
    """Raise unless every entry of ``t`` is finite and lies in [0, 1]."""
    if not torch.is_tensor(t):
        raise TypeError(f"{name} must be a tensor of times in [0, 1], got {type(t).__name__}")
    if t.numel() and not bool(((t >= 0) & (t <= 1)).all()):
        bad = t[~((t >= 0) & (t <= 1))].flatten()[0].item()
        raise ValueError(f"{name} must lie in [0, 1] (forward time), got a value {bad}")


def token_tensor(name: str, x: Any, *, vocab_size: int, allow_mask: bool) -> torch.Tensor:
    """Check a LongTensor ``[B, L]`` of token ids and return it.

    Ids must lie in ``0..V-1``, or in ``0..V`` when ``allow_mask`` (``V`` is the mask id).
    """
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a LongTensor [B, L] of token ids, got {type(x).__name__}")
    if x.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8):
        raise TypeError(f"{name} must hold integer token ids, got dtype {x.dtype}")
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape [B, L], got shape {tuple(x.shape)}")
    top = vocab_size if allow_mask else vocab_size - 1
    if x.numel() and (int(x.min()) < 0 or int(x.max()) > top):
        bad = x[(x < 0) | (x > top)][0].item()
        what = f"0..{vocab_size - 1} or {vocab_size} (the mask id)" if allow_mask else f"0..{top}"
        raise ValueError(f"{name} holds the id {bad}; ids must lie in {what}")
    return x.long()


def one_of(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, or raise naming them."""
    if value not in choices:
        names = [repr(c) for c in choices]
        wanted = " or ".join(names) if len(names) <= 2 else "one of " + ", ".join(names)
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return value


def batch_times(name: str, t: Any, batch: int, device: torch.device) -> torch.Tensor:
    """Return forward times as float64 ``[batch]`` on ``device``.

    ``t`` may be a number, a one-element tensor (broadcast to every row) or a tensor ``[batch]``
    on any device; every value must lie in ``[0, 1]``.
    """
    if isinstance(t, (int, float)) and not isinstance(t, bool):
        t = torch.tensor(float(t), dtype=torch.float64, device=device)
    if not torch.is_tensor(t):
        raise TypeError(f"{name} must be a float tensor [B] of times in [0, 1], got {type(t).__name__}")
    times_in_unit_interval(name, t)
    t = t.to(device=device, dtype=torch.float64)
    if t.numel() == 1:
        return t.reshape(1).expand(batch)
    if tuple(t.shape) != (batch,):
        raise ValueError(
            f"{name} must have shape [B] = [{batch}] (or one element), got shape {tuple(t.shape)}"
        )
    return t
