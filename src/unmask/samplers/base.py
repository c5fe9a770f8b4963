"""What a sampler is, and the small set of moves it may make.

A sampler is a frozen dataclass holding only hyperparameters, with a pure :meth:`Sampler.step`
that maps ``(z, t)`` to the next ``(z, t)``. It never draws random numbers or calls the model
itself: it asks a :class:`StepContext` to

* ``denoise(z, t)``: clean-token probabilities ``[n, L, V]`` from the model, as
  :class:`~unmask.probabilities.Probabilities` (``.dense()`` gives the float64 tensor; passed as
  they are to ``move``/``choose``, only the drawn positions are converted);
* ``move(z, move_prob, values)``: masked process, each masked position is revealed with
  probability ``move_prob`` and then takes a value drawn from ``values`` (whether before which);
* ``choose(z, count, values)``: masked process, ``count`` masked positions chosen uniformly at
  random are revealed with values drawn from ``values``;
* ``jump(z, law)``: uniform process, each free position takes a new value drawn from ``law``
  (which includes staying put);
* ``uniform()``: one uniform number per row (for random times);
* ``align(x)``: rows of a tensor computed at the start of the step, matched to the current rows;
* ``record(name, values)``: a per-row diagnostic (for example the clipped mass of §2.4).

Two contexts implement these: the sampling driver (:mod:`unmask.samplers.driver`), which draws,
and the exact-law dynamic program (:mod:`unmask.exact.laws`), which enumerates every outcome with
its probability. Writing a step once against this interface is what lets the exact law and the
sampler check each other.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

from ..probabilities import Probabilities
from ..processes import Process


class StepContext(ABC):
    """The operations a sampler step may use (see the module docstring)."""

    vocab_size: int
    process: Process

    @abstractmethod
    def denoise(self, z: torch.Tensor, t: torch.Tensor) -> Probabilities:
        """Model probabilities ``[n, L, V]`` for states ``z [n, L]`` at times ``t [n]``; call
        ``.dense()`` for the float64 tensor."""

    @abstractmethod
    def move(
        self, z: torch.Tensor, move_prob: torch.Tensor, values: torch.Tensor | Probabilities
    ) -> torch.Tensor:
        """Reveal each masked position of ``z`` with probability ``move_prob [n, L]`` (or ``[n, 1]``);
        a revealed position takes a value drawn from ``values [n, L, V]`` (normalised here)."""

    @abstractmethod
    def choose(
        self, z: torch.Tensor, count: torch.Tensor, values: torch.Tensor | Probabilities
    ) -> torch.Tensor:
        """Reveal ``min(count[b], #masked)`` masked positions chosen uniformly without replacement,
        each with a value drawn from ``values [n, L, V]``."""

    @abstractmethod
    def jump(self, z: torch.Tensor, law: torch.Tensor) -> torch.Tensor:
        """Uniform process: each free position takes a value drawn from ``law [n, L, V]``
        (unnormalised; mass on the current value means staying)."""

    @abstractmethod
    def uniform(self, z: torch.Tensor) -> torch.Tensor:
        """One uniform number in (0, 1) per row of ``z`` (float64 ``[n]``)."""

    @abstractmethod
    def align(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` has one row per state at the start of the step; return it matched to ``z`` now."""

    @abstractmethod
    def record(self, name: str, values: torch.Tensor) -> None:
        """Accumulate a per-row diagnostic ``values [n]`` under ``name``."""

    def masked(self, z: torch.Tensor) -> torch.Tensor:
        """Bool ``[n, L]``: positions holding the mask id."""
        return z == self.vocab_size


@dataclass(frozen=True)
class Sampler(ABC):
    """A sampling algorithm: hyperparameters plus one pure step.

    Class attributes:
        name: the registry name.
        process_kind: ``"masked"`` or ``"uniform"``.
        calls_per_step: denoiser calls one step makes (2 for the two-stage methods).
        uses_grid: True if the step goes from grid time ``t`` to ``s``; False for event-driven
            samplers that set their own times (first-hitting, k-random) and stop when nothing is
            masked.
    """

    name: ClassVar[str]
    process_kind: ClassVar[str] = "masked"
    calls_per_step: ClassVar[int] = 1
    uses_grid: ClassVar[bool] = True

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


def force_last(probability: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Probability 1 where ``s == 0``: the last step reveals every token still masked (spec §9.2)."""
    s = s.reshape(-1, *([1] * (probability.dim() - 1)))
    return torch.where(s <= 0, torch.ones_like(probability), probability)
