"""What a model kind is trained on: its loss, with draws that do not depend on the process count.

Each objective maps the rows of one process, ``x [b, L]`` (rows ``rows`` of the step's global
batch of ``B`` sequences), to the loss of :mod:`unmask.train.losses`, reduced to nats per token
over those rows. A data-parallel job averages the processes' gradients; with every process
holding ``b = B / W`` full rows, that average is the gradient of the mean over the global batch,
so the job takes the step one process would take with the whole batch.

The random draws of a step (times, mask patterns) are drawn for the **global** batch from one
generator per ``(seed, step)`` on the CPU, and each process keeps its rows: the draws of a row do
not depend on the number of processes or on the device.

==================  ===========================================================================
model kind          objective
==================  ===========================================================================
``denoiser``        MDLM's masked NELBO (:func:`~unmask.train.losses.masked_diffusion_loss`)
``hollow``          HollowDiff's ``(L_masked + L_unmasked) / 2`` (:func:`~.losses.hollow_loss`)
``autoregressive``  next-token cross-entropy (:func:`~.losses.autoregressive_loss`; no draws)
==================  ===========================================================================
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

from ..likelihood.masks import bernoulli_masks
from ..schedules import Schedule
from .data.seeds import step_generator
from .losses import LossTerms, antithetic_times, autoregressive_loss, hollow_loss, masked_diffusion_loss
from .losses.times import DEFAULT_T_MIN


@dataclass(frozen=True)
class Objective(ABC):
    """A model kind's training loss. ``schedule``: the masking schedule of the diffusion losses."""

    schedule: Schedule
    kind: ClassVar[str]

    @abstractmethod
    def loss(
        self,
        model: torch.nn.Module,
        x: torch.Tensor,
        rows: slice,
        batch: int,
        seed: int,
        stream: str,
        step: int,
    ) -> LossTerms:
        """The loss of this process's rows ``x [b, L]``, rows ``rows`` of a global batch of
        ``batch`` sequences, with the draws of ``(seed, stream, step)`` (module docstring);
        ``loss`` is in nats per token of these rows."""


def _masked_draws(
    x: torch.Tensor, rows: slice, batch: int, schedule: Schedule, generator: torch.Generator, t_max: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Antithetic times ``[B]`` on ``[t_min, t_max]`` and mask patterns ``[B, L]`` of the global
    batch, drawn on the CPU; this process's rows of them, on ``x``'s device."""
    t = antithetic_times(batch, generator, t_min=DEFAULT_T_MIN, t_max=t_max)
    eligible = torch.ones(batch, x.shape[-1], dtype=torch.bool)
    masked = bernoulli_masks(eligible, schedule.masked_fraction(t), generator)
    return t[rows].to(x.device), masked[rows].to(x.device)


@dataclass(frozen=True)
class MaskedObjective(Objective):
    """MDLM's continuous-time NELBO of the masked process."""

    kind: ClassVar[str] = "denoiser"

    def loss(self, model, x, rows, batch, seed, stream, step):
        t, masked = _masked_draws(x, rows, batch, self.schedule, step_generator(seed, stream, step), 1.0)
        # The raw logits: the loss reads masked positions only, so the carry-over's [b, L, V]
        # point masses (and their backward) would be paid for nothing.
        network = getattr(model, "raw_logits", model)
        return masked_diffusion_loss(
            network, x, self.schedule, vocab_size=model.vocab_size, t=t, masked=masked
        )


@dataclass(frozen=True)
class HollowObjective(Objective):
    """HollowDiff's objective from the model's leave-one-out conditionals."""

    kind: ClassVar[str] = "hollow"

    def loss(self, model, x, rows, batch, seed, stream, step):
        generator = step_generator(seed, stream, step)
        t, masked = _masked_draws(x, rows, batch, self.schedule, generator, 1.0 - DEFAULT_T_MIN)
        return hollow_loss(model, x, self.schedule, t=t, masked=masked)


@dataclass(frozen=True)
class AutoregressiveObjective(Objective):
    """Next-token cross-entropy (exact negative log-likelihood)."""

    kind: ClassVar[str] = "autoregressive"

    def loss(self, model, x, rows, batch, seed, stream, step):
        return autoregressive_loss(model, x)


#: Model kind -> its objective (the one place that reads the kind of a model for training).
OBJECTIVES: dict[str, type[Objective]] = {
    objective.kind: objective for objective in (MaskedObjective, HollowObjective, AutoregressiveObjective)
}


def objective_for(kind: str, schedule: Schedule) -> Objective:
    """The objective that trains a model of ``kind``."""
    if kind not in OBJECTIVES:
        raise ValueError(f"no training objective for model kind {kind!r}; known: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[kind](schedule)
