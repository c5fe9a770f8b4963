"""Increment semantics for the uniform process (spec §2.4, §6.2).

A reverse jump at position ``i`` is an increment ``k in 1..S-1``: ``z_i <- z_i + k mod S``, with
intensity ``mu_k = Rhat(z -> z^{i <- z_i + k})``. Over a time ``h`` with frozen intensities, the
Poisson counts ``N_k ~ Poisson(mu_k h)`` move the position by ``sum_k k N_k mod S``, whose exact law
is the DFT formula (``w = exp(2 pi i / S)``)::

    P(increment = m) = (1/S) sum_j w^(-j m) exp( sum_k mu_k h (w^(j k) - 1) )

Drawing a value from that law is the same as drawing the counts and adding them mod ``S``.
"""

from __future__ import annotations

import torch


def by_increment(values: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Re-index ``values [n, L, S]`` (indexed by target value ``v``) by increment ``k``:
    ``out[b, i, k] = values[b, i, (z[b, i] + k) mod S]``; entry ``k = 0`` is the current value."""
    return _rotate(values, z)


def by_value(increments: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`by_increment`: ``out[b, i, v] = increments[b, i, (v - z[b, i]) mod S]``."""
    return _rotate(increments, -z)


_BLOCK_VALUES = 1 << 16


def _rotate(values: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``out[..., k] = values[..., (shift + k) mod S]``, gathered a block of positions at a time
    (the index of a block stays small instead of an int64 ``[n, L, S]`` one)."""
    size = values.shape[-1]
    arange = torch.arange(size)
    if values.requires_grad and torch.is_grad_enabled():
        return torch.gather(values, -1, (shift.reshape(*values.shape[:-1], 1) + arange) % size)
    flat, offset = values.reshape(-1, size), shift.reshape(-1, 1)
    out = torch.empty_like(flat)
    step = max(1, _BLOCK_VALUES // max(size, 1))
    for start in range(0, len(flat), step):
        part = slice(start, start + step)
        torch.gather(flat[part], -1, (offset[part] + arange) % size, out=out[part])
    return out.reshape(values.shape)


def increment_law(mean: torch.Tensor) -> torch.Tensor:
    """Law of ``sum_k k N_k mod S`` for independent ``N_k ~ Poisson(mean[..., k])``.

    ``mean [..., S]``: expected counts ``mu_k h`` indexed by increment ``k`` (entry 0 is ignored:
    ``w^0 - 1 = 0``). Returns float64 ``[..., S]`` indexed by ``m``; the real part of the DFT
    formula, clipped at 0 and renormalised (the clip only removes round-off).
    """
    size = mean.shape[-1]
    mean = torch.nn.functional.pad(mean[..., 1:].to(torch.float64), (1, 0))  # mean_0 := 0
    # ifft(x)[j] = (1/S) sum_k x_k w^(jk) and fft(x)[m] = sum_j x_j w^(-jm): O(S log S), no S x S
    # matrix.
    exponent = size * torch.fft.ifft(mean, dim=-1) - mean.sum(-1, keepdim=True)
    law = torch.fft.fft(torch.exp(exponent), dim=-1).real / size
    law = law.clamp(min=0)
    return law / law.sum(-1, keepdim=True)


def poisson_value_law(rates: torch.Tensor, z: torch.Tensor, duration: torch.Tensor) -> torch.Tensor:
    """Per-position law ``[n, L, S]`` of the value after Poisson increments over ``duration [n]``.

    ``rates [n, L, S]`` are increment intensities indexed by ``k`` (entry 0 ignored); the result is
    indexed by value ``v = (z_i + m) mod S`` and includes the stay mass (``m = 0``). Positions are
    taken a block at a time (the complex temporaries of the DFT stay small).
    """
    size = rates.shape[-1]
    flat, current = rates.reshape(-1, size), z.reshape(-1, 1)
    scale = duration.reshape(-1, 1).expand(z.shape).reshape(-1, 1)
    if rates.requires_grad and torch.is_grad_enabled():
        return by_value(increment_law(flat * scale), current).reshape(rates.shape)
    out = torch.empty(flat.shape, dtype=torch.float64)
    step = max(1, _BLOCK_VALUES // max(size, 1))
    for start in range(0, len(flat), step):
        part = slice(start, start + step)
        out[part] = by_value(increment_law(flat[part] * scale[part]), current[part])
    return out.reshape(rates.shape)
