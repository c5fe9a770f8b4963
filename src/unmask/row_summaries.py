"""Per-row summaries of logits in one pass: log-normaliser, largest probability, and (when asked)
entropy, margin and one token's log-probability, accumulated in float32 or float64 from rows
``[m, V]`` in the model's dtype, with buffers shared by the pieces of a pass
(:class:`~unmask.workspace.Workspace`).
:class:`~unmask.probabilities.Probabilities` calls them a bounded number of positions at a time.
"""

from __future__ import annotations

import math

import torch

from .laws import value_sum
from .workspace import Workspace


def _underflow(dtype: torch.dtype) -> float:
    """The floor that shifted logits are clamped to before ``exp`` (see :func:`exp_shifted_`)."""
    return math.log(torch.finfo(dtype).tiny) + 1.0


def reaches_floor(rows: torch.Tensor, top: torch.Tensor, dtype: torch.dtype) -> bool:
    """Whether a logit of ``rows [m, V]`` may lie at or below ``floor + 1/2`` under its row's
    maximum ``top [m, 1]`` in ``dtype`` (``floor``: :func:`_underflow`; a ``-inf`` does): only then
    does :func:`exp_shifted_` have anything to clamp or set to 0. On the CPU, where reading the
    answer costs nothing, it compares the smallest logit of the piece with its largest maximum,
    with a margin of 1/2 for rounding (True means "maybe": clamping is then done and is always
    right), and spares :func:`exp_shifted_` two passes over rows whose spread is smaller;
    elsewhere the answer is True without looking (no wait for the device)."""
    if rows.device.type != "cpu" or rows.numel() == 0:
        return rows.numel() > 0
    return float(rows.amin()) - float(top.max()) <= _underflow(dtype) + 1.0


def exp_shifted_(
    shifted: torch.Tensor,
    out: torch.Tensor | None = None,
    exact_zeros: bool = True,
    floor_reached: bool = True,
) -> torch.Tensor:
    """``exp(shifted)`` of shifted logits ``s = logits - max`` (``[m, V]``, entries ``<= 0`` or
    ``-inf``), with every mass at or below ``exp(floor + 1/2)`` set to exactly 0 (``floor``:
    :func:`_underflow`, about ``-707`` in float64 and ``-86`` in float32; such masses are below
    ``1e-307`` (``1e-37``) of the largest one, 1, and vanish beside it in any sum).

    ``shifted`` is clamped in place to ``floor`` first, so that it stays finite (``0 * s`` is 0
    where the mass is 0) and ``exp`` never sees an input whose result is subnormal, 0 or an
    exact ``-inf``: on the CPU those take 4 to 60 times as long as a normal result. The masses
    go to ``out`` when given, else into ``shifted`` itself; returns them. Without
    ``exact_zeros`` the clamped entries keep the mass ``exp(floor)`` (one pass fewer): enough
    for a sum that holds the largest mass, 1, which cannot see them. ``floor_reached=False``
    (:func:`reaches_floor` said so) skips the clamp and the zeroing, which would change nothing.
    """
    if not floor_reached:
        return torch.exp(shifted, out=out) if out is not None else shifted.exp_()
    floor = _underflow(shifted.dtype)
    shifted.clamp_(min=floor)
    masses = torch.exp(shifted, out=out) if out is not None else shifted.exp_()
    if not exact_zeros:
        return masses
    return torch.nn.functional.threshold_(masses, math.exp(floor + 0.5), 0.0)


