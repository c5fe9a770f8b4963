"""Argument checks shared by every layer.

Each check raises a ``ValueError`` or ``TypeError`` that names the argument, shows the value it
got and says what was expected, so that bad input fails before any work starts.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any

import torch


def integer(name: str, value: Any, what: str) -> int:
    """Return ``value`` as a Python int if it is an integer (a Python or numpy integer, or an
    integer tensor of one element), or raise ``TypeError`` saying it must be ``what``.

    Booleans and floats (even whole ones such as ``8.0``) are rejected.
    """
    is_bool = (
        isinstance(value, bool)
        or type(value).__name__ in ("bool_", "bool")
        or (torch.is_tensor(value) and value.dtype == torch.bool)
    )
    try:
        if is_bool:
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be {what}, got {value!r} ({type(value).__name__})") from None


def positive_int(
    name: str, value: Any, *, minimum: int = 1, maximum: int | None = None, why: str = ""
) -> int:
    """Return ``value`` as an int, or raise if it is not an integer in ``[minimum, maximum]``.

    Python ints and numpy integers are accepted (``np.int64(8)`` works like ``8``); bool and float
    are not. ``why`` follows the message when ``value`` is above ``maximum``.
    """
    value = integer(name, value, f"an integer >= {minimum}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum:,}, got {value:,}{why}")
    return value


def seed(name: str, value: Any) -> int:
    """Return a seed as an int, or raise: seeds are non-negative integers (Python or numpy).

    The one message every seed-taking function gives: ``"seed must be a non-negative integer, got -1"``.
    """
    value = integer(name, value, "a non-negative integer")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value}")
    return value


def time(name: str, value: Any) -> float:
    """Return a forward time given as a number as a float, or raise unless it lies in ``[0, 1]``."""
    value = _number(name, value, "a time in [0, 1] (a number or a tensor)")
    if not (0 <= value <= 1):
        raise ValueError(f"{name} must lie in [0, 1] (forward time), got {value}")
    return value


def sum_tolerance(dtype: torch.dtype, count: int, floor: float = 1e-9) -> float:
    """How far from 1 a probability vector of ``count`` entries stored in ``dtype`` may sum:
    ``floor`` for float64, about ``count`` rounding units of ``dtype`` for lower precisions (a
    float32 softmax sums to 1 only within a few 1e-7)."""
    if not dtype.is_floating_point or dtype == torch.float64:
        return floor
    return max(floor, max(count, 4) * torch.finfo(dtype).eps)


def _number(name: str, value: Any, what: str) -> float:
    """``value`` as a float if it is a real number (numpy scalars included, bool excluded)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {what}, got {value!r} ({type(value).__name__})")
    return float(value)


def probability(name: str, value: Any, *, open_low: bool = False, open_high: bool = False) -> float:
    """Return ``value`` as a float in [0, 1] (ends excluded when asked), or raise."""
    value = _number(name, value, "a number in [0, 1]")
    value = float(value)
    low_ok = value > 0 if open_low else value >= 0
    high_ok = value < 1 if open_high else value <= 1
    if not (math.isfinite(value) and low_ok and high_ok):
        interval = ("(" if open_low else "[") + "0, 1" + (")" if open_high else "]")
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return value


def positive_float(name: str, value: Any) -> float:
    """Return ``value`` as a finite float > 0, or raise."""
    value = _number(name, value, "a positive number")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def non_negative_float(name: str, value: Any, unit: str = "") -> float:
    """Return ``value`` as a finite float >= 0, or raise (``unit``, such as ``" (nats)"``, follows
    "a finite number >= 0" in the message)."""
    value = _number(name, value, f"a number >= 0{unit}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0{unit}, got {value}")
    return value


def instance(name: str, value: Any, kind: type, what: str) -> Any:
    """Return ``value`` if it is an instance of ``kind``, or raise ``TypeError`` saying it must be
    ``what``; a class given where an object is expected (``TopK`` for ``TopK()``) is named as such."""
    if isinstance(value, kind):
        return value
    if isinstance(value, type):
        got = f"the class {value.__name__}"
        if issubclass(value, kind):
            got += f" (an object is expected: {value.__name__}(...))"
    else:
        text = repr(value)
        got = f"{text} ({type(value).__name__})" if len(text) <= 80 else f"a {type(value).__name__} object"
    raise TypeError(f"{name} must be {what}, got {got}")


def times_in_unit_interval(name: str, t: torch.Tensor) -> None:
    """Raise unless every entry of ``t`` is finite and lies in [0, 1]."""
    if not torch.is_tensor(t):
        raise TypeError(f"{name} must be a tensor of times in [0, 1], got {type(t).__name__}")
    if t.numel() and not bool(((t >= 0) & (t <= 1)).all()):
        bad = t[~((t >= 0) & (t <= 1))].flatten()[0].item()
        raise ValueError(f"{name} must lie in [0, 1] (forward time), got {bad}")


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
    if isinstance(t, numbers.Real) and not isinstance(t, bool):
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


def generator(value: Any, device: torch.device) -> torch.Generator | None:
    """A ``torch.Generator`` from ``value``: a generator (kept, on its own device), a seed (a
    non-negative integer: a new generator on ``device``) or None; anything else raises."""
    if value is None or isinstance(value, torch.Generator):
        return value
    try:
        chosen = seed("generator", value)
    except TypeError:
        raise TypeError(
            "generator must be a torch.Generator, a non-negative integer seed or None, "
            f"got {value!r} ({type(value).__name__})"
        ) from None
    return torch.Generator(device=device).manual_seed(chosen)
