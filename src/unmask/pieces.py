"""Per-position work over ``[n, L, V]`` quantities in a bounded number of pieces.

Samplers and estimators need per-position results (a draw, a total mass, an entropy) of laws over
``V`` values that must never exist as one float64 ``[n, L, V]`` tensor: at ``V = 126,464`` that is
2 GB for four sequences of 512 tokens. :func:`at_positions` evaluates a per-position function on
the flattened positions a piece at a time:

* the number of pieces is at most :data:`MAX_PIECES`, whatever ``n``, ``L`` or ``V`` (each piece
  holds at least :data:`MIN_PIECE_VALUES` values, so small problems take one piece), so a
  piece's float64 temporaries take at most ``8 / MAX_PIECES`` bytes per value of the law;
* **dense** (the default on accelerators): every position is computed and the result kept where
  ``where`` is set; the shapes do not depend on the data, nothing waits for the device, and the
  work can be compiled;
* **gathered** (the default on the CPU): only the positions where ``where`` is set are computed,
  which is what makes a step that moves few positions cheap; finding them reads ``where`` on the
  host, which costs nothing on the CPU.

Both give the same numbers: a position's result is computed from its own row alone. Set the
environment variable ``UNMASK_DENSE=1`` (or ``0``) to force one of them, for example to run the
accelerator's code path on the CPU.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import torch

#: The most pieces one per-position pass is cut into.
MAX_PIECES = 64
#: The fewest values (positions x width) a piece holds, unless the pass holds fewer.
MIN_PIECE_VALUES = 1 << 16


def dense_for(device: torch.device) -> bool:
    """Whether per-position passes on ``device`` compute every position (see the module docstring)."""
    forced = os.environ.get("UNMASK_DENSE")
    if forced in ("0", "1"):
        return forced == "1"
    return torch.device(device).type != "cpu"


def slices(count: int, width: int, weight: int = 1) -> list[slice]:
    """``count`` positions of ``width`` values each, cut into at most ``weight * MAX_PIECES``
    slices (``weight``: how many float64 values of temporaries a value needs at once, for work
    heavier than a few float64 passes, such as complex Fourier transforms)."""
    if count <= 0:
        return []
    cap = MAX_PIECES * weight
    pieces = min(cap, count, max(1, math.ceil(count * max(width, 1) * weight / MIN_PIECE_VALUES)))
    size = math.ceil(count / pieces)
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


Compute = Callable[[torch.Tensor], Sequence[torch.Tensor]]


def at_positions(
    where: torch.Tensor,
    compute: Compute,
    width: int,
    outputs: Sequence[tuple[float | int | bool, torch.dtype]],
    dense: bool | None = None,
    weight: int = 1,
) -> list[torch.Tensor]:
    """Per-position results of ``compute`` where ``where`` is set, a fill value elsewhere.

    Args:
        where: bool ``[n, L]``: the positions whose results are wanted.
        compute: ``compute(index) -> (out_1 [m], out_2 [m], ...)`` for flat position indices
            ``index [m]`` (``b * L + i``); called once per piece.
        width: values per position (``V``), which sets the piece size.
        outputs: ``(fill, dtype)`` of each output: its value outside ``where`` and its dtype.
        dense: compute every position (True) or only those in ``where`` (False); None picks
            by the device (:func:`dense_for`).
        weight: see :func:`slices`.

    Returns:
        One tensor ``[n, L]`` per output.
    """
    shape, device = where.shape, where.device
    flat = where.reshape(-1)
    if dense is None:
        dense = dense_for(device)
    index = torch.arange(flat.numel(), device=device) if dense else flat.nonzero().squeeze(-1)
    parts = [compute(index[part]) for part in slices(len(index), width, weight)]
    results = []
    for k, (value, dtype) in enumerate(outputs):
        fill = torch.full((), value, dtype=dtype, device=device)
        if not parts:
            results.append(fill.expand(shape).clone())
            continue
        pieces = torch.cat([part[k] for part in parts]) if len(parts) > 1 else parts[0][k]
        pieces = pieces.to(dtype)
        if dense:
            results.append(torch.where(where, pieces.reshape(shape), fill))
        else:
            results.append(fill.expand(flat.shape).index_put((index,), pieces).reshape(shape))
    return results
