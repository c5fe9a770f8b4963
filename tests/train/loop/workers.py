"""Shared runs of the loop tests: a tiny denoiser on the built-in HMM, and one rank of the
two-process gloo run (``torchrun``'s variables set by hand), which writes its log and weights."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file

from unmask.train.data import TargetData, default_target
from unmask.train.models import ModelConfig
from unmask.train.trainer import DistributedContext
from unmask.train.trainer.config import TrainConfig
from unmask.train.trainer.loop import train

#: A run of a few steps that validates and saves along the way.
CONFIG = TrainConfig(
    steps=6, batch_size=8, learning_rate=3e-3, warmup_steps=2, log_every=1, eval_every=3,
    checkpoint_every=3, validation_batch_size=16, ema_decay=0.9,
)  # fmt: skip


def data() -> TargetData:
    return TargetData(default_target(length=6), validation_size=32)


def model_config(kind: str = "denoiser") -> ModelConfig:
    return ModelConfig.preset("tiny", vocab_size=4, length=6, kind=kind)


def rank_worker(rank: int, out: Path, port: int, kind: str) -> None:
    """Rank ``rank`` of 2: the same run as one process, its half of every batch."""
    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
            "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
        }
    )  # fmt: skip
    torch.set_num_threads(1)
    ctx = DistributedContext.from_environment(device="cpu")
    ctx.init()
    try:
        result = train(model_config(kind), data(), out / "run", CONFIG, ctx=ctx)
        weights = {name: value.contiguous() for name, value in result.model.state_dict().items()}
        save_file(weights, str(out / f"weights{rank}.safetensors"))
        (out / f"validation{rank}.json").write_text(json.dumps(result.validation))
    finally:
        ctx.destroy()
