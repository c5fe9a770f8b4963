"""Predictor-corrector sampling (spec §2.6): any masked sampler as the predictor, a corrector after
its steps.

Each step of the predictor is followed by ``corrector_steps`` corrector moves at the predictor's
new time (the paper's alternation). ``final_steps`` further moves run after the predictor's last
grid step (grid predictors only). Both run inside the predictor's steps, so the one loop
(:mod:`unmask.samplers.loop`) runs the pair for drawing and for exact laws alike, and the step
count is the predictor's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import torch

from ... import checks
from ...processes import MaskedProcess
from ..ancestral import Euler
from ..base import Sampler, StepContext
from .base import Corrector
from .informed import Informed


def _count(name: str, value: int) -> int:
    value = checks.integer(name, value, "a non-negative integer")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value}")
    return value


@dataclass(frozen=True)
class PredictorCorrector(Sampler):
    """``predictor`` (a masked sampler object), each of its steps followed by ``corrector_steps``
    moves of ``corrector``, and its last grid step by ``final_steps`` more.

    Args:
        predictor: the sampler that reveals tokens (first-hitting, k-random, Euler, ...); Euler
            by default.
        corrector: a :class:`~unmask.samplers.correctors.Corrector`; the informed corrector by
            default.
        corrector_steps: corrector moves after every predictor step (0: none).
        final_steps: corrector moves after the last grid step only (grid predictors). With final
            moves every row takes every grid step (a row whose tokens were all revealed early
            still reaches the last step; its predictor calls are reused by a time-agnostic
            denoiser and count otherwise).
        steps: set by :meth:`resolve` from the run's ``steps`` (the index of the last grid step).

    The properties the driver reads (grid or event-driven, whether ``steps`` are taken, the step
    bound) are the predictor's; ``calls_per_step`` adds the corrector's calls, so that
    ``steps * calls_per_step`` is the budget of a run (final moves excepted: ``final_steps``
    calls more per row).
    """

    predictor: Sampler = field(default_factory=Euler)
    corrector: Corrector = field(default_factory=Informed)
    corrector_steps: int = 1
    final_steps: int = 0
    steps: int | None = None
    name: ClassVar[str] = "predictor-corrector"

    def __post_init__(self) -> None:
        checks.instance(
            "predictor", self.predictor, Sampler, "a Sampler object (first-hitting, k-random, euler, ...)"
        )
        if not issubclass(self.predictor.process_type, MaskedProcess):
            raise ValueError(
                f"correctors resample clean tokens of the masked process; {self.predictor.name!r} "
                f"samples the {self.predictor.process_type.name} process"
            )
        what = "a Corrector object (UniformGibbs, Informed, ForwardBackward)"
        checks.instance("corrector", self.corrector, Corrector, what)
        _count("corrector_steps", self.corrector_steps)
        _count("final_steps", self.final_steps)
        if self.steps is not None:
            checks.positive_int("steps", self.steps)
        if self.final_steps and not self.predictor.uses_grid:
            raise ValueError(
                f"final_steps needs a grid predictor (its last step is known); {self.predictor.name!r} "
                "is event-driven: use corrector_steps, which follow each of its steps"
            )

    # -- what the driver and the loop read: the predictor's --------------------------------------
    @property
    def uses_grid(self) -> bool:  # type: ignore[override]
        return self.predictor.uses_grid

    @property
    def takes_steps(self) -> bool:  # type: ignore[override]
        return self.predictor.takes_steps

    @property
    def exact(self) -> bool:  # type: ignore[override]
        return self.predictor.exact and (
            self.corrector.keeps_target or not (self.corrector_steps or self.final_steps)
        )

    @property
    def calls_per_step(self) -> int:  # type: ignore[override]
        return self.predictor.calls_per_step + self.corrector_steps * self.corrector.calls_per_step

    def resolve(self, steps: int | None, length: int) -> PredictorCorrector:
        predictor = self.predictor.resolve(steps, length)
        if self.final_steps and steps is None:
            raise ValueError(
                "final_steps needs the number of grid steps: pass steps= (with an explicit grid, "
                "steps=len(grid) - 1)"
            )
        return replace(self, predictor=predictor, steps=steps if self.predictor.uses_grid else None)

    def active(self, ctx: StepContext, z: torch.Tensor, index: int) -> torch.Tensor:
        active = self.predictor.active(ctx, z, index)
        if self.final_steps:
            return torch.ones_like(active)  # every row reaches the last step and its final moves
        return active

    def max_steps(self, length: int) -> int | None:
        return self.predictor.max_steps(length)

    def predicted_order(self, clipped_mass, tv):
        if self.exact:
            return "exact", "exact predictor and a corrector that keeps the target"
        return self.predictor.predicted_order(clipped_mass, tv)

    # -- the step ------------------------------------------------------------------------------------
    def _last(self, index: int) -> bool:
        return self.steps is not None and index == self.steps - 1

    def step(self, ctx: StepContext, z, t, s, index):
        z, t_next = self.predictor.step(ctx, z, t, s, index)
        moves = self.corrector_steps + (self.final_steps if self._last(index) else 0)
        for _ in range(moves):
            z = self.corrector.correct(ctx, z, t_next)
        return z, t_next
