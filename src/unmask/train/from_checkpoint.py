"""A trained model back from its checkpoint, ready to sample and score.

A checkpoint written by :func:`unmask.train.train` holds the model's config under
``config["model"]`` (:class:`~unmask.train.models.ModelConfig` as a dict), so the model is rebuilt
from the checkpoint alone; the weights are the EMA weights when the run kept them. Nothing is
loaded with pickle (safetensors and JSON only).
"""

from __future__ import annotations

import os
from typing import Any

import torch

from .models import ModelConfig, build_model
from .trainer import Checkpoint, load_weights, read_checkpoint


def model_config_of(checkpoint: Checkpoint) -> ModelConfig:
    """The :class:`ModelConfig` a checkpoint was trained with; ``ValueError`` naming the folder when
    its ``state.json`` has none (a checkpoint that :func:`unmask.train.train` did not write)."""
    saved: Any = checkpoint.config.get("model") if isinstance(checkpoint.config, dict) else None
    if not isinstance(saved, dict):
        raise ValueError(
            f"checkpoint {str(checkpoint.path)!r} has no model config (state.json config['model']); "
            "it was not written by unmask.train.train, so its architecture is unknown"
        )
    try:
        return ModelConfig.from_dict(saved)
    except (TypeError, ValueError) as error:
        raise ValueError(f"checkpoint {str(checkpoint.path)!r} has a bad model config: {error}") from None


def load_model(
    path: str | os.PathLike,
    device: str | torch.device | None = None,
    use_ema: bool | None = None,
) -> tuple[torch.nn.Module, Checkpoint]:
    """The model saved at ``path`` (a checkpoint folder, or a run's folder or its ``checkpoints``
    folder: the latest checkpoint), in eval mode on ``device`` (default: the CPU), and the
    checkpoint's state.

    ``use_ema``: None takes the EMA weights when the checkpoint has them; True requires them;
    False takes the raw weights. A truncated or corrupt file, a missing one, or weights of another
    architecture or vocabulary raise ``ValueError`` naming the file, before the model is used.
    """
    checkpoint = read_checkpoint(_checkpoints_folder(path))
    model = build_model(model_config_of(checkpoint))
    load_weights(checkpoint.path, model, use_ema=use_ema)
    return model.to(torch.device(device) if device is not None else "cpu").eval(), checkpoint


def _checkpoints_folder(path: str | os.PathLike) -> str | os.PathLike:
    """A run folder (with a ``checkpoints`` folder inside) stands for that folder."""
    inner = os.path.join(os.fspath(path), CHECKPOINTS)
    return inner if os.path.isdir(inner) and not os.path.exists(os.path.join(path, "state.json")) else path


#: The folder of a run's checkpoints, inside its output folder.
CHECKPOINTS = "checkpoints"
