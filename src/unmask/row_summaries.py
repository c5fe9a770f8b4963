"""Per-row summaries of logits in one pass: log-normaliser, largest probability, and (when asked)
entropy, margin and one token's log-probability, accumulated in float32 or float64 from rows
``[m, V]`` in the model's dtype, with buffers shared by the pieces of a pass (:class:`Workspace`).
:class:`~unmask.probabilities.Probabilities` calls them a bounded number of positions at a time.
"""

from __future__ import annotations

import math

import torch

from .laws import value_sum


def _underflow(dtype: torch.dtype) -> float:
    """Shifted logits at or below this count as ``-inf`` (see :func:`row_summaries`)."""
    return math.log(torch.finfo(dtype).tiny) + 1.0


class Workspace:
    """Buffers reused by the pieces of one pass (on the CPU a new large buffer per piece costs its
    page faults again, often more than the arithmetic)."""

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def buffer(
        self, slot: str, count: int, size: int, dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        """An uninitialised ``[count, size]`` buffer: the slot's, grown when too small."""
        held = self._buffers.get(slot)
        if held is None or held.shape[0] < count or held.shape[1] != size or held.dtype != dtype:
            held = self._buffers[slot] = torch.empty(count, size, dtype=dtype, device=device)
        return held[:count]


def row_summaries(
    rows: torch.Tensor,
    dtype: torch.dtype,
    entropy: bool = False,
    margin: bool = False,
    chosen: torch.Tensor | None = None,
    workspace: Workspace | None = None,
) -> dict[str, torch.Tensor]:
    """Per-row reductions ``[m]`` in ``dtype`` of logits ``rows [m, V]`` in any float dtype (entries
    may be ``-inf``, not all of them), from one pass: ``log_normalizer`` and ``max_prob`` always,
    ``entropy`` and ``margin`` when asked, and ``log_prob_of`` of the logits ``chosen [m]``.

    Without autograd, the shifted logits ``s = rows - max`` and their exponentials ``e`` (two
    ``dtype`` buffers ``[m, V]`` with the entropy, one without; the buffers of ``workspace``
    when given) give ``S = sum e``, ``log_normalizer = max + log S``, ``max_prob = 1 / S``,
    ``margin = -expm1(second - max) / S`` and ``entropy = log S + sum(e * -s) / S`` (two
    non-negative terms: no cancellation); one ``exp`` per value. Shifted logits below the
    smallest normal ``exp`` (about ``-707`` in float64, ``-86`` in float32) count as ``-inf``:
    their probabilities are below ``1e-307`` (``1e-37``), nothing beside the largest term, 1, and
    subnormal results would make ``exp`` many times slower. A row whose maximum is NaN, ``+inf``
    or ``-inf`` gives NaN.
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
    # One pass: ``top`` in ``dtype`` (a tensor, not a scalar) makes the subtraction itself run in
    # ``dtype``, the same numbers as converting the rows first.
    shifted = torch.sub(rows, top.to(dtype), out=workspace.buffer("shifted", count, size, dtype, rows.device))
    cut = _underflow(dtype)
    torch.nn.functional.threshold_(shifted, cut, -math.inf)
    if entropy:
        masses = torch.exp(shifted, out=workspace.buffer("masses", count, size, dtype, rows.device))
    else:
        masses = shifted.exp_()
    total = value_sum(masses)
    log_total = total.log()
    top = top.squeeze(-1).to(dtype)
    normalizer = top + log_total
    out = {"log_normalizer": normalizer, "max_prob": total.reciprocal()}
    if entropy:
        shifted.clamp_(min=cut).mul_(masses)  # -inf (mass 0) to a finite value: 0 * s is 0
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
