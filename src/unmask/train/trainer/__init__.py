"""The reusable pieces of a training loop: checkpoints, EMA, learning-rate schedule, metrics log,
loss figure, random states and data-parallel helpers.

Import it as ``unmask.train.trainer``; ``import unmask`` does not import it.
"""

from .checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    Checkpoint,
    checkpoint_name,
    find_latest,
    list_checkpoints,
    read_checkpoint,
    save_checkpoint,
    unwrap_model,
)
from .checkpoint_loading import load_checkpoint, load_weights
from .distributed import DistributedContext, all_reduce_mean, average_gradients, broadcast_object, distributed
from .ema import ExponentialMovingAverage
from .log_file import MetricsLog, read_log, truncate_log
from .loss_figure import loss_figure_png, write_loss_figure
from .lr_schedule import learning_rate, set_learning_rate
from .optimizer_state import rebuild_optimizer_state, split_optimizer_state
from .rng_state import RngState, capture_rng_state, check_rng_state, restore_rng_state
from .tensor_file import read_tensor_file, write_tensor_file

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Checkpoint",
    "DistributedContext",
    "ExponentialMovingAverage",
    "MetricsLog",
    "RngState",
    "all_reduce_mean",
    "average_gradients",
    "broadcast_object",
    "capture_rng_state",
    "check_rng_state",
    "checkpoint_name",
    "distributed",
    "find_latest",
    "learning_rate",
    "list_checkpoints",
    "load_checkpoint",
    "load_weights",
    "loss_figure_png",
    "read_checkpoint",
    "read_log",
    "read_tensor_file",
    "rebuild_optimizer_state",
    "restore_rng_state",
    "save_checkpoint",
    "set_learning_rate",
    "split_optimizer_state",
    "truncate_log",
    "unwrap_model",
    "write_loss_figure",
    "write_tensor_file",
]
