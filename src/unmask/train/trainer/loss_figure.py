"""The loss-curve figure: training loss and validation bits per token against the step.

Two panels share the step axis: the training loss (left) and the validation bits per token
(right). Each run (masked diffusion, the autoregressive baseline, ...) keeps one colour in both
panels and is named in the legend. Runs are given as metrics-log records (:mod:`.log_file`) or
the paths of their logs; a record contributes a point to a panel when it holds that panel's key.

matplotlib (the ``plot`` extra) is imported only when a figure is drawn, and drawn through its
object interface on an Agg canvas: no backend is selected and no pyplot state is touched, so the
process's matplotlib settings stay as they were. The PNG is rendered to memory and written by
:func:`unmask.files.write_output` (atomically, never over a file without ``force``).
"""

from __future__ import annotations

import io
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ...files import check_output, write_output
from .log_file import read_log

#: The default keys of the training loss and of the validation bits per token in a log record.
TRAIN_KEY = "train_loss"
VALIDATION_KEY = "val_bits_per_token"

Runs = Mapping[str, "Sequence[Mapping[str, Any]] | str | os.PathLike"]


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "the loss figure needs matplotlib, which is not installed; "
            "install it with: pip install 'unmask[plot]'"
        ) from None
    return Figure, FigureCanvasAgg


def _points(records: Sequence[Mapping[str, Any]], key: str, label: str) -> tuple[list[int], list[float]]:
    steps, values = [], []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise TypeError(
                f"runs[{label!r}][{index}] must be a record (a mapping), got {type(record).__name__}"
            )
        value = record.get(key)
        if value is None:
            continue
        step = record.get("step")
        if not isinstance(step, numbers.Integral) or isinstance(step, bool):
            raise ValueError(
                f"runs[{label!r}][{index}] has {key!r} but no integer 'step': {dict(record)!r:.120}"
            )
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"runs[{label!r}][{index}][{key!r}] must be a number, got {value!r}")
        steps.append(int(step))
        values.append(float(value))
    return steps, values


def _collect(runs: Runs, keys: Sequence[str]) -> dict[str, list[tuple[list[int], list[float]]]]:
    if not isinstance(runs, Mapping) or not runs:
        raise TypeError(
            "runs must be a non-empty mapping of run labels to log records or log paths, "
            f"e.g. {{'masked diffusion': 'runs/mdm/log.jsonl'}}; got {runs!r:.80}"
        )
    curves = {}
    for label, source in runs.items():
        if not isinstance(label, str) or not label:
            raise TypeError(f"runs keys must be non-empty str labels, got {label!r}")
        records = read_log(source) if isinstance(source, str | os.PathLike) else source
        if not isinstance(records, Sequence):
            raise TypeError(
                f"runs[{label!r}] must be a list of records or a log path, got {type(source).__name__}"
            )
        curves[label] = [_points(records, key, label) for key in keys]
    if not any(steps for panels in curves.values() for steps, _ in panels):
        raise ValueError(
            f"no record of any run holds {' or '.join(map(repr, keys))}; "
            "pass train_key= and validation_key= naming the keys the logs use"
        )
    return curves


def loss_figure_png(
    runs: Runs, train_key: str = TRAIN_KEY, validation_key: str = VALIDATION_KEY, title: str | None = None
) -> bytes:
    """The loss-curve figure of ``runs`` (label -> records or log path) as PNG bytes."""
    for name, key in (("train_key", train_key), ("validation_key", validation_key)):
        if not isinstance(key, str) or not key:
            raise TypeError(f"{name} must be a non-empty str (a record key), got {key!r}")
    curves = _collect(runs, (train_key, validation_key))
    Figure, FigureCanvasAgg = _matplotlib()
    figure = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2)
    colours = [f"C{i % 10}" for i in range(len(curves))]
    panels = (("training loss", train_key), ("validation bits per token", validation_key))
    for column, (ax, (name, key)) in enumerate(zip(axes, panels, strict=True)):
        for colour, (label, points) in zip(colours, curves.items(), strict=True):
            steps, values = points[column]
            if steps:
                ax.plot(
                    steps, values, color=colour, label=label, marker="o" if len(steps) < 30 else None, ms=3
                )
        ax.set_xlabel("step")
        ax.set_ylabel(f"{name} ({key})")
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
            if all(v > 0 and math.isfinite(v) for line in ax.lines for v in line.get_ydata()):
                low = min(min(line.get_ydata()) for line in ax.lines)
                high = max(max(line.get_ydata()) for line in ax.lines)
                if high > 10 * low:
                    ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, f"no {key!r} records", ha="center", va="center", transform=ax.transAxes)
    if title:
        figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def write_loss_figure(
    path: str | os.PathLike,
    runs: Runs,
    train_key: str = TRAIN_KEY,
    validation_key: str = VALIDATION_KEY,
    title: str | None = None,
    force: bool = False,
) -> None:
    """Draw the loss-curve figure of ``runs`` (run label -> metrics-log records, or the path of a
    log) and write it as PNG to ``path`` atomically (``force`` replaces an existing file).

    Raises ``ImportError`` naming ``pip install 'unmask[plot]'`` when matplotlib is missing, and
    ``ValueError`` when no record holds ``train_key`` or ``validation_key``."""
    check_output(path, force=force)
    write_output(path, loss_figure_png(runs, train_key, validation_key, title), force=force)
