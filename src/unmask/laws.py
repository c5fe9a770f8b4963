"""Per-position laws over the values of a vocabulary, materialised a few rows at a time.

A sampler step hands the step context a law over the ``V`` values of every position of ``[n, L]``:
the model's clean-token probabilities, a combination of two model outputs (the second stage of
the theta-trapezoid), or the uniform process' law of the next value. :class:`Law` is that
object. It never holds a float64 ``[n, L, V]`` tensor: :meth:`Law.rows` computes the float64
masses of the positions a draw or a reduction reads, and :func:`unmask.pieces.at_positions`
decides which positions and in how many pieces. Small problems (exact laws, tests) may ask for
:meth:`Law.dense`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import torch

from .pieces import at_positions, dense_for
from .workspace import Workspace


def value_sum(x: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
    """``x.sum(-1)`` over the values of a floating tensor ``[..., V]``; a product with a vector of
    ones for small ``V``, where a reduction over a short last axis is many times slower."""
    size = x.shape[-1]
    if size > 32 or not x.is_floating_point():
        return x.sum(-1, keepdim=keepdim)
    total = x @ torch.ones(size, dtype=x.dtype, device=x.device)
    return total.unsqueeze(-1) if keepdim else total


def flat_rows(index: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(row, position)`` of flat position indices ``index = row * L + position``."""
    return torch.div(index, length, rounding_mode="floor"), index % length


def per_position(values: torch.Tensor, index: torch.Tensor, length: int) -> torch.Tensor:
    """Entries of a per-row ``[n]`` or per-position ``[n, L]`` (or ``[n, 1]``) tensor at flat
    positions ``index [m]``, as a column ``[m, 1]``."""
    if values.dim() == 1:
        return values[flat_rows(index, length)[0]].unsqueeze(-1)
    if values.shape[-1] == 1:
        return values.reshape(-1)[flat_rows(index, length)[0]].unsqueeze(-1)
    return values.reshape(-1)[index].unsqueeze(-1)


class Law(ABC):
    """Non-negative masses ``[n, L, V]`` (not necessarily normalised) over the values of each
    position, computed on demand a few positions at a time.

    Attributes:
        normalised: True when every row already sums to 1 (probabilities).
    """

    normalised: bool = False

    @property
    @abstractmethod
    def shape(self) -> torch.Size:
        """``(n, L, V)``."""

    @property
    @abstractmethod
    def device(self) -> torch.device:
        """Where the rows are computed."""

    @abstractmethod
    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """Float64 masses ``[m, V]`` of the flat positions ``index [m]`` (``row * L + position``)."""

    def masses(self, index: torch.Tensor, workspace: Workspace | None = None) -> torch.Tensor:
        """Float64 masses ``[m, V]`` proportional to :meth:`rows` (any positive scale per row):
        what a draw reads, which may skip a normalisation. ``workspace``: buffers that the pieces
        of one pass share (the result may be one of them, valid until the next call)."""
        return self.rows(index)

    def probabilities(self, index: torch.Tensor) -> torch.Tensor:
        """Float64 rows ``[m, V]`` normalised to sum to 1."""
        rows = self.rows(index)
        return rows if self.normalised else normalised(rows)

    @abstractmethod
    def take(self, index: torch.Tensor) -> Law:
        """The law of the rows ``index [k]`` of the leading axis (``[k, L, V]``)."""

    def dense(self) -> torch.Tensor:
        """Every row at once, float64 ``[n, L, V]``: for small problems only."""
        n, length, size = self.shape
        index = torch.arange(n * length, device=self.device)
        return self.rows(index).reshape(n, length, size)


class DenseLaw(Law):
    """A law given as a tensor of masses ``[n, L, V]`` (any float dtype; rows are read in float64)."""

    def __init__(self, values: torch.Tensor) -> None:
        if values.dim() != 3:
            raise ValueError(f"a law must have shape [n, L, V], got shape {tuple(values.shape)}")
        self.values = values

    @property
    def shape(self) -> torch.Size:
        return self.values.shape

    @property
    def device(self) -> torch.device:
        return self.values.device

    def rows(self, index):
        return self.values.reshape(-1, self.values.shape[-1])[index].to(torch.float64)

    def take(self, index):
        return DenseLaw(self.values[index])

    def dense(self):
        return self.values.to(torch.float64)


def as_law(values: Law | torch.Tensor) -> Law:
    """A :class:`Law` from a law or from a tensor of masses ``[n, L, V]``."""
    if isinstance(values, Law):
        return values
    if torch.is_tensor(values):
        return DenseLaw(values)
    raise TypeError(f"values must be a Law or a tensor of masses [n, L, V], got {type(values).__name__}")


def normalised(rows: torch.Tensor) -> torch.Tensor:
    """Rows ``[..., V]`` divided by their sums (rows of zeros stay zero)."""
    total = value_sum(rows, keepdim=True)
    return rows / torch.where(total > 0, total, torch.ones_like(total))