def subtract_into(out: torch.Tensor, rows: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
    """``rows - top`` computed in ``out``'s dtype and written to ``out`` (``rows [m, V]``, ``top
    [m, 1]`` in any float dtypes): the same numbers as converting ``rows`` first. Across dtypes
    it converts in place and then subtracts: ``torch.sub(..., out=)`` would make a new temporary
    of the whole piece, whose page faults cost more than the arithmetic on the CPU."""
    if rows.dtype == out.dtype:
        return torch.sub(rows, top.to(out.dtype), out=out)
    return out.copy_(rows).sub_(top.to(out.dtype))


def row_summaries(
    rows: torch.Tensor,
    dtype: torch.dtype,
    entropy: bool = False,
    margin: bool = False,
    chosen: torch.Tensor | None = None,
    workspace: Workspace | None = None,
    overwrite: bool = False,
) -> dict[str, torch.Tensor]:
    """Per-row reductions ``[m]`` in ``dtype`` of logits ``rows [m, V]`` in any float dtype (entries
    may be ``-inf``, not all of them), from one pass: ``log_normalizer`` and ``max_prob`` always,
    ``entropy`` and ``margin`` when asked, and ``log_prob_of`` of the logits ``chosen [m]``.

    Without autograd, the shifted logits ``s = rows - max`` and their exponentials ``e`` (two
    ``dtype`` buffers ``[m, V]`` with the entropy, one without; the buffers of ``workspace``
    when given; with ``overwrite``, ``rows`` itself holds ``s`` where it is in ``dtype``: a copy
    the caller no longer needs, worked on in place while it is in cache) give ``S = sum e``,
    ``log_normalizer = max + log S``, ``max_prob = 1 / S``, ``margin = -expm1(second - max) / S``
    and ``entropy = log S + sum(e * -s) / S`` (two non-negative terms: no cancellation); one
    ``exp`` per value. Masses below the smallest normal numbers count as 0
    (:func:`exp_shifted_`). A row whose maximum is NaN, ``+inf`` or ``-inf`` gives NaN.
    """
    size = rows.shape[-1]
    if rows.requires_grad and torch.is_grad_enabled():
        return _row_summaries_with_grad(rows, dtype, entropy, margin, chosen)
    if margin and size > 1:
        top_two = rows.topk(2, dim=-1).values
        top = top_two[:, :1]
    else:
        top = rows.amax(-1, keepdim=True)
    count = rows.shape[0]
    workspace = workspace or Workspace()
    floor_reached = reaches_floor(rows, top, dtype)
    if overwrite and rows.dtype == dtype:
        shifted = rows.sub_(top)
    else:
        shifted = subtract_into(workspace.buffer("shifted", count, size, dtype, rows.device), rows, top)
    if entropy:
        buffer = workspace.buffer("masses", count, size, dtype, rows.device)
        masses = exp_shifted_(shifted, buffer, floor_reached=floor_reached)
    else:  # only the total S is read: masses at the floor are invisible beside the largest, 1
        masses = exp_shifted_(shifted, exact_zeros=False, floor_reached=floor_reached)
    total = value_sum(masses)
    log_total = total.log()
    top = top.squeeze(-1).to(dtype)
    normalizer = top + log_total
    out = {"log_normalizer": normalizer, "max_prob": total.reciprocal()}
    if entropy:
        shifted.mul_(masses)  # finite (clamped where it reached the floor), 0 where the mass is 0
        out["entropy"] = log_total - value_sum(shifted) / total
    if margin:
        if size == 1:
            out["margin"] = torch.ones_like(total)
        else:
            gap = top_two[:, 1].to(dtype) - top
            out["margin"] = -torch.expm1(gap) / total
    if chosen is not None:
        out["log_prob_of"] = chosen.to(dtype) - normalizer
    bad = ~torch.isfinite(top)
    nan = torch.full((), math.nan, dtype=dtype, device=rows.device)
    return {name: torch.where(bad, nan, value) for name, value in out.items()}


def _row_summaries_with_grad(rows, dtype, entropy, margin, chosen) -> dict[str, torch.Tensor]:
    """:func:`row_summaries` that carries gradients to ``rows`` (out-of-place throughout)."""
    normalizer = logsumexp_rows(rows, dtype)
    out = {
        "log_normalizer": normalizer,
        "max_prob": (rows.amax(-1).to(dtype) - normalizer).exp(),
    }
    if entropy:
        log_probs = rows.to(dtype) - normalizer.unsqueeze(-1)
        possible = log_probs > -torch.inf
        safe = torch.where(possible, log_probs, 0.0)  # no 0 * inf, in the values or the gradients
        out["entropy"] = -torch.where(possible, safe.exp() * safe, 0.0).sum(-1)
    if margin:
        if rows.shape[-1] == 1:
            out["margin"] = torch.ones(len(rows), dtype=dtype, device=rows.device)
        else:
            top = rows.topk(2, dim=-1).values.to(dtype)
            out["margin"] = (top - normalizer.unsqueeze(-1)).exp().diff(dim=-1).neg().squeeze(-1)
    if chosen is not None:
        out["log_prob_of"] = chosen.to(dtype) - normalizer
    return out


def logsumexp_rows(rows: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``log sum_v exp(rows[:, v])`` ``[m]`` in ``dtype`` from rows ``[m, V]`` in any float dtype
    (entries may be ``-inf``, not all of them): ``max + log sum exp(rows - max)``, the shifted
    exponentials formed in one ``dtype`` buffer (the same numbers as ``row_summaries``)."""
    if rows.requires_grad and torch.is_grad_enabled():
        top = rows.detach().amax(-1, keepdim=True)
        shifted = rows.to(dtype) - top.to(dtype)
        return (top.to(dtype) + torch.logsumexp(shifted, -1, keepdim=True)).squeeze(-1)
    return row_summaries(rows, dtype)["log_normalizer"]
