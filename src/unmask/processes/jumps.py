"""The law of a position's next value in a uniform-process step, staying put included.

A uniform-process sampler turns the model's posterior marginals into, per position, a law over the
``V`` values of the next state (mass on the current value is the probability of staying). The
step context draws from it in two stages (spec §2.0): first whether the position leaves its value,
with probability ``sum_{v != z_i} law(v) / sum_v law(v)`` summed over the other values (no
``1 - stay`` cancellation), then which new value, from the law with the current value removed.
:class:`JumpLaw` computes those rows from the rows of the model's probabilities a few positions at
a time; nothing ``[n, L, V]`` is held in float64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..laws import Law, value_sum
from ..pieces import at_positions

#: ``compute(rows, current, index) -> (law [m, V], clipped [m] or None)`` from the float64 rows
#: ``[m, V]`` of each part, the current values ``current [m, 1]`` and the flat positions ``index``.
JumpCompute = Callable[
    [Sequence[torch.Tensor], torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]
]
#: ``leave(where) -> (leave [n, L], clipped [n, L])`` in closed form from per-position reductions.
LeaveRule = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class JumpLaw(Law):
    """Per-position law ``[n, L, V]`` of the next value, computed from the rows of ``parts``.

    Args:
        parts: laws ``[n, L, V]`` whose float64 rows ``compute`` reads (model probabilities).
        z: the current values ``[n, L]``.
        compute: see :data:`JumpCompute`; ``clipped`` is the intensity mass a step lost to
            clipping at that position (None for none).
        records_clipping: the step context records the clipped mass (summed over positions) as the
            diagnostic ``clipped_mass``.
        leave: the leave probabilities and clipped masses in closed form (see :data:`LeaveRule`),
            when the law has one; otherwise they are summed from the rows.
        weight: float64 values of temporaries per value of a row while it is computed (see
            :func:`unmask.pieces.slices`): 1 for a few real passes, more for Fourier transforms.
    """

    def __init__(
        self,
        parts: Sequence[Law],
        z: torch.Tensor,
        compute: JumpCompute,
        records_clipping: bool = False,
        leave: LeaveRule | None = None,
        weight: int = 1,
    ) -> None:
        self.parts = tuple(parts)
        self.z = z
        self.compute = compute
        self.records_clipping = records_clipping
        self.leave = leave
        self.weight = weight

    @property
    def shape(self):
        return self.parts[0].shape

    @property
    def device(self):
        return self.z.device

    def current(self, index: torch.Tensor) -> torch.Tensor:
        """The current values ``[m, 1]`` at flat positions ``index``; a fixed position may hold an
        id outside the vocabulary (padding), which is clamped: its row is never used."""
        return self.z.reshape(-1)[index].long().clamp(0, self.shape[-1] - 1).unsqueeze(-1)

    def evaluate(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(law [m, V], clipped [m] or None)`` at flat positions ``index``."""
        return self.compute([part.rows(index) for part in self.parts], self.current(index), index)

    def rows(self, index):
        return self.evaluate(index)[0]

    def take(self, index):
        raise TypeError("a jump law is built from aligned parts; align the parts, not the law")

    def leave_and_clipped(self, where: torch.Tensor, dense: bool | None = None):
        """``(leave, clipped)``, float64 ``[n, L]``: the probability that a position leaves its value,
        ``sum_{v != z_i} law(v) / sum_v law(v)``, and the clipped intensity mass (0 outside ``where``)."""
        if self.leave is not None:
            leave, clipped = self.leave(where)
            return torch.where(where, leave, 0.0), torch.where(where, clipped, 0.0)

        def run(index):
            law, clipped = self.evaluate(index)
            current = self.current(index)
            others = value_sum(law.scatter(-1, current, 0.0))
            leave = others / value_sum(law)
            return leave, clipped if clipped is not None else torch.zeros_like(leave)

        zero = (0.0, torch.float64)
        return at_positions(where, run, self.shape[-1], (zero, zero), dense, self.weight)
