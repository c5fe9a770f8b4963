"""``TrainConfig``: everything a training run depends on besides the model and the data.

Checked when built, before any work; written in full to every checkpoint and compared on resume
(a run resumes only under the config it was started with, except ``steps``, which may grow, and
the intervals of logs, validation and checkpoints).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ... import checks
from ...schedules import get_schedule

#: Fields a resumed run may change (how long it runs and how often it reports or saves).
RESUMABLE_CHANGES = ("steps", "log_every", "eval_every", "checkpoint_every", "keep_checkpoints")
#: Numeric precisions of the forward and backward passes.
PRECISIONS = ("auto", "float32", "bfloat16")


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation, the schedule of reports and saves, and the randomness of a run.

    Attributes:
        steps: optimizer steps in all (a resumed run continues to this step).
        batch_size: sequences per optimizer step, over all processes (divisible by their number).
        learning_rate: the peak rate of AdamW, reached after ``warmup_steps`` and decayed along a
            cosine to ``final_lr_fraction`` of it at ``steps``.
        warmup_steps: steps of linear warm-up (default: a tenth of ``steps``).
        final_lr_fraction: the floor of the cosine decay, as a fraction of the peak.
        weight_decay: AdamW's decoupled weight decay, on matrices only (not on norms, biases or
            embeddings).
        betas: AdamW's moment decays.
        grad_clip: the largest global gradient norm (0: no clipping).
        ema_decay: decay of the exponential moving average of the weights that evaluation and
            sampling use (0: no EMA; the raw weights are used).
        schedule: the masking schedule of the diffusion losses (a name of :mod:`unmask.schedules`).
        precision: ``"auto"`` (bf16 autocast on a CUDA device that supports it, else float32),
            ``"float32"`` or ``"bfloat16"`` (autocast on any device; weights stay float32).
        seed: the seed of every random draw (batches, times, masks, dropout), from which each
            step's draws are derived, so that a resumed run draws what an uninterrupted one does.
        log_every, eval_every, checkpoint_every: intervals in optimizer steps (the last step always
            validates and saves).
        keep_checkpoints: how many checkpoints to keep (the newest).
        validation_batch_size: sequences per validation batch (over all processes).
    """

    steps: int = 1000
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_steps: int | None = None
    final_lr_fraction: float = 0.1
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    schedule: str = "linear"
    precision: str = "auto"
    seed: int = 0
    log_every: int = 10
    eval_every: int = 200
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    validation_batch_size: int = 256

    def __post_init__(self) -> None:
        for name in (
            "steps",
            "batch_size",
            "log_every",
            "eval_every",
            "checkpoint_every",
            "keep_checkpoints",
        ):
            checks.positive_int(name, getattr(self, name))
        checks.positive_int("validation_batch_size", self.validation_batch_size)
        if self.warmup_steps is None:
            object.__setattr__(self, "warmup_steps", self.steps // 10)
        checks.positive_int("warmup_steps", self.warmup_steps, minimum=0)
        if self.warmup_steps > self.steps:
            raise ValueError(f"warmup_steps must be at most steps ({self.steps}), got {self.warmup_steps}")
        checks.positive_float("learning_rate", self.learning_rate)
        checks.probability("final_lr_fraction", self.final_lr_fraction)
        checks.probability("ema_decay", self.ema_decay, open_high=True)
        checks.non_negative_float("weight_decay", self.weight_decay)
        checks.non_negative_float("grad_clip", self.grad_clip)
        betas = tuple(self.betas)
        if len(betas) != 2 or not all(isinstance(b, int | float) and 0 <= b < 1 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        object.__setattr__(self, "betas", (float(betas[0]), float(betas[1])))
        checks.one_of("precision", self.precision, PRECISIONS)
        checks.seed("seed", self.seed)
        try:
            get_schedule(self.schedule)
        except (TypeError, ValueError) as error:
            raise ValueError(f"schedule: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        out = asdict(self)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; known: {sorted(known)}")
        values = dict(data)
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return cls(**values)

    def resume_conflicts(self, saved: TrainConfig) -> list[str]:
        """The fields that differ from the ``saved`` run's config, beyond :data:`RESUMABLE_CHANGES`."""
        return [
            f.name
            for f in fields(self)
            if f.name not in RESUMABLE_CHANGES and getattr(self, f.name) != getattr(saved, f.name)
        ]
