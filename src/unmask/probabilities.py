"""Clean-token probabilities given by logits, converted to float64 only where they are used.

A denoiser returns logits ``[n, L, V]`` in its own dtype. Samplers need float64 probabilities, but
most steps draw values at a few positions only: converting the whole ``[n, L, V]`` output to
float64 would cost more than many denoisers. :class:`Probabilities` keeps the logits and gives

* ``dense()``: the float64 softmax of every position (computed once, then kept), for samplers that
  do arithmetic on the probabilities;
* ``probs[selection]``: the float64 softmax of the selected positions only (advanced indexing on
  the leading axes), which is what a draw at moving positions reads.

Both give the same numbers: each position's softmax is computed on its own row in float64.
"""

from __future__ import annotations

import torch


def softmax64(logits: torch.Tensor, chunk: int = 1 << 20) -> torch.Tensor:
    """``softmax(logits)`` over the last axis in float64, in a new tensor (the input is untouched).

    The same numbers as ``torch.softmax(logits.to(torch.float64), -1)`` with a single float64
    buffer: rows are converted into the output ``chunk`` values at a time and normalised there
    while they are still in cache. Logits that carry a gradient take the plain (differentiable) path.
    """
    if logits.requires_grad and torch.is_grad_enabled():
        return torch.softmax(logits.to(torch.float64), dim=-1)
    size = logits.shape[-1]
    probs = torch.empty(logits.shape, dtype=torch.float64)
    source, target = logits.reshape(-1, size), probs.view(-1, size)
    step = max(1, chunk // max(size, 1))
    for start in range(0, source.shape[0], step):
        rows = target[start : start + step]
        torch.softmax(rows.copy_(source[start : start + step]), dim=-1, out=rows)
    return probs


class Probabilities:
    """Probabilities ``[n, L, V]`` defined by ``logits`` (or by float64 ``probs`` already dense)."""

    def __init__(self, logits: torch.Tensor | None = None, *, dense: torch.Tensor | None = None):
        if (logits is None) == (dense is None):
            raise ValueError("give Probabilities either logits or dense probabilities, not both")
        self.logits = logits
        self._dense = dense

    @property
    def shape(self) -> torch.Size:
        return (self._dense if self._dense is not None else self.logits).shape

    def dense(self) -> torch.Tensor:
        """Float64 probabilities ``[n, L, V]`` (a tensor never modified afterwards)."""
        if self._dense is None:
            self._dense = softmax64(self.logits)
        return self._dense

    def __getitem__(self, selection) -> torch.Tensor:
        """Float64 probabilities of the positions picked by ``selection`` (indices on ``n, L``)."""
        if self._dense is not None:
            return self._dense[selection]
        return softmax64(self.logits[selection])

    def to(self, dtype: torch.dtype) -> torch.Tensor:
        """The dense probabilities in ``dtype`` (what a draw over every position reads)."""
        return self.dense().to(dtype)


def as_dense(values: torch.Tensor | Probabilities) -> torch.Tensor:
    """A float64 tensor from :class:`Probabilities` or from a tensor of (unnormalised) masses."""
    if isinstance(values, Probabilities):
        return values.dense()
    return values.to(torch.float64)
