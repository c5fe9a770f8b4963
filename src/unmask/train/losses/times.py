"""Forward times for a training batch: i.i.d. uniform, or antithetic (MDLM's low-discrepancy draw).

Both give every row a time that is marginally uniform on ``[t_min, t_max]``, so any loss that is
an unbiased one-draw estimate of a time integral stays unbiased per row. The antithetic draw
shares one uniform ``u`` across the batch and spreads the rows over ``B`` equal strata,

    ``t_b = t_min + (t_max - t_min) * ((u + b / B) mod 1)``,  ``b = 0..B-1``,

so the batch covers the whole interval once (MDLM's ``antithetic_sampling``; a systematic sample):
the spread of the batch mean over ``t`` is much smaller, at no cost. The rows are then not
independent; their mean is still unbiased.

The uniforms are float64, drawn on the generator's device and moved to ``device``: a CPU generator
gives the same times on every device.
"""

from __future__ import annotations

from typing import Any

import torch

from ... import checks
from ...likelihood.masks import uniform

#: Default smallest forward time of the masked and hollow losses: the clip of the hazard
#: ``lambda(t) ~ 1/t`` (spec §8, §9.3; MDLM's ``sampling_eps``, and the default ``eps`` of
#: ``unmask.likelihood``'s time-integral estimator).
DEFAULT_T_MIN = 1e-3


def _range(t_min: Any, t_max: Any) -> tuple[float, float]:
    low = checks.probability("t_min", t_min, open_high=True)
    high = checks.probability("t_max", t_max, open_low=True)
    if not low < high:
        raise ValueError(f"t_min must be below t_max, got t_min={low}, t_max={high}")
    return low, high


def _device(generator: torch.Generator | None, device: Any) -> torch.device:
    if device is not None:
        return torch.device(device)
    return generator.device if generator is not None else torch.device("cpu")


def uniform_times(
    batch: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    *,
    t_min: float = DEFAULT_T_MIN,
    t_max: float = 1.0,
) -> torch.Tensor:
    """``batch`` i.i.d. times uniform on ``[t_min, t_max]``: float64 ``[B]`` on ``device`` (default:
    the generator's device, else the CPU)."""
    batch = checks.positive_int("batch", batch)
    low, high = _range(t_min, t_max)
    u = uniform((batch,), generator, _device(generator, device))
    return low + (high - low) * u


def antithetic_times(
    batch: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    *,
    t_min: float = DEFAULT_T_MIN,
    t_max: float = 1.0,
) -> torch.Tensor:
    """``t_b = t_min + (t_max - t_min) ((u + b/B) mod 1)`` for one uniform ``u``: float64 ``[B]``
    on ``device``, one time in each of the ``B`` equal strata of ``[t_min, t_max]``, each marginally
    uniform (module docstring)."""
    batch = checks.positive_int("batch", batch)
    low, high = _range(t_min, t_max)
    where = _device(generator, device)
    u = uniform((1,), generator, where)
    offsets = torch.arange(batch, dtype=torch.float64, device=where) / batch
    return low + (high - low) * torch.remainder(u + offsets, 1.0)


def draw_times(
    batch: int,
    generator: torch.Generator | None,
    device: torch.device | str | None,
    *,
    antithetic: bool,
    t_min: float,
    t_max: float = 1.0,
) -> torch.Tensor:
    """:func:`antithetic_times` when ``antithetic``, else :func:`uniform_times`."""
    draw = antithetic_times if antithetic else uniform_times
    return draw(batch, generator, device, t_min=t_min, t_max=t_max)
