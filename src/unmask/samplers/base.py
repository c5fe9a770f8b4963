"""What a sampler is, and the set of moves a step may make.

A sampler is a frozen dataclass holding only hyperparameters, with a pure :meth:`Sampler.step`
that maps ``(z, t)`` to the next ``(z, t)``. It never draws random numbers or calls the model
itself: it asks a :class:`StepContext`. Two contexts implement every operation: the one that
draws (:mod:`unmask.samplers.drawing`) and the one that enumerates every outcome with its exact
probability (:mod:`unmask.exact.enumeration`). Writing a step once against this interface is what
gives every sampler an exact output law, checked against what it draws.

Positions that are fixed (a prompt's tokens, padding) are never changed by any operation, and
never count as masked. States ``z`` hold integer ids: int64 when drawing, possibly a narrower
integer type (uint8) in the enumerating context, so a step that indexes with them takes
``.long()`` first.

A step may keep a per-position memory between steps (:meth:`StepContext.memory`,
:meth:`StepContext.remember`: ReMDM-conf's confidence in each revealed token). Only the drawing
context holds one: the enumerating context's states are the ``z`` alone, and a continuous memory
would branch the law over (state, memory) pairs that its dynamic program does not merge, so it
refuses (a sampler that keeps one says so in :meth:`Sampler.exact_law_refusal`, and the exact
laws refuse it before any work).

Operations that branch (every move, and :meth:`StepContext.select`) change the rows of the state
in the enumerating context. A per-row tensor computed before such an operation (a time, a model
output) must be matched to the rows after it with :meth:`StepContext.align`; the enumerating
context changes the number of rows at every such operation, so a tensor that was not aligned
fails with a shape error instead of giving a wrong law.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import ClassVar

import torch

from ..laws import Law
from ..probabilities import Probabilities
from ..processes import MaskedProcess, Process

#: Per-row probabilities ``[n, 1]``, per-position ``[n, L]``, or a bool selection ``[n, L]``.
Prob = torch.Tensor


class StepContext(ABC):
    """The operations a sampler step may use.

    Attributes:
        vocab_size: ``V``; the mask id is ``V``.
        process: the forward process.
        free: bool ``[n, L]``: the positions that may change (not prompt, not padding).
        lengths: LongTensor ``[n]``: the positions that exist in each row (padding excluded).
    """

    vocab_size: int
    process: Process

    @property
    @abstractmethod
    def free(self) -> torch.Tensor: ...

    @property
    @abstractmethod
    def lengths(self) -> torch.Tensor: ...

    # -- the model ---------------------------------------------------------------------------------
    @abstractmethod
    def denoise(self, z: torch.Tensor, t: torch.Tensor) -> Probabilities:
        """Model probabilities ``[n, L, V]`` for states ``z [n, L]`` at times ``t [n]``."""

    @abstractmethod
    def loo(self, z: torch.Tensor, t: torch.Tensor) -> Probabilities:
        """Leave-one-out probabilities ``[n, L, V]``: at position ``i``, the model's law of ``x_i``
        given ``z`` with position ``i`` masked (the denoiser's ``loo`` method when it has one,
        otherwise one masked position at a time)."""

    # -- masked-process moves ----------------------------------------------------------------------
    @abstractmethod
    def move(self, z: torch.Tensor, prob: Prob, values: Law | torch.Tensor) -> torch.Tensor:
        """Reveal each masked position with probability ``prob`` (``[n, 1]``, ``[n, L]``, or a
        bool ``[n, L]`` selection); a revealed position takes a value drawn from ``values [n, L, V]``
        (masses, normalised here)."""

    @abstractmethod
    def select(
        self,
        z: torch.Tensor,
        eligible: torch.Tensor,
        count: torch.Tensor,
        weights: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Choose ``min(count[b], #eligible)`` of the ``eligible [n, L]`` free positions of each row
        without replacement: uniformly (``weights`` None) or by successive sampling proportional to
        ``weights [n, L]`` (positive where eligible). Returns ``(z, chosen [n, L])``; ``z`` is
        unchanged in value but matched to the branched rows."""

    @abstractmethod
    def remask(self, z: torch.Tensor, prob: Prob) -> torch.Tensor:
        """Turn each clean free position back into the mask id with probability ``prob``."""

    @abstractmethod
    def resample(self, z: torch.Tensor, prob: Prob, values: Law | torch.Tensor) -> torch.Tensor:
        """With probability ``prob``, give each clean free position a value drawn from ``values``
        (possibly its current value)."""

    def reveal(self, z: torch.Tensor, chosen: torch.Tensor, values: Law | torch.Tensor) -> torch.Tensor:
        """Reveal the masked positions in ``chosen [n, L]`` with values drawn from ``values``."""
        return self.move(z, chosen, values)

    def reveal_scored(
        self, z: torch.Tensor, chosen: torch.Tensor, values: Probabilities
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`reveal`, and the probability under ``values`` of each value drawn: float64
        ``[n, L]`` (0 outside ``chosen``), both on the rows of the state after the move.

        Here the probabilities are read from ``values`` again in float64; the drawing context
        returns those its draw computed, with no second pass over the logits."""
        drawn = self.reveal(z, chosen, values)
        values, chosen = self.align(values), self.align(chosen)
        log_prob = values.log_prob_of(drawn.long(), torch.float64, where=chosen)
        return drawn, torch.where(chosen, log_prob.exp(), 0.0)

    def choose(self, z: torch.Tensor, count: torch.Tensor, values: Law | torch.Tensor) -> torch.Tensor:
        """Reveal ``min(count[b], #masked)`` masked positions chosen uniformly without replacement,
        each with a value drawn from ``values``."""
        z, chosen = self.select(z, self.masked(z), count)
        return self.reveal(z, chosen, self.align(values))

    # -- uniform-process move ----------------------------------------------------------------------
    @abstractmethod
    def jump(self, z: torch.Tensor, law) -> torch.Tensor:
        """Each free position takes a value drawn from ``law`` (a
        :class:`~unmask.processes.jumps.JumpLaw`, whose mass on the current value is staying)."""

    # -- bookkeeping -------------------------------------------------------------------------------
    @abstractmethod
    def uniform(self, z: torch.Tensor) -> torch.Tensor:
        """One uniform number in (0, 1) per row of ``z`` (float64 ``[n]``)."""

    @abstractmethod
    def align(self, x):
        """``x`` (a tensor or probabilities with one row per state at the start of the step)
        matched to the rows of the state now."""

    @abstractmethod
    def record(self, name: str, values: torch.Tensor) -> None:
        """Accumulate a per-row diagnostic ``values [n]`` under ``name``."""

    @abstractmethod
    def memory(self, name: str, fill: float) -> torch.Tensor:
        """The per-position memory ``name`` of the step's rows, float64 ``[n, L]`` (one row per
        state at the start of the step), as :meth:`remember` last stored it; filled with ``fill``
        for a row that never stored it. The enumerating context raises ``ValueError``."""

    @abstractmethod
    def remember(self, name: str, values: torch.Tensor) -> None:
        """Store ``values [n, L]`` (float64; one row per state at the start of the step) as the
        memory ``name`` of the step's rows, read by :meth:`memory` in later steps; rows outside
        the step keep theirs. A step reads a memory with :meth:`memory` before it first stores it
        (which fixes the fill of the rows that never stored it). The enumerating context raises
        ``ValueError``."""

    def masked(self, z: torch.Tensor) -> torch.Tensor:
        """Bool ``[n, L]``: free positions holding the mask id."""
        return (z == self.vocab_size) & self.free

    def clean(self, z: torch.Tensor) -> torch.Tensor:
        """Bool ``[n, L]``: free positions holding a clean token."""
        return (z != self.vocab_size) & self.free


@dataclass(frozen=True)
class Sampler(ABC):
    """A sampling algorithm: hyperparameters plus one pure step.

    Class attributes:
        name: the registry name.
        process_type: the process class it samples.
        calls_per_step: denoiser calls one step makes (2 for the two-stage methods).
        uses_grid: True if the step goes from grid time ``t`` to ``s``; False for event-driven
            samplers that set their own times (first-hitting, k-random).
        exact: True if its output law equals the model's for any number of calls (first-hitting).
        takes_steps: False if the sampler fixes its number of steps itself (``steps`` is refused).
    """

    name: ClassVar[str]
    process_type: ClassVar[type[Process]] = MaskedProcess
    calls_per_step: ClassVar[int] = 1
    uses_grid: ClassVar[bool] = True
    exact: ClassVar[bool] = False
    takes_steps: ClassVar[bool] = True

    @abstractmethod
    def step(
        self, ctx: StepContext, z: torch.Tensor, t: torch.Tensor, s: torch.Tensor | None, index: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step from ``z [n, L]`` at times ``t [n]`` to the next state and times.

        Grid samplers receive the next grid time ``s [n]`` (``s = 0`` is the last step, which must
        reveal everything still masked) and return ``(z', s)``. Event-driven samplers receive
        ``s = None`` and the step ``index`` and return their own new times. The returned times have
        one row per state at the start of the step (the caller aligns them with ``z'``).
        """

    def resolve(self, steps: int | None, length: int) -> Sampler:
        """Hook for samplers whose configuration depends on ``steps`` (for example block sizes)."""
        return self

    def active(self, ctx: StepContext, z: torch.Tensor, index: int) -> torch.Tensor:
        """Bool ``[n]``: the rows that take step ``index``; sampling ends when none does (a grid
        sampler also ends with its grid)."""
        return ctx.process.has_work(ctx, z)

    def max_steps(self, length: int) -> int | None:
        """The most steps an event-driven sampler may take on ``length`` positions (a bug guard),
        or None when the grid bounds them."""
        return None if self.uses_grid else length

    def exact_law_refusal(self) -> str | None:
        """Why the exact output law of this sampler cannot be computed (:mod:`unmask.exact`), or
        None when it can. The default: the first refusal of a sampler among its fields (a
        predictor-corrector's predictor), prefixed with the field's name."""
        for field in fields(self):
            part = getattr(self, field.name)
            if isinstance(part, Sampler):
                reason = part.exact_law_refusal()
                if reason is not None:
                    return f"{field.name}: {reason}"
        return None

    def predicted_order(self, clipped_mass: float | None, tv: float) -> tuple[str, str]:
        """The convergence order (in NFE) the theory predicts, and why (spec §4)."""
        if self.exact:
            return "exact", "exact sampler: TV at the float64 floor"
        return "1", "first order: factorisation error of simultaneous moves"


def force_last(probability: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Probability 1 where ``s == 0``: the last step reveals every token still masked (spec §9.2)."""
    s = s.reshape(-1, *([1] * (probability.dim() - 1)))
    return torch.where(s <= 0, torch.ones_like(probability), probability)
