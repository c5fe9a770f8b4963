"""``TrainedModel``: a checkpoint opened for sampling and scoring, with what its state says.

:func:`open_trained` loads the model (:func:`unmask.train.from_checkpoint.load_model`: the EMA
weights when the run kept them, eval mode) and reads from the checkpoint's state what the
commands need besides the weights: the masked process of the training loss (its schedule, under
``config["train"]["schedule"]``; the linear one when absent), the exact target the data was
drawn from (:func:`unmask.train.data.target_from_description`; None for text) and how to show
rows as text (:func:`.decoding.text_decoder`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from ...processes import MaskedProcess
from ...schedules import get_schedule
from ...targets import Target
from ..data.rebuild import target_from_description
from ..from_checkpoint import load_model, model_config_of
from ..models import ModelConfig
from ..trainer import Checkpoint
from .decoding import TextDecoder, text_decoder


@dataclass(frozen=True)
class TrainedModel:
    """A model loaded from a checkpoint.

    Attributes:
        model: the network, in eval mode on its device.
        checkpoint: the checkpoint's state (``step``, ``config``, ``data``, ``path``).
        config: the model's :class:`~unmask.train.models.ModelConfig`.
        process: the masked process of its training loss (the schedule a time-conditioned model
            learned; samplers' grids follow it).
    """

    model: torch.nn.Module
    checkpoint: Checkpoint
    config: ModelConfig
    process: MaskedProcess

    @property
    def vocab_size(self) -> int:
        """``V``."""
        return self.config.vocab_size

    @property
    def length(self) -> int:
        """``L``, the length of the sequences it was trained on."""
        return self.config.length

    @property
    def device(self) -> torch.device:
        """Where the model lives."""
        return next(self.model.parameters()).device

    @property
    def scores_exactly(self) -> bool:
        """Whether the model gives ``log p(x)`` itself (an autoregressive model: ``log_prob`` and its
        own ancestral sampling) rather than being a denoiser."""
        return callable(getattr(self.model, "log_prob", None))

    def exact_target(self) -> Target | None:
        """The exact target the model was trained on, or None for text data; ``ValueError`` when the
        description names a target that cannot be rebuilt (:func:`target_from_description`)."""
        return target_from_description(self.checkpoint.data)

    def text_decoder(self) -> TextDecoder:
        """How to show its rows as text (:func:`.decoding.text_decoder`)."""
        return text_decoder(self.checkpoint.data)


def training_process(checkpoint: Checkpoint) -> MaskedProcess:
    """The masked process of the run's loss: ``MaskedProcess(get_schedule(config["train"]["schedule"]))``,
    the linear schedule when the config names none; ``ValueError`` naming an unknown schedule."""
    train: Any = checkpoint.config.get("train") if isinstance(checkpoint.config, dict) else None
    name = train.get("schedule") if isinstance(train, dict) else None
    if name is None:
        return MaskedProcess()
    try:
        return MaskedProcess(get_schedule(name))
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"checkpoint {str(checkpoint.path)!r}: config['train']['schedule']: {error}"
        ) from None


def open_trained(
    path: str | os.PathLike, device: str | torch.device | None = None, use_ema: bool | None = None
) -> TrainedModel:
    """The model of the checkpoint at ``path`` (a checkpoint folder, or a run folder: its latest
    checkpoint) on ``device`` (default: the CPU), as a :class:`TrainedModel`.

    Raises ``ValueError`` naming the file for a missing, truncated or corrupt checkpoint, one that
    :func:`unmask.train.train` did not write, or weights of another architecture."""
    model, checkpoint = load_model(path, device=device, use_ema=use_ema)
    return TrainedModel(
        model=model,
        checkpoint=checkpoint,
        config=model_config_of(checkpoint),
        process=training_process(checkpoint),
    )
