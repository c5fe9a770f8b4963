"""``train``: the training loop, resumable and data-parallel.

One optimizer step:

1. learning rate of the step (linear warm-up, cosine decay);
2. this process's rows of the step's global batch (``data.batch(step, B, seed, rank, W)``: a pure
   function of the seed and the step) and its loss (:mod:`unmask.train.objectives`: the draws of
   the global batch, this process's rows of them);
3. backward (under bf16 autocast where the config asks for it), gradients averaged over the
   processes (:func:`~.distributed.average_gradients`), global norm clipped, AdamW step, EMA update.

Every ``eval_every`` steps and at the end, the validation NELBO (or NLL) in bits per token over
the fixed validation set, with the EMA weights; every ``checkpoint_every`` steps and at the end,
a checkpoint (safetensors weights, EMA and optimizer state, and a JSON state written last). A run
given ``resume=True`` loads the latest checkpoint of its folder and continues: since every draw of
a step derives from ``(seed, step)`` and the optimizer, EMA and metrics log come back as saved, it
ends with the same weights as a run that was never interrupted. Rank 0 writes every file.

The output folder: ``checkpoints/`` (the checkpoints and ``latest``), ``log.jsonl`` (one record per
log interval and per validation) and ``loss.png`` (the loss curves, when matplotlib is installed).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ... import checks
from ...schedules import get_schedule
from ..data.seeds import derive_seed
from ..data.source import TokenSource
from ..from_checkpoint import CHECKPOINTS
from ..models import ModelConfig, build_model
from ..objectives import Objective, objective_for
from .checkpoint import find_latest, read_checkpoint, save_checkpoint
from .checkpoint_loading import load_checkpoint
from .config import TrainConfig
from .distributed import DistributedContext, average_gradients
from .ema import ExponentialMovingAverage
from .log_file import MetricsLog, read_log
from .loss_figure import write_loss_figure
from .lr_schedule import learning_rate, set_learning_rate

LOG = "log.jsonl"
FIGURE = "loss.png"
#: The seed of the validation draws: the same for every run, so that runs compare.
VALIDATION_SEED = 0

#: ``callback(step, total, record)`` after every optimizer step (``record``: the step's metrics).
Callback = Callable[[int, int, dict[str, Any]], None]


@dataclass
class TrainResult:
    """What a run ended with.

    Attributes:
        model: the trained model, with the EMA weights when the run kept an average (the weights
            that sampling uses), in eval mode.
        step: optimizer steps taken.
        validation: the last validation record (``val_nelbo`` nats per token,
            ``val_bits_per_token``, ``val_tokens``).
        checkpoint: the folder of the last checkpoint.
        log: the path of the metrics log.
        figure: the path of the loss figure, or None without matplotlib.
        resumed_from: the step the run resumed from, or None.
        seconds: wall-clock seconds of this invocation.
        tokens_per_second: training tokens per second over this invocation (all processes).
    """

    model: torch.nn.Module
    step: int
    validation: dict[str, Any]
    checkpoint: Path
    log: Path
    figure: Path | None
    resumed_from: int | None
    seconds: float
    tokens_per_second: float
    records: list[dict[str, Any]] = field(default_factory=list)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``precision`` on ``device`` (None: float32, no autocast)."""
    if precision == "bfloat16":
        return torch.bfloat16
    if precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def _autocast(dtype: torch.dtype | None, device: torch.device):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on the weight matrices only (not norms, biases or embeddings)."""
    decay, plain = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        embedding = "embedding" in name or "boundary" in name
        (decay if parameter.ndim >= 2 and not embedding else plain).append(parameter)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=config.betas)


def _shard_rows(batch: int, ctx: DistributedContext) -> slice:
    per_rank = batch // ctx.world_size
    return slice(ctx.rank * per_rank, (ctx.rank + 1) * per_rank)


def _sum_over_ranks(values: torch.Tensor, ctx: DistributedContext) -> torch.Tensor:
    if ctx.is_distributed:
        torch.distributed.all_reduce(values, op=torch.distributed.ReduceOp.SUM)
    return values


def validate(
    model: torch.nn.Module,
    objective: Objective,
    data: TokenSource,
    config: TrainConfig,
    ctx: DistributedContext,
    autocast: torch.dtype | None,
) -> dict[str, float]:
    """The objective over the fixed validation set (its whole global batches), with the draws of
    :data:`VALIDATION_SEED`: ``val_nelbo`` (nats per token), ``val_bits_per_token`` and
    ``val_tokens``. The same numbers whatever the number of processes (up to summation order)."""
    batch = min(config.validation_batch_size, data.validation_size)
    batch -= batch % ctx.world_size
    if batch < ctx.world_size:
        raise ValueError(
            f"the validation set has {data.validation_size} sequences, fewer than the "
            f"{ctx.world_size} processes; give the data a larger validation set"
        )
    rows = _shard_rows(batch, ctx)
    totals = torch.zeros(2, dtype=torch.float64, device=ctx.device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for index, x in enumerate(data.validation(batch, rank=ctx.rank, world_size=ctx.world_size)):
            with _autocast(autocast, ctx.device):
                terms = objective.loss(
                    model, x.to(ctx.device), rows, batch, VALIDATION_SEED, "validation", index
                )
            totals += torch.stack([terms.nelbo.detach().sum(), terms.tokens.sum().to(torch.float64)])
    model.train(was_training)
    nelbo, tokens = (float(v) for v in _sum_over_ranks(totals, ctx).cpu())
    per_token = nelbo / tokens
    return {"val_nelbo": per_token, "val_bits_per_token": per_token / math.log(2), "val_tokens": int(tokens)}


def _check_resume(config: TrainConfig, model_config: ModelConfig, saved: dict[str, Any], where: Path) -> None:
    saved_model = saved.get("model")
    if saved_model != model_config.to_dict():
        raise ValueError(
            f"cannot resume from {str(where)!r}: it was trained with model config {saved_model}, "
            f"not {model_config.to_dict()}; start a new run in another --out folder"
        )
    saved_train = TrainConfig.from_dict(saved.get("train", {}))
    conflicts = config.resume_conflicts(saved_train)
    if conflicts:
        raise ValueError(
            f"cannot resume from {str(where)!r}: the run was started with other values of "
            f"{', '.join(conflicts)} ({', '.join(f'{n}={getattr(saved_train, n)!r}' for n in conflicts)}); "
            "a run resumes under its own config (only steps and the log, validation and checkpoint "
            "intervals may change)"
        )


def train(
    model_config: ModelConfig,
    data: TokenSource,
    out: str | os.PathLike,
    config: TrainConfig | None = None,
    *,
    resume: bool = False,
    force: bool = False,
    ctx: DistributedContext | None = None,
    callback: Callback | None = None,
) -> TrainResult:
    """Train a model of ``model_config`` on ``data``, writing checkpoints and logs under ``out``.

    Args:
        model_config: the architecture (its ``kind`` picks the objective, its ``vocab_size`` and
            ``length`` must match the data's).
        data: a :class:`~unmask.train.data.TokenSource`.
        out: the run's folder (module docstring).
        config: the optimisation and reporting (:class:`TrainConfig`; default values otherwise).
        resume: continue from the latest checkpoint in ``out`` (a new run when there is none).
        force: start afresh over an earlier run's log in ``out`` (without it, a non-empty log is
            refused: resume it or choose another folder).
        ctx: this process's place in a data-parallel job (default: one process on the CPU; under
            ``torchrun``, :meth:`DistributedContext.from_environment`, initialised).
        callback: called after every step with ``(step, total, record)``.

    Returns:
        :class:`TrainResult`.
    """
    config = config if config is not None else TrainConfig()
    ctx = ctx if ctx is not None else DistributedContext()
    checks.instance("model_config", model_config, ModelConfig, "a ModelConfig")
    checks.instance("config", config, TrainConfig, "a TrainConfig")
    if (model_config.vocab_size, model_config.length) != (data.vocab_size, data.length):
        raise ValueError(
            f"model_config has vocab_size {model_config.vocab_size} and length {model_config.length}, "
            f"the data {data.vocab_size} and {data.length}; build the config for the data"
        )
    if config.batch_size % ctx.world_size:
        raise ValueError(
            f"batch_size {config.batch_size} must be divisible by the number of processes "
            f"{ctx.world_size} (each takes an equal share of every batch)"
        )
    out = Path(out)
    folder = out / CHECKPOINTS
    device = ctx.device
    with torch.random.fork_rng(devices=[]):  # the initial weights: the same on every process
        torch.manual_seed(config.seed)
        model = build_model(model_config).to(device)
    model.train()
    objective = objective_for(model_config.kind, get_schedule(config.schedule))
    optimizer = build_optimizer(model, config)
    ema = ExponentialMovingAverage(model, decay=config.ema_decay) if config.ema_decay > 0 else None
    autocast = autocast_dtype(config.precision, device)

    start, resumed_from = 0, None
    latest = find_latest(folder) if resume else None
    if latest is not None:
        _check_resume(config, model_config, read_checkpoint(latest).config, latest)
        state = load_checkpoint(latest, model, optimizer=optimizer, ema=ema, restore_rng=False)
        start = resumed_from = state.step
    log = MetricsLog(out / LOG, resume_step=start if resume else None, force=force) if ctx.is_main else None
    saved_config = {"model": model_config.to_dict(), "train": config.to_dict()}
    description = data.describe()

    rows = _shard_rows(config.batch_size, ctx)
    began = time.perf_counter()
    validation: dict[str, Any] = {}
    checkpoint = latest
    seen_tokens = 0
    for step in range(start, config.steps):
        rate = learning_rate(
            step, config.learning_rate, config.warmup_steps, config.steps, config.final_lr_fraction
        )
        set_learning_rate(optimizer, rate)
        x = data.batch(step, config.batch_size, seed=config.seed, rank=ctx.rank, world_size=ctx.world_size)
        x = x.to(device, non_blocking=True)
        with _dropout_seed(model_config, config.seed, step, ctx), _autocast(autocast, device):
            terms = objective.loss(model, x, rows, config.batch_size, config.seed, "loss", step)
        terms.loss.backward()
        average_gradients(model, ctx)
        norm = (
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            if config.grad_clip > 0
            else None
        )
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.update(model)
        done = step + 1
        seen_tokens += config.batch_size * data.length
        record: dict[str, Any] = {"step": done}
        if done % config.log_every == 0 or done == config.steps:
            loss = terms.loss.detach().to(torch.float64)
            if ctx.is_distributed:
                torch.distributed.all_reduce(loss, op=torch.distributed.ReduceOp.SUM)
                loss = loss / ctx.world_size
            record.update(train_loss=float(loss), lr=rate)
            if norm is not None:
                record["grad_norm"] = float(norm)
        if done % config.eval_every == 0 or done == config.steps:
            with ema.applied(model) if ema is not None else contextlib.nullcontext():
                validation = validate(model, objective, data, config, ctx, autocast)
            record.update(validation)
        if len(record) > 1 and log is not None:
            log.append(record)
        if done % config.checkpoint_every == 0 or done == config.steps:
            if ctx.is_main:
                checkpoint = save_checkpoint(
                    folder, done, model, optimizer=optimizer, ema=ema, config=saved_config,
                    data=description, metrics=validation, seed=config.seed, save_rng=False,
                    keep_last=config.keep_checkpoints,
                )  # fmt: skip
            if ctx.is_distributed:
                ctx.barrier()
        if callback is not None:
            callback(done, config.steps, record)
    seconds = time.perf_counter() - began
    if ema is not None:
        ema.copy_to(model)
    model.eval()
    figure = _figure(out) if log is not None else None
    records = read_log(out / LOG) if log is not None else []
    if checkpoint is None:  # resumed at the last step: nothing left to do
        checkpoint = find_latest(folder)
    if not validation and checkpoint is not None:
        validation = dict(read_checkpoint(checkpoint).metrics)
    return TrainResult(
        model, max(start, config.steps), validation, checkpoint, out / LOG, figure, resumed_from,
        seconds, seen_tokens / seconds if seconds > 0 else 0.0, records,
    )  # fmt: skip


def _dropout_seed(model_config: ModelConfig, seed: int, step: int, ctx: DistributedContext):
    """Dropout draws of the step from ``(seed, step, rank)`` (a forked random state), so that a
    resumed run drops what an uninterrupted one does; nothing without dropout."""
    if model_config.dropout == 0:
        return contextlib.nullcontext()
    devices = [ctx.device] if ctx.device.type == "cuda" else []
    forked = torch.random.fork_rng(devices=devices)

    @contextlib.contextmanager
    def seeded():
        with forked:
            torch.manual_seed(derive_seed(seed, f"dropout-{ctx.rank}", step))
            yield

    return seeded()


def _figure(out: Path) -> Path | None:
    """The loss figure of the run's log (None without matplotlib or without records)."""
    try:
        write_loss_figure(out / FIGURE, {"train": out / LOG}, force=True)
    except ImportError:
        return None
    except ValueError:  # no record with a validation value yet
        return None
    return out / FIGURE
