"""Clean-token probabilities defined by a model's logits, read a few positions at a time.

A denoiser returns logits ``[n, L, V]`` in its own dtype (bf16 on a GPU is fine). Samplers need
float64 probabilities, but only at the positions a step draws from, and reductions per position
(the log-normaliser, the probability of a given token, the largest probability, the margin, the
entropy) that planners and estimators read. :class:`Probabilities` keeps the logits as they are
and gives

* :meth:`~Probabilities.rows`: the float64 softmax of selected positions (what a draw reads);
* per-position reductions ``[n, L]`` computed from the logits with float32 or float64
  accumulation, a bounded number of positions at a time (:mod:`unmask.pieces`), so that no
  float64 (or float32) ``[n, L, V]`` tensor ever exists;
* :meth:`~Probabilities.dense`: every position at once in float64, for small problems only.

A :class:`Probabilities` may read its logits through a row map (``rows=``): the rows ``[n]`` of
a larger logits tensor ``[N, L, V]`` that it stands for, so that a cache of model outputs can hand
out a subset of its rows without copying them.
"""

from __future__ import annotations

import torch

from .laws import Law, flat_rows, value_sum
from .pieces import at_positions


def softmax64(logits: torch.Tensor) -> torch.Tensor:
    """``softmax(logits)`` over the last axis in float64, in a new tensor (the input is untouched).

    The same numbers as ``torch.softmax(logits.to(torch.float64), -1)``; without autograd the
    softmax is taken in place in the float64 copy (one buffer).
    """
    if logits.requires_grad and torch.is_grad_enabled():
        return torch.softmax(logits.to(torch.float64), dim=-1)
    buffer = logits.to(torch.float64, copy=True)
    return torch.softmax(buffer, dim=-1, out=buffer) if buffer.numel() else buffer


def log_softmax64(logits: torch.Tensor) -> torch.Tensor:
    """``log_softmax(logits)`` over the last axis in float64 (a new tensor)."""
    return torch.log_softmax(logits.to(torch.float64), dim=-1)


