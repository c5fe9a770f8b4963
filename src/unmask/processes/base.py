"""What a forward process provides to samplers, exact laws and estimators.

Nothing outside a process module asks which process it has: the driver, the exact-law runner and
the benchmark ask the process itself for its start state, its end time, what a finished row is
and how sampling ends. A third process is one new module that implements :class:`Process`, plus
the samplers written for it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from ..schedules import Schedule

if TYPE_CHECKING:
    from ..streams import RowStreams


class Process(ABC):
    """A forward corruption process with its reverse-time quantities.

    Attributes:
        name: the registry name of its samplers (``"masked"``, ``"uniform"``).
        states_formula: the number of states of an exact law, in words.
        schedule: the schedule ``alpha(t)`` that drives it.
    """

    name: ClassVar[str]
    #: How the number of states an exact law enumerates is written (``"partial states (V + 1)^L"``).
    states_formula: ClassVar[str]
    #: Whether ``final_denoise`` is a choice: True where sampling may stop before the last draw
    #: (the uniform process, at ``t_min``); False where the finish always reveals every position.
    optional_final_denoise: ClassVar[bool] = False
    schedule: Schedule

    @property
    @abstractmethod
    def t_end(self) -> float:
        """The time at which sampling stops (0, or ``t_min`` where scores diverge at 0)."""

    @abstractmethod
    def state_base(self, vocab_size: int) -> int:
        """The number of ids a position can hold while sampling (``V + 1`` with a mask id)."""

    @abstractmethod
    def prior_mismatch(self, start_time: float) -> str | None:
        """A warning when starting at ``start_time`` from the sampler's start state is not exact."""

    @abstractmethod
    def start(
        self,
        z: torch.Tensor,
        free: torch.Tensor,
        vocab_size: int,
        streams: RowStreams,
        elements: torch.Tensor,
    ) -> torch.Tensor:
        """The start state ``[B, L]``: ``z`` with its ``free`` positions set to draws from the prior
        (``elements [B, L]`` names each position for the streams)."""

    @abstractmethod
    def has_work(self, ctx: Any, z: torch.Tensor) -> torch.Tensor:
        """Bool ``[n]``: rows that a predictor step can still change."""

    @abstractmethod
    def finish(self, ctx: Any, z: torch.Tensor, t: torch.Tensor, final_denoise: bool) -> torch.Tensor:
        """The last move after the steps (spec §9.2), made through the step context ``ctx``."""

    def finishing_rows(self, ctx: Any, z: torch.Tensor, final_denoise: bool) -> torch.Tensor:
        """Bool ``[n]``: the rows :meth:`finish` changes (the others skip it)."""
        return self.has_work(ctx, z)

    @abstractmethod
    def exact_denoiser(self, target: Any):
        """The exact denoiser of ``target`` for this process."""

    @abstractmethod
    def exact_start(
        self, target: Any, start_time: float, start: str, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """States ``[n, L]`` and their masses ``[n]`` at the start of sampling (exact laws)."""

    @abstractmethod
    def reference_law(self, target: Any, final_denoise: bool) -> torch.Tensor:
        """What a sampler's exact law is compared with (``[V] * L``)."""

    @abstractmethod
    def logits_from_log_score(
        self, log_score: torch.Tensor, z: torch.Tensor, t: torch.Tensor
    ) -> torch.Tensor:
        """Denoiser logits ``[B, L, V]`` from a score model's log concrete scores (spec §1)."""
