"""Tiny checkpoints of untrained models, saved the way training saves them, for the tests of
``unmask.train.evaluation`` and of the ``--checkpoint`` commands."""

from __future__ import annotations

from pathlib import Path

import torch

from unmask.train.data import ByteText, TargetData, default_target
from unmask.train.models import ModelConfig, build_model
from unmask.train.trainer import save_checkpoint

TEXTS = ["hello world, " * 12, "the quick brown fox jumps over the lazy dog. " * 4]


def save_tiny_checkpoint(
    run: Path, *, length: int = 8, kind: str = "denoiser", data: str = "target", seed: int = 0, **overrides
) -> Path:
    """Save an untrained ``tiny`` model of ``kind`` in ``run / "checkpoints"`` (step 0) with the
    description of its data: the built-in target of ``length`` (``V = 4``) or byte text
    (``V = 256``); returns the run folder."""
    torch.manual_seed(seed)
    if data == "target":
        source = TargetData(default_target(length), validation_size=16)
        vocab_size = 4
    else:
        source = ByteText(length=length, texts=TEXTS, validation_fraction=0.2)
        vocab_size = 256
    config = ModelConfig.preset("tiny", vocab_size=vocab_size, length=length, kind=kind, **overrides)
    model = build_model(config)
    save_checkpoint(
        run / "checkpoints", 0, model, config={"model": config.to_dict(), "train": {}}, data=source.describe()
    )
    return run