class Probabilities(Law):
    """Probabilities ``[n, L, V]`` defined by ``logits`` (or by float64 ``dense`` probabilities).

    Args:
        logits: ``[N, L, V]`` in the model's dtype.
        dense: float64 probabilities ``[N, L, V]`` already normalised (exact denoisers, tests).
        rows: LongTensor ``[n]``: this object stands for rows ``rows`` of the ``N`` given ones
            (default: all of them, ``n = N``).
    """

    normalised = True

    def __init__(
        self,
        logits: torch.Tensor | None = None,
        *,
        dense: torch.Tensor | None = None,
        rows: torch.Tensor | None = None,
    ):
        if (logits is None) == (dense is None):
            raise ValueError("give Probabilities either logits or dense probabilities, not both")
        self.logits = logits
        self._probs = dense
        self.row_map = rows

    # -- the source rows ------------------------------------------------------------------------
    @property
    def source(self) -> torch.Tensor:
        """The logits (or dense probabilities) ``[N, L, V]`` this object reads."""
        return self.logits if self.logits is not None else self._probs

    @property
    def shape(self) -> torch.Size:
        n, length, size = self.source.shape
        return torch.Size((len(self.row_map) if self.row_map is not None else n, length, size))

    @property
    def device(self) -> torch.device:
        return self.source.device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the model's logits (float64 for dense probabilities)."""
        return self.source.dtype

    def gather(self, index: torch.Tensor) -> torch.Tensor:
        """Source rows ``[m, V]`` (logits in the model's dtype, or dense probabilities) of the flat
        positions ``index [m]``."""
        source = self.source
        length = source.shape[1]
        if self.row_map is not None:
            row, position = flat_rows(index, length)
            index = self.row_map[row] * length + position
        if source.is_contiguous():  # whole rows copied at once
            return source.view(-1, source.shape[-1]).index_select(0, index)
        row, position = flat_rows(index, length)
        return source[row, position]

    def take(self, index: torch.Tensor) -> Probabilities:
        rows = index if self.row_map is None else self.row_map[index]
        if self.logits is not None:
            return Probabilities(self.logits, rows=rows)
        return Probabilities(dense=self._probs, rows=rows)

    # -- float64 rows ---------------------------------------------------------------------------
    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """Float64 probabilities ``[m, V]`` of the flat positions ``index [m]``."""
        picked = self.gather(index)
        return softmax64(picked) if self.logits is not None else picked

    def masses(self, index: torch.Tensor) -> torch.Tensor:
        """Float64 ``exp(logit - max logit)`` ``[m, V]`` of the flat positions ``index`` (the
        probabilities up to a factor per row; one pass fewer than :meth:`rows`)."""
        picked = self.gather(index)
        if self.logits is None:
            return picked
        values = picked.to(torch.float64, copy=True)
        top = values.detach().amax(-1, keepdim=True)
        if values.requires_grad and torch.is_grad_enabled():
            return (values - top).exp()
        return values.sub_(top).exp_()

    def log_rows(self, index: torch.Tensor) -> torch.Tensor:
        """Float64 log-probabilities ``[m, V]`` of the flat positions ``index [m]``."""
        picked = self.gather(index)
        return log_softmax64(picked) if self.logits is not None else picked.log()

    def dense(self) -> torch.Tensor:
        """Float64 probabilities ``[n, L, V]`` of every position: for small problems only."""
        source = self.source if self.row_map is None else self.source.index_select(0, self.row_map)
        return softmax64(source) if self.logits is not None else source

    # -- per-position reductions ----------------------------------------------------------------
    def _reduce(self, compute, outputs, dtype: torch.dtype, where: torch.Tensor | None = None):
        """Per-position reductions of the logits, computed a piece at a time.

        ``compute(logits [m, V] in the model's dtype, index [m]) -> tuple of [m]``; dense
        probabilities are passed as their logarithm.
        """
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"accumulation dtype must be torch.float32 or torch.float64, got {dtype}")
        n, length, size = self.shape
        if where is None:
            where = torch.ones(n, length, dtype=torch.bool, device=self.device)

        def run(index):
            picked = self.gather(index)
            return compute(picked if self.logits is not None else picked.log(), index)

        return at_positions(where, run, size, outputs)

    def log_normalizer(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``log sum_v exp(logit_v)`` per position ``[n, L]`` (0 for dense probabilities)."""
        (out,) = self._reduce(lambda rows, index: (logsumexp_rows(rows, dtype),), ((0.0, dtype),), dtype)
        return out

    def log_prob_of(
        self, tokens: torch.Tensor, dtype: torch.dtype = torch.float64, where: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``log p(tokens)`` per position ``[n, L]`` for ``tokens [n, L]`` in ``0..V-1`` (0 outside
        ``where`` when given)."""
        flat = tokens.reshape(-1)

        def compute(rows, index):
            chosen = rows.gather(-1, flat[index].clamp(0, rows.shape[-1] - 1).unsqueeze(-1)).squeeze(-1)
            return (chosen.to(dtype) - logsumexp_rows(rows, dtype),)

        (out,) = self._reduce(compute, ((0.0, dtype),), dtype, where)
        return out

    def prob_of(self, tokens: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``p(tokens)`` per position ``[n, L]``."""
        return self.log_prob_of(tokens, dtype).exp()

    def max_prob(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """The largest probability per position ``[n, L]``."""

        def compute(rows, index):
            return ((rows.amax(-1).to(dtype) - logsumexp_rows(rows, dtype)).exp(),)

        (out,) = self._reduce(compute, ((0.0, dtype),), dtype)
        return out

    def argmax(self) -> torch.Tensor:
        """The most probable token per position, LongTensor ``[n, L]`` (the first on ties)."""
        (out,) = self._reduce(lambda rows, index: (rows.argmax(-1),), ((0, torch.long),), torch.float32)
        return out

    def margin(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """The largest probability minus the second largest, per position ``[n, L]`` (1 for ``V = 1``)."""

        def compute(rows, index):
            if rows.shape[-1] == 1:
                return (torch.ones(len(rows), dtype=dtype, device=rows.device),)
            top = rows.topk(2, dim=-1).values.to(dtype)
            return ((top - logsumexp_rows(rows, dtype).unsqueeze(-1)).exp().diff(dim=-1).neg().squeeze(-1),)

        (out,) = self._reduce(compute, ((0.0, dtype),), dtype)
        return out

    def entropy(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """Shannon entropy ``-sum_v p_v log p_v`` (nats) per position ``[n, L]``."""

        def compute(rows, index):
            values = rows.to(dtype)
            log_probs = values - logsumexp_rows(rows, dtype).unsqueeze(-1)
            terms = torch.where(log_probs > -torch.inf, log_probs.exp() * log_probs, 0.0)
            return (-terms.sum(-1),)

        (out,) = self._reduce(compute, ((0.0, dtype),), dtype)
        return out


def logsumexp_rows(rows: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``log sum_v exp(rows[:, v])`` ``[m]`` in ``dtype`` from rows ``[m, V]`` in any float dtype
    (entries may be ``-inf``, not all of them): ``max + log sum exp(rows - max)``, the shifted
    exponentials formed in one ``dtype`` buffer."""
    top = rows.detach().amax(-1, keepdim=True)
    if rows.requires_grad and torch.is_grad_enabled():
        shifted = rows.to(dtype) - top.to(dtype)
        return (top.to(dtype) + torch.logsumexp(shifted, -1, keepdim=True)).squeeze(-1)
    shifted = rows.to(dtype, copy=True).sub_(top).exp_()
    return top.squeeze(-1).to(dtype) + value_sum(shifted).log()
