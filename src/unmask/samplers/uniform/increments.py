"""Increment semantics for the uniform process (spec §2.4, §6.2).

A reverse jump at position ``i`` is an increment ``k in 1..S-1``: ``z_i <- z_i + k mod S``, with
intensity ``mu_k = Rhat(z -> z^{i <- z_i + k})``. Over a time ``h`` with frozen intensities, the
Poisson counts ``N_k ~ Poisson(mu_k h)`` move the position by ``sum_k k N_k mod S``, whose exact law
is the DFT formula (``w = exp(2 pi i / S)``)::

    P(increment = m) = (1/S) sum_j w^(-j m) exp( sum_k mu_k h (w^(j k) - 1) )

Drawing a value from that law is the same as drawing the counts and adding them mod ``S``. The
functions work on rows ``[m, S]`` of positions (one row per position).
"""

from __future__ import annotations

import torch

#: Float64 values of temporaries per value of a row while its increment law is computed (complex
#: Fourier transforms of the rate rows, in both stages of the trapezoid): the piece weight of
#: :func:`unmask.pieces.slices`.
FOURIER_WEIGHT = 8


def _column(current: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    return current.unsqueeze(-1) if current.dim() == values.dim() - 1 else current


def by_increment(values: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """Re-index rows ``values [..., S]`` (indexed by value ``v``) by increment ``k``:
    ``out[..., k] = values[..., (current + k) mod S]`` for ``current [...]`` (or ``[..., 1]``);
    entry ``k = 0`` is the current value."""
    size = values.shape[-1]
    return values.gather(-1, (_column(current, values) + torch.arange(size, device=values.device)) % size)


def by_value(increments: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`by_increment`: ``out[..., v] = increments[..., (v - current) mod S]``."""
    size = increments.shape[-1]
    return increments.gather(
        -1, (torch.arange(size, device=increments.device) - _column(current, increments)) % size
    )


def increment_law(mean: torch.Tensor) -> torch.Tensor:
    """Law of ``sum_k k N_k mod S`` for independent ``N_k ~ Poisson(mean[..., k])``.

    ``mean [..., S]``: expected counts ``mu_k h`` indexed by increment ``k`` (entry 0 is ignored:
    ``w^0 - 1 = 0``). Returns float64 ``[..., S]`` indexed by ``m``; the real part of the DFT
    formula, clipped at 0 and renormalised (the clip only removes round-off).
    """
    size = mean.shape[-1]
    mean = torch.nn.functional.pad(mean[..., 1:].to(torch.float64), (1, 0))  # mean_0 := 0
    total = mean.sum(-1, keepdim=True)
    # ifft(x)[j] = (1/S) sum_k x_k w^(jk) and fft(x)[m] = sum_j x_j w^(-jm): O(S log S), no S x S
    # matrix.
    spectrum = torch.fft.ifft(mean, dim=-1)
    if spectrum.requires_grad and torch.is_grad_enabled():
        law = torch.fft.fft(torch.exp(size * spectrum - total), dim=-1).real / size
        law = law.clamp(min=0)
        return law / law.sum(-1, keepdim=True)
    del mean
    law = torch.fft.fft(spectrum.mul_(size).sub_(total).exp_(), dim=-1).real.div(size)
    del spectrum
    law.clamp_(min=0)
    return law.div_(law.sum(-1, keepdim=True))


def poisson_value_law(rates: torch.Tensor, current: torch.Tensor, duration: torch.Tensor) -> torch.Tensor:
    """Law ``[m, S]`` of the value after Poisson increments over ``duration [m, 1]``.

    ``rates [m, S]`` are increment intensities indexed by ``k`` (entry 0 ignored) at current values
    ``current [m, 1]``; the result is indexed by value ``v = (current + m) mod S`` and includes the
    stay mass (``m = 0``).
    """
    return by_value(increment_law(rates * duration), current)
