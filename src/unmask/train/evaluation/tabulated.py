"""``TabulatedDenoiser``: a time-agnostic model evaluated at most once per partial state.

Exact output laws of samplers driven by a model (:func:`unmask.exact.run_law` with ``denoiser=``)
call the model on the partial states each step reaches. From the second step on almost every state
of ``{0, .., V}^L`` (each position a token or the mask id ``V``) is reached, so comparing many
samplers would evaluate the same states again and again. A time-agnostic model's output depends on
the state alone: this wrapper keeps a table of its logits indexed by the state code
``sum_i z_i (V + 1)^(L - 1 - i)`` (first position most significant) and calls the model (through
:class:`~.chunked.ChunkedDenoiser`: pieces of ``rows_per_call`` rows, no autograd) only on the
states it has not seen. After the first law (first-hitting reaches 325,089 of the 390,625 states
of ``V = 4, L = 8``) every further law costs only its dynamic program.

A lookup returns the very logits the model returned for that state (in its dtype), so exact laws
computed through the table equal those computed from the model. The table holds
``(V + 1)^L * L * V`` logits (50 MB of float32 for ``V = 4, L = 8``), at most
:data:`MAX_TABLE_ENTRIES`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ... import checks
from ...denoisers import is_time_agnostic
from .chunked import ROWS_PER_CALL, ChunkedDenoiser

#: The most logits a table may hold (64 MiB of float32): ``(V + 1)^L * L * V``.
MAX_TABLE_ENTRIES = 1 << 24

#: ``progress(evaluated, states)`` after each model call: states evaluated so far, of all.
Progress = Callable[[int, int], None]


def table_entries(vocab_size: int, length: int) -> int:
    """The number of logits of the table of ``V = vocab_size``, ``L = length``: ``(V+1)^L L V``."""
    return (vocab_size + 1) ** length * length * vocab_size


def can_tabulate(model: Any, vocab_size: int, length: int) -> bool:
    """Whether :class:`TabulatedDenoiser` takes ``model``: time-agnostic, with a table of at most
    :data:`MAX_TABLE_ENTRIES` logits."""
    return is_time_agnostic(model) and table_entries(vocab_size, length) <= MAX_TABLE_ENTRIES


class TabulatedDenoiser:
    """``model`` with a table of its logits per partial state (module docstring).

    Args:
        model: a time-agnostic denoiser ``f(x_t [B, L], t [B]) -> logits [B, L, V]``.
        vocab_size: ``V``.
        length: ``L``.
        rows_per_call: the most rows of one model call.
        progress: called as ``progress(evaluated, states)`` after the model is called.

    Attributes:
        time_agnostic: True.
        vocab_size, length: ``V``, ``L``.
        evaluated: the number of states the model has been called on.
    """

    time_agnostic = True

    def __init__(
        self,
        model: Any,
        vocab_size: int,
        length: int,
        rows_per_call: int = ROWS_PER_CALL,
        progress: Progress | None = None,
    ):
        self.vocab_size = checks.positive_int("vocab_size", vocab_size)
        self.length = checks.positive_int("length", length)
        if not is_time_agnostic(model):
            raise ValueError(
                "the model is time-conditioned (no time_agnostic = True): its output depends on t, so "
                "it cannot be tabulated over the states alone; use ChunkedDenoiser(model) instead"
            )
        entries = table_entries(vocab_size, length)
        if entries > MAX_TABLE_ENTRIES:
            raise ValueError(
                f"a table of V = {vocab_size}, L = {length} would hold (V + 1)^L * L * V = {entries:,} "
                f"logits, above the limit {MAX_TABLE_ENTRIES:,}; use ChunkedDenoiser(model) instead"
            )
        self.model = ChunkedDenoiser(model, rows_per_call)
        self.states = (vocab_size + 1) ** length
        self._powers = (vocab_size + 1) ** torch.arange(length - 1, -1, -1)
        self._known = torch.zeros(self.states, dtype=torch.bool)
        self._table: torch.Tensor | None = None
        self.progress = progress

    @property
    def evaluated(self) -> int:
        """The number of states the model has been called on so far."""
        return int(self._known.sum())

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The logits ``[B, L, V]`` of the rows ``x_t [B, L]`` (``t`` is not read), on ``x_t``'s
        device; the model is called on the rows whose state it has not seen yet."""
        if x_t.dim() != 2 or x_t.shape[1] != self.length:
            raise ValueError(f"x_t must have shape [B, {self.length}], got {tuple(x_t.shape)}")
        codes = (x_t.cpu().long() * self._powers).sum(-1)
        self._evaluate(codes[~self._known[codes]])
        assert self._table is not None  # a call with no rows before any other has nothing to return
        return self._table[codes].to(x_t.device)

    def fill(self) -> None:
        """Evaluate the model on every state it has not seen (then it is never called again)."""
        self._evaluate(torch.arange(self.states)[~self._known])

    def _evaluate(self, missing: torch.Tensor) -> None:
        """Call the model on the distinct states of the codes ``missing`` and keep their logits."""
        if not len(missing):
            return
        fresh = torch.unique(missing)
        for start in range(0, len(fresh), self.model.rows_per_call):
            codes = fresh[start : start + self.model.rows_per_call]
            rows = torch.div(codes[:, None], self._powers, rounding_mode="floor") % (self.vocab_size + 1)
            logits = self.model(rows, torch.zeros(len(rows), dtype=torch.float64)).cpu()
            if logits.shape[1:] != (self.length, self.vocab_size):
                raise ValueError(
                    f"the model returned logits of shape {tuple(logits.shape)} for {len(rows)} rows of "
                    f"length {self.length}; a denoiser returns [B, L, V] with V = {self.vocab_size}"
                )
            if self._table is None:
                self._table = torch.empty(self.states, self.length, self.vocab_size, dtype=logits.dtype)
            self._table[codes] = logits
            self._known[codes] = True
            if self.progress is not None:
                self.progress(self.evaluated, self.states)
