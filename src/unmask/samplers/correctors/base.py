"""What a corrector is: a move on the clean free positions of a masked state (spec §2.6, §4.8).

A corrector never changes the mask set: it resamples clean free positions from leave-one-out
conditionals, so that with exact conditionals it targets the mask-conditional law ``pi(x_U)``
(the law of the clean tokens given which positions are clean). It is written, like a sampler's
step, against the :class:`~unmask.samplers.base.StepContext`, and so has an exact law too. It runs
inside a step of a :class:`~unmask.samplers.correctors.PredictorCorrector`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

from ..base import StepContext


@dataclass(frozen=True)
class Corrector(ABC):
    """A corrector: hyperparameters plus one pure move :meth:`correct`.

    Class attributes:
        name: the corrector's name.
        calls_per_step: leave-one-out calls one move makes (one call with a denoiser that has a
            ``loo`` method, ``L`` calls otherwise).
        keeps_target: True if, with exact leave-one-out conditionals, the move leaves the
            mask-conditional law exactly invariant (uniform Gibbs); False if it has a stationarity
            bias (informed selection, spec §4.8).
    """

    name: ClassVar[str]
    calls_per_step: ClassVar[int] = 1
    keeps_target: ClassVar[bool] = False

    @abstractmethod
    def correct(self, ctx: StepContext, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """One corrector move on the states ``z [n, L]``.

        ``t``: the time at which the leave-one-out conditionals are evaluated, one row per state
        **at the start of the step** (the move matches it to its rows with ``ctx.align``). Returns
        the new states (rows branched in the enumerating context).
        """
