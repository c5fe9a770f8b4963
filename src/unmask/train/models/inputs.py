"""Checks of the inputs of a model call, before any work, with one read of the device."""

from __future__ import annotations

import numbers

import torch

_INTEGER_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def check_inputs(
    x: torch.Tensor,
    *,
    name: str,
    top: int,
    ids: str,
    max_length: int,
    t: torch.Tensor | float | None = None,
    attention_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Check a call's tokens ``x [B, L]`` (ids in ``0 .. top``, described by ``ids`` in messages;
    ``1 <= L <= max_length``), times ``t`` (a number, one element or ``[B]``, in ``[0, 1]``) and
    ``attention_mask [B, L]`` (bool, or numbers 0/1; True/1 marks a real token).

    Returns ``(x as int64, t [B] float64 on x's device or None, real [B, L] bool or None)``.
    Shapes and types are checked without touching the device; the values (ids in range, times in
    ``[0, 1]``, masks of 0/1) with one read, and the slow search for the culprit only on failure.
    Raises ``TypeError`` or ``ValueError`` naming the argument.
    """
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a LongTensor [B, L] of token ids, got {type(x).__name__}")
    if x.dtype not in _INTEGER_DTYPES:
        raise TypeError(f"{name} must hold integer token ids, got dtype {x.dtype}")
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape [B, L], got shape {tuple(x.shape)}")
    batch, length = x.shape
    if not 1 <= length <= max_length:
        raise ValueError(
            f"{name} has length {length}, but the model takes sequences of length 1 to {max_length} "
            f"(config.length)"
        )
    x = x.long()
    bad = torch.zeros((), dtype=torch.bool, device=x.device)
    if x.numel():
        bad = bad | (x.min() < 0) | (x.max() > top)
    if t is not None:
        t = _times(t, batch, x.device)
        if t.numel():
            bad = bad | ~((t >= 0) & (t <= 1)).all()
    real = None
    if attention_mask is not None:
        real, mask_bad = _real(attention_mask, x.shape, x.device)
        bad = bad | mask_bad
    if bool(bad):
        _raise_for_values(x, name, top, ids, t, attention_mask)
    return x, t, real


def as_long(x: object) -> object:
    """``x`` as int64 if it is an integer tensor (narrower ids from a caller), else unchanged (the
    checks of :func:`check_inputs` then report it)."""
    return x.long() if torch.is_tensor(x) and x.dtype in _INTEGER_DTYPES else x


def _times(t: torch.Tensor | float, batch: int, device: torch.device) -> torch.Tensor:
    """``t`` as float64 ``[batch]`` on ``device`` (shape and type checked, values not)."""
    if isinstance(t, numbers.Real) and not isinstance(t, bool):
        t = torch.tensor(float(t), dtype=torch.float64, device=device)
    if not torch.is_tensor(t) or not t.is_floating_point():
        got = f"dtype {t.dtype}" if torch.is_tensor(t) else type(t).__name__
        raise TypeError(f"t must be a float tensor [B] of times in [0, 1] (or a number), got {got}")
    t = t.to(device=device, dtype=torch.float64)
    if t.numel() == 1:
        return t.reshape(1).expand(batch)
    if tuple(t.shape) != (batch,):
        raise ValueError(f"t must have shape [B] = [{batch}] (or one element), got shape {tuple(t.shape)}")
    return t


def _real(
    attention_mask: torch.Tensor, shape: torch.Size, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(real [B, L] bool, bad)``: ``bad`` a device scalar, True if a value is not 0 or 1."""
    if not torch.is_tensor(attention_mask):
        raise TypeError(
            f"attention_mask must be a tensor [B, L] (bool or 0/1), got {type(attention_mask).__name__}"
        )
    if attention_mask.shape != shape:
        raise ValueError(
            f"attention_mask must have the shape of the tokens {tuple(shape)}, "
            f"got {tuple(attention_mask.shape)}"
        )
    mask = attention_mask.to(device)
    if mask.dtype == torch.bool:
        return mask, torch.zeros((), dtype=torch.bool, device=device)
    bad = ~((mask == 0) | (mask == 1)).all()
    return mask != 0, bad


def _raise_for_values(
    x: torch.Tensor,
    name: str,
    top: int,
    ids: str,
    t: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
) -> None:
    """Raise the ``ValueError`` for the first bad value found (the slow path, after a failed check)."""
    out_of_range = (x < 0) | (x > top)
    if bool(out_of_range.any()):
        raise ValueError(f"{name} holds the id {x[out_of_range][0].item()}; ids must lie in {ids}")
    if t is not None:
        outside = ~((t >= 0) & (t <= 1))
        if bool(outside.any()):
            raise ValueError(f"t must lie in [0, 1] (forward time), got {t[outside][0].item()}")
    if attention_mask is not None:
        other = attention_mask[~((attention_mask == 0) | (attention_mask == 1))]
        raise ValueError(f"attention_mask must hold 0/1 or bool (1: a real token), got {other[0].item()}")
