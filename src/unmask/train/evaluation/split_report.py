"""The record and the markdown report of a checkpoint's error split (``unmask bench --checkpoint``).

:func:`split_record` gathers the split (:class:`~.error_split.ErrorSplit`) with what it was
measured on (the checkpoint, its model and data, the target, the samplers and steps, the limits);
:func:`split_markdown` renders that record, so the report says exactly what the JSON holds.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Sequence
from typing import Any

import torch

from ... import __version__
from .error_split import ErrorSplit
from .isolated import Limits
from .trained import TrainedModel

#: The columns of the table of rows: (heading, key of a row's record).
COLUMNS = (
    ("sampler", "sampler"),
    ("steps", "steps"),
    ("NFE", "nfe"),
    ("total TV", "total_tv"),
    ("model TV", "model_tv"),
    ("sampler TV", "sampler_tv"),
    ("total KL", "total_kl"),
    ("model KL", "model_kl"),
    ("sampler KL", "sampler_kl"),
    ("seconds", "seconds"),
)

EXPLANATION = (
    "Three exact laws on the V^L sequences: the target π, the model's own law p_model "
    "(first-hitting driven by the model: one token per call, each from the model's conditional) and "
    "each sampler's law p_sampler driven by the model. total = π vs p_sampler; model = π vs "
    "p_model; sampler = p_model vs p_sampler. KL is KL(π ‖ p_sampler), KL(π ‖ p_model) and "
    "KL(p_model ‖ p_sampler). TV is a metric, so total TV ≤ model TV + sampler TV; the KL parts are "
    "shown side by side and do not add up in general. NFE is the expected number of model calls per "
    "sequence (calls per step × expected steps, before unmask.sample's reuse of unchanged rows)."
)


def split_record(
    trained: TrainedModel,
    target: Any,
    split: ErrorSplit,
    samplers: Sequence[str],
    steps: Sequence[int],
    limits: Limits,
) -> dict[str, Any]:
    """The JSON-ready record of ``split`` and everything it was measured on."""
    return {
        "unmask_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "checkpoint": str(trained.checkpoint.path),
        "checkpoint_step": trained.checkpoint.step,
        "model": trained.config.to_dict(),
        "data": trained.checkpoint.data,
        "target": repr(target),
        "schedule": trained.process.schedule.name,
        "samplers": list(samplers),
        "steps": list(steps),
        "limits": {"seconds": limits.seconds, "memory_bytes": limits.memory_bytes, "workers": limits.workers},
        **split.to_dict(),
    }


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, int):  # bool included
        return str(value)
    if not math.isfinite(value):
        return "∞" if value > 0 else str(value)
    if value == 0:
        return "0"
    return f"{value:.{digits}g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.{digits + 1}f}"


def split_markdown(record: dict[str, Any]) -> str:
    """The markdown report of a :func:`split_record` record."""
    model = record["model"]
    lines = [
        "# Model and sampler error of a trained checkpoint",
        "",
        f"Checkpoint `{record['checkpoint']}` (step {record['checkpoint_step']}): a {model['kind']} with "
        f"d_model {model['d_model']}, {model['n_layers']} layers, V = {model['vocab_size']}, "
        f"L = {model['length']}; schedule {record['schedule']}. Target: `{record['target']}` "
        f"(rebuilt from the checkpoint's data description, parameters checked by SHA-256).",
        "",
        EXPLANATION,
        "",
        "## The model's part",
        "",
        f"KL(π ‖ p_model) = {_cell(record['model_kl'], 4)} nats, "
        f"TV(π, p_model) = {_cell(record['model_tv'], 4)}.",
        "",
        "## Every sampler",
        "",
        "| " + " | ".join(heading for heading, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    refused = []
    for row in record["rows"]:
        if row["refusal"] is not None:
            refused.append(row)
            continue
        cells = [_cell(row[key], 1 if key == "seconds" else 3) for _, key in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    checked = [row for row in record["rows"] if row["refusal"] is None]
    if checked:
        worst = max(row["total_tv"] - row["model_tv"] - row["sampler_tv"] for row in checked)
        lines += [
            "",
            f"Triangle inequality: max(total TV − model TV − sampler TV) = {worst:.3g} over the rows "
            "(≤ 0 up to rounding).",
        ]
    if refused:
        lines += ["", "## No exact law", ""]
        for row in refused:
            steps = "" if row["steps"] is None else f" at {row['steps']} steps"
            lines.append(f"- `{row['sampler']}`{steps}: {row['refusal']}")
    limits = record["limits"]
    memory = "none" if limits["memory_bytes"] is None else f"{limits['memory_bytes'] / 2**30:.1f} GiB"
    time_limit = "none" if limits["seconds"] is None else f"{limits['seconds']:g} s"
    seconds = record["seconds"]
    lines += [
        "",
        "## Run",
        "",
        f"Steps {', '.join(map(str, record['steps']))}; limits per law: time "
        f"{time_limit}, memory {memory}, "
        f"{limits['workers']} worker(s). The model was called on {record['model_rows']:,} rows; its own "
        f"law took {seconds['model_law']:.1f} s (with those calls), the samplers "
        f"{seconds['samplers']:.1f} s, {seconds['total']:.1f} s in all. unmask {record['unmask_version']}, "
        f"torch {record['torch_version']}, Python {record['python_version']}.",
        "",
    ]
    return "\n".join(lines)