def probability_rows(law: Law, index: torch.Tensor | None = None) -> torch.Tensor:
    """Normalised float64 rows of ``law``: of the flat positions ``index [m]`` (``[m, V]``), or of
    every position (``[n, L, V]``) when ``index`` is None."""
    if index is not None:
        return law.probabilities(index)
    rows = law.dense()
    return rows if law.normalised else normalised(rows)


#: Laws with at most this many values are computed in one piece on the host, and their rows kept.
SMALL_LAW_VALUES = 1 << 24

#: ``combine(rows, index) -> raw intensities [m, V]`` from the normalised rows ``[m, V]`` of each
#: part at the flat positions ``index [m]`` (read per-row and per-position values there with
#: :func:`per_position`).
Combine = Callable[[Sequence[torch.Tensor], torch.Tensor], torch.Tensor]


class ClippedCombination(Law):
    """The positive part of a combination of laws, with a fallback where nothing is positive.

    ``raw = combine([normalised rows of each part], index)`` gives signed intensities ``[m, V]``;
    the masses are ``raw_+`` where ``sum_v raw_+ > 0`` and the rows of part ``fallback`` elsewhere
    (a draw there happens only on a forced last step). :meth:`totals_and_clipped` gives
    ``sum_v raw_+`` and the clipped mass ``sum_v (-raw)_+`` per position: the theta-trapezoid and
    theta-RK-2 second stages (spec §2.4) are such laws.
    """

    def __init__(self, parts: Sequence[Law], combine: Combine, fallback: int = 0) -> None:
        self.parts = tuple(parts)
        self.combine = combine
        self.fallback = fallback
        self._kept: tuple[torch.Tensor, torch.Tensor] | None = None  # (positions, rows) computed last

    @property
    def shape(self):
        return self.parts[0].shape

    @property
    def device(self):
        return self.parts[0].device

    def _evaluate(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(raw, rows)`` ``[m, V]`` at flat positions ``index``."""
        parts = [probability_rows(part, index) for part in self.parts]
        raw = self.combine(parts, index)
        positive = raw.clamp(min=0)
        empty = value_sum(positive, keepdim=True) <= 0
        return raw, torch.where(empty, parts[self.fallback], positive)

    def _kept_rows(self, index: torch.Tensor) -> torch.Tensor | None:
        """The kept normalised rows at ``index``, when every position of it was kept."""
        if self._kept is None:
            return None
        kept, rows = self._kept
        if len(kept) == len(index) and torch.equal(kept, index):
            return rows
        slot = torch.full((self.shape[0] * self.shape[1],), -1, dtype=torch.long, device=self.device)
        slot[kept] = torch.arange(len(kept), device=self.device)
        found = slot[index]
        return rows[found] if bool((found >= 0).all()) else None

    def rows(self, index):
        kept = self._kept_rows(index)
        return kept if kept is not None else self._evaluate(index)[1]

    def probabilities(self, index):
        kept = self._kept_rows(index)
        return kept if kept is not None else normalised(self._evaluate(index)[1])

    def take(self, index):
        raise TypeError("a combination of laws is built from aligned parts; align the parts, not the law")

    def totals_and_clipped(self, where: torch.Tensor, dense: bool | None = None):
        """``(sum_v raw_+, sum_v (-raw)_+)``, float64 ``[n, L]`` each, at ``where`` (0 elsewhere).

        A small law on the host is computed at those positions in one piece, and its rows are kept
        for the draws or enumeration that follow at (a subset of) the same positions.
        """
        n, length, size = self.shape
        if n * length * size <= SMALL_LAW_VALUES and not (
            dense if dense is not None else dense_for(self.device)
        ):
            index = where.reshape(-1).nonzero().squeeze(-1)
            parts = [probability_rows(part, index) for part in self.parts]
            raw = self.combine(parts, index)
            positive = raw.clamp(min=0)
            total, clipped = value_sum(positive), value_sum(positive - raw)
            empty = (total <= 0).unsqueeze(-1)
            rows = torch.where(
                empty, parts[self.fallback], positive / torch.where(empty, 1.0, total.unsqueeze(-1))
            )
            self._kept = (index, rows)
            out = torch.zeros(2, n * length, dtype=torch.float64, device=self.device)
            out[0, index], out[1, index] = total, clipped
            return out[0].reshape(n, length), out[1].reshape(n, length)

        def compute(index):
            raw = self.combine([probability_rows(part, index) for part in self.parts], index)
            total = value_sum(raw.clamp(min=0))
            clipped = -value_sum(raw.clamp(max=0) if raw.requires_grad else raw.clamp_(max=0))
            return total, clipped

        zero = (0.0, torch.float64)
        return at_positions(where, compute, size, (zero, zero), dense)
