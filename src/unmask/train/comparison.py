"""Masked diffusion against an autoregressive baseline of the same size, on the same text.

:func:`compare_on_text` trains two models of one preset size on one token source: a masked
diffusion denoiser (``kind="denoiser"``, MDLM's masked NELBO) and an autoregressive transformer
(``kind="autoregressive"``, next-token cross-entropy), with one :class:`TrainConfig` (the same
steps, batch size, learning rate and seed, hence the same training batches in the same order),
each in its own run folder, and writes one report::

    out/
      diffusion/         the denoiser's run (checkpoints/, log.jsonl, loss.png)
      autoregressive/    the baseline's run
      comparison.md      the table, what its numbers mean, and samples of both models
      comparison.json    the same, machine-readable
      comparison.png     validation bits per byte (per token) against the step, both runs

What the numbers are:

* **validation bits per token** (bits per byte for byte-level text) over the source's fixed
  validation set, with the EMA weights, the same sequences for both models. For the
  autoregressive model it is the exact negative log-likelihood. For the diffusion model it is the
  NELBO (MDLM's continuous-time bound, one draw of the time and the mask per validation
  sequence, times clipped at ``t_min = 1e-3``): an estimate of an **upper bound** on its negative
  log-likelihood, so the model's own bits per byte are at most this (up to the Monte-Carlo error
  and the ``1e-3`` clip). The two numbers compare a bound with an exact value.
* **training seconds and tokens per second**: the wall-clock time of each run as the trainer
  reports it (its periodic validations and the checkpoints included), tokens = steps x batch x L.
* **samples**: the diffusion model's from the ``first-hitting`` sampler (exact for the model's
  own conditionals, one model call per revealed position at most), the autoregressive model's
  ancestral; both decoded with the source's ``decode`` (byte text: invalid UTF-8 replaced by
  U+FFFD). In the markdown, control characters are shown as Unicode control pictures (the NUL
  that separates documents of byte text as ``␀``).

Every file is written atomically by :func:`unmask.files.write_output`; an existing report or run
log is refused before any training unless ``force=True``.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import checks
from ..files import OutputExists, check_folder, check_output, write_output
from ..samplers import sample
from .data import ByteText, TokenSource
from .models import ModelConfig
from .models.registry import parameter_count
from .trainer import DistributedContext, write_loss_figure
from .trainer.config import TrainConfig
from .trainer.loop import LOG, train

#: The file names of the report, inside ``out``.
TABLE = "comparison.md"
JSON = "comparison.json"
FIGURE = "comparison.png"

#: Defaults sized for a few minutes on two CPU cores (``python-stdlib`` bytes, ``L = 128``).
DEFAULT_PRESET = "tiny"
DEFAULT_LENGTH = 128
DEFAULT_STEPS = 1000
DEFAULT_BATCH_SIZE = 32
DEFAULT_LEARNING_RATE = 3e-3
DEFAULT_SAMPLES = 4

#: ``callback(run, step, total, record)``: ``run`` is ``"diffusion"`` or ``"autoregressive"``.
Callback = Callable[[str, int, int, dict[str, Any]], None]

#: The TrainConfig fields that are arguments of :func:`compare_on_text` (not ``train_options``).
_ARGUMENT_FIELDS = ("steps", "batch_size", "seed", "learning_rate", "eval_every")
#: The ModelConfig fields that the comparison sets itself.
_FIXED_MODEL_FIELDS = ("kind", "vocab_size", "length")


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _diffusion_samples(model: torch.nn.Module, count: int, data: TokenSource, seed: int) -> tuple[Any, int]:
    """``count`` first-hitting samples and the number of batched model calls they took."""
    result = sample(
        model, "first-hitting", vocab_size=data.vocab_size, length=data.length, batch_size=count,
        generator=seed, device=_device_of(model), show_progress=False,
    )  # fmt: skip
    return result.tokens, int(result.nfe)


def _autoregressive_samples(
    model: torch.nn.Module, count: int, data: TokenSource, seed: int
) -> tuple[Any, int]:
    """``count`` ancestral samples (one model call per position)."""
    generator = torch.Generator(device=_device_of(model)).manual_seed(seed)
    return model.sample(count, generator=generator, length=data.length), data.length


@dataclass(frozen=True)
class _Run:
    """One side of the comparison: its folder name, model kind, labels and sampler."""

    name: str
    kind: str
    label: str
    measure: str
    exact: bool
    sampler: str
    draw: Callable[[torch.nn.Module, int, TokenSource, int], tuple[Any, int]]


_RUNS = (
    _Run(
        "diffusion", "denoiser", "masked diffusion", "NELBO: an upper bound on the NLL", False,
        "first-hitting", _diffusion_samples,
    ),
    _Run(
        "autoregressive", "autoregressive", "autoregressive", "exact NLL", True, "ancestral",
        _autoregressive_samples,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class RunReport:
    """What one model of the comparison ended with.

    Attributes:
        name: ``"diffusion"`` or ``"autoregressive"`` (its folder under ``out`` and JSON key).
        label: ``"masked diffusion"`` or ``"autoregressive"``.
        kind: the :class:`ModelConfig` kind (``"denoiser"``, ``"autoregressive"``).
        exact: whether ``bits_per_token`` is an exact NLL (autoregressive) rather than a NELBO
            bound (diffusion).
        measure: what ``bits_per_token`` is, in words.
        folder: the run folder.
        model_config: the model's config (a dict of :meth:`ModelConfig.to_dict`).
        parameters, non_embedding_parameters: parameter counts (the latter without the token
            embedding and the output head).
        steps: optimizer steps taken.
        bits_per_token: the final validation bits per token (per byte for byte text).
        curve: ``(step, validation bits per token)`` of every validation of the run.
        seconds: wall-clock seconds of the run (validations and checkpoints included).
        tokens_per_second: training tokens per second over the run.
        sampler: ``"first-hitting"`` or ``"ancestral"``.
        samples: the decoded samples (plain text, control characters as they are).
        sample_calls: batched model calls the samples took.
        sample_seconds: seconds the samples took.
    """

    name: str
    label: str
    kind: str
    exact: bool
    measure: str
    folder: Path
    model_config: dict[str, Any]
    parameters: int
    non_embedding_parameters: int
    steps: int
    bits_per_token: float
    curve: tuple[tuple[int, float], ...]
    seconds: float
    tokens_per_second: float
    sampler: str
    samples: tuple[str, ...]
    sample_calls: int
    sample_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``folder`` as a string, ``curve`` as ``[step, bits]`` pairs)."""
        return {
            "name": self.name, "label": self.label, "kind": self.kind, "exact": self.exact,
            "measure": self.measure, "folder": str(self.folder), "model_config": self.model_config,
            "parameters": self.parameters, "non_embedding_parameters": self.non_embedding_parameters,
            "steps": self.steps, "bits_per_token": self.bits_per_token,
            "curve": [list(point) for point in self.curve], "seconds": self.seconds,
            "tokens_per_second": self.tokens_per_second, "sampler": self.sampler,
            "samples": list(self.samples), "sample_calls": self.sample_calls,
            "sample_seconds": self.sample_seconds,
        }  # fmt: skip


@dataclass(frozen=True)
class ComparisonResult:
    """The two runs of :func:`compare_on_text` and the paths of its report.

    Attributes:
        diffusion, autoregressive: the :class:`RunReport` of each model.
        unit: ``"byte"`` for byte-level text, else ``"token"`` (bits per ``unit``).
        settings: the data, model and training settings (JSON-safe).
        table: the markdown report; json: the JSON report.
        figure: the figure, or None when matplotlib is not installed.
    """

    diffusion: RunReport
    autoregressive: RunReport
    unit: str
    settings: dict[str, Any]
    table: Path
    json: Path
    figure: Path | None

    @property
    def runs(self) -> tuple[RunReport, RunReport]:
        """``(diffusion, autoregressive)``."""
        return self.diffusion, self.autoregressive

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: settings, unit, both runs by name, and the figure's file name."""
        return {
            "settings": self.settings,
            "unit": self.unit,
            "runs": {run.name: run.to_dict() for run in self.runs},
            "figure": None if self.figure is None else self.figure.name,
        }


def _check_data(data: Any) -> TokenSource:
    if not isinstance(data, TokenSource):
        raise TypeError(
            "data must be a token source of unmask.train.data (ByteText, TokenizedText, "
            f"python_stdlib_corpus(...), data_from_spec(...)), got {type(data).__name__}"
        )
    if not callable(getattr(data, "decode", None)):
        raise TypeError(
            f"data must turn tokens back into text (a decode method, as ByteText and TokenizedText "
            f"have); {type(data).__name__} has none, so its samples cannot be shown"
        )
    return data


def _check_options(
    name: str, options: Any, refused: tuple[str, ...], where: str, reason: str
) -> dict[str, Any]:
    """``options`` as a dict of ``where`` fields, refusing the fields in ``refused`` (``reason``)."""
    if options is None:
        return {}
    if not isinstance(options, Mapping) or not all(isinstance(key, str) for key in options):
        raise TypeError(f"{name} must be a mapping of {where} field names to values, got {options!r:.80}")
    clash = [key for key in refused if key in options]
    if clash:
        raise ValueError(f"{name} must not set {', '.join(map(repr, clash))}: {reason}")
    return dict(options)


def _train_config(
    steps: int, batch_size: int, seed: int, learning_rate: float, eval_every: int | None, options: dict
) -> TrainConfig:
    values = {
        "warmup_steps": min(100, steps // 10),
        "checkpoint_every": steps,
        **options,
        "steps": steps,
        "batch_size": batch_size,
        "seed": seed,
        "learning_rate": learning_rate,
        "eval_every": max(1, steps // 10) if eval_every is None else eval_every,
    }
    return TrainConfig.from_dict(values)


def _check_outputs(out: Path, force: bool) -> None:
    """Refuse, before any work, an output that would be refused at the end."""
    check_folder(out)
    for name in (TABLE, JSON, FIGURE):
        check_output(out / name, force=force)
    for run in _RUNS:
        log = out / run.name / LOG
        if log.is_file() and log.stat().st_size and not force:
            raise OutputExists(log)


def compare_on_text(
    data: TokenSource,
    out: str | os.PathLike,
    *,
    preset: str = DEFAULT_PRESET,
    steps: int = DEFAULT_STEPS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    eval_every: int | None = None,
    samples: int = DEFAULT_SAMPLES,
    model_options: Mapping[str, Any] | None = None,
    train_options: Mapping[str, Any] | None = None,
    device: str | torch.device = "cpu",
    force: bool = False,
    callback: Callback | None = None,
) -> ComparisonResult:
    """Train a masked diffusion denoiser and an autoregressive model of the same size on ``data``
    and report both (module docstring): ``out/diffusion``, ``out/autoregressive``,
    ``out/comparison.md``, ``out/comparison.json`` and ``out/comparison.png``.

    Args:
        data: a text source of :mod:`unmask.train.data` with a ``decode`` method (``ByteText``,
            ``TokenizedText``, ``data_from_spec("python-stdlib", length)``); its length ``L`` is
            the models' and the samples' length.
        out: the report's folder (created when missing).
        preset: the size of both models, a name of :data:`unmask.train.models.PRESETS`.
        steps: optimizer steps of each run.
        batch_size: sequences per step.
        seed: the seed of both runs (initial weights, batches, draws) and of the samples.
        learning_rate: AdamW's peak rate (warm-up over ``min(100, steps // 10)`` steps, then cosine).
        eval_every: steps between validations (default: ``steps // 10``, at least 1; the last step
            always validates).
        samples: how many samples to draw from each model (0: none).
        model_options: other :class:`ModelConfig` fields for both models (``{"d_model": 64}``); not
            ``kind``, ``vocab_size`` or ``length``.
        train_options: other :class:`TrainConfig` fields for both runs (``{"ema_decay": 0.99}``);
            the fields above are arguments instead. Checkpoints are saved only at the end unless
            ``checkpoint_every`` is given.
        device: where both models train and sample.
        force: replace an earlier report and start both runs afresh over earlier logs in ``out``
            (without it an existing report or non-empty run log raises
            :class:`~unmask.files.OutputExists` before any training).
        callback: ``callback(run, step, total, record)`` after every step of either run.

    Returns:
        :class:`ComparisonResult`.

    Raises ``TypeError``/``ValueError`` for bad arguments and ``OutputError`` for an output that
    cannot be written, all before any training.
    """
    data = _check_data(data)
    if not isinstance(out, str | os.PathLike):
        raise TypeError(f"out must be a folder path (str or os.PathLike), got {type(out).__name__}")
    out = Path(out)
    steps = checks.positive_int("steps", steps)
    batch_size = checks.positive_int("batch_size", batch_size)
    seed = checks.seed("seed", seed)
    samples = checks.positive_int("samples", samples, minimum=0)
    if eval_every is not None:
        eval_every = checks.positive_int("eval_every", eval_every)
    if not isinstance(force, bool):
        raise TypeError(f"force must be True or False, got {force!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(run, step, total, record), got {callback!r}")
    if not isinstance(preset, str):
        raise TypeError(f"preset must be a preset name (str), got {preset!r}")
    model_options = _check_options(
        "model_options", model_options, _FIXED_MODEL_FIELDS, "ModelConfig",
        "the comparison sets them from the data and the two model kinds",
    )  # fmt: skip
    options = _check_options(
        "train_options",
        train_options,
        _ARGUMENT_FIELDS,
        "TrainConfig",
        "give them as arguments of compare_on_text",
    )
    config = _train_config(steps, batch_size, seed, learning_rate, eval_every, options)
    models = {
        run.name: ModelConfig.preset(
            preset, vocab_size=data.vocab_size, length=data.length, kind=run.kind, **model_options
        )
        for run in _RUNS
    }
    ctx = DistributedContext(device=device)
    _check_outputs(out, force)

    unit = "byte" if isinstance(data, ByteText) else "token"
    reports, records = {}, {}
    for run in _RUNS:
        step_callback = None if callback is None else _named(callback, run.name)
        result = train(
            models[run.name], data, out / run.name, config, force=force, ctx=ctx, callback=step_callback
        )
        records[run.name] = result.records
        reports[run.name] = _report(run, result, models[run.name], data, samples, seed)

    settings = {
        "data": {
            "name": data.name, "vocab_size": data.vocab_size, "length": data.length,
            "validation_sequences": data.validation_size,
        },
        "preset": preset, "model_options": model_options, "device": str(ctx.device),
        "samples": samples, "train": config.to_dict(),
    }  # fmt: skip
    diffusion, autoregressive = reports["diffusion"], reports["autoregressive"]
    figure = _figure(out / FIGURE, diffusion, autoregressive, records, data, unit, force)
    result = ComparisonResult(diffusion, autoregressive, unit, settings, out / TABLE, out / JSON, figure)
    write_output(result.json, json.dumps(result.to_dict(), indent=2) + "\n", force=force)
    write_output(result.table, markdown(result), force=force)
    return result


def _named(callback: Callback, name: str) -> Callable[[int, int, dict[str, Any]], None]:
    def step_callback(step: int, total: int, record: dict[str, Any]) -> None:
        callback(name, step, total, record)

    return step_callback


def _report(
    run: _Run, result: Any, model_config: ModelConfig, data: TokenSource, samples: int, seed: int
) -> RunReport:
    """The :class:`RunReport` of a finished run, with its samples drawn now."""
    texts: tuple[str, ...] = ()
    calls, began = 0, time.perf_counter()
    if samples:
        with torch.no_grad():
            tokens, calls = run.draw(result.model, samples, data, seed)
        decoded = data.decode(tokens.cpu())
        texts = tuple([decoded] if isinstance(decoded, str) else decoded)
    curve = tuple(
        (int(record["step"]), float(record["val_bits_per_token"]))
        for record in result.records
        if "val_bits_per_token" in record
    )
    return RunReport(
        name=run.name, label=run.label, kind=run.kind, exact=run.exact, measure=run.measure,
        folder=result.log.parent, model_config=model_config.to_dict(),
        parameters=parameter_count(model_config),
        non_embedding_parameters=parameter_count(model_config, embeddings=False), steps=result.step,
        bits_per_token=float(result.validation["val_bits_per_token"]), curve=curve,
        seconds=result.seconds, tokens_per_second=result.tokens_per_second, sampler=run.sampler,
        samples=texts, sample_calls=calls, sample_seconds=time.perf_counter() - began,
    )  # fmt: skip


def _figure(
    path: Path,
    diffusion: RunReport,
    autoregressive: RunReport,
    records: dict[str, list[dict[str, Any]]],
    data: TokenSource,
    unit: str,
    force: bool,
) -> Path | None:
    """The validation curves of both runs (None without matplotlib)."""
    runs = {
        f"{diffusion.label} (NELBO bound)": records[diffusion.name],
        f"{autoregressive.label} (exact NLL)": records[autoregressive.name],
    }
    title = f"{data.name}, L = {data.length}: validation bits per {unit} (right) against step"
    try:
        write_loss_figure(path, runs, title=title, force=force)
    except ImportError:
        return None
    return path


#: C0 control characters and DEL, shown as Unicode control pictures (U+2400..U+2421) in markdown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def _visible(text: str) -> str:
    """``text`` with control characters other than newline and tab as control pictures."""
    return _CONTROL.sub(lambda m: "\u2421" if m.group() == "\x7f" else chr(0x2400 + ord(m.group())), text)


def _fenced(text: str) -> str:
    """``text`` in a fenced code block whose fence is longer than any run of backticks in it."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _number(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else str(value)


def markdown(result: ComparisonResult) -> str:
    """The markdown report of ``result``: the settings, the table, what its numbers mean, the
    figure and the samples."""
    settings, unit = result.settings, result.unit
    data, train_settings = settings["data"], settings["train"]
    diffusion, autoregressive = result.runs
    interval = train_settings["eval_every"]
    every = "after every step" if interval == 1 else f"every {interval} steps"
    lines = [
        f"# Masked diffusion vs autoregressive on {data['name']}",
        "",
        f"Two `{settings['preset']}` models of the same size, each trained {train_settings['steps']} "
        f"steps of {train_settings['batch_size']} sequences of {data['length']} {unit}s (the same "
        f"batches: seed {train_settings['seed']}, peak learning rate {train_settings['learning_rate']:g}), "
        f"validated on the same {data['validation_sequences']} held-out sequences {every} (EMA weights), "
        f"on {settings['device']}.",
        "",
        f"| model | validation bits per {unit} | what it is | parameters | training seconds | tokens/s |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for run in result.runs:
        lines.append(
            f"| {run.label} | {_number(run.bits_per_token)} | {run.measure} | {run.parameters:,} "
            f"| {run.seconds:.1f} | {run.tokens_per_second:,.0f} |"
        )
    lines += [
        "",
        f"- **{diffusion.label}**: the NELBO (MDLM's continuous-time bound) per {unit}, estimated with "
        "one draw of the time and the mask per validation sequence (times clipped at 1e-3): an upper "
        f"bound on the model's negative log-likelihood, so its own bits per {unit} are at most this.",
        f"- **{autoregressive.label}**: the exact negative log-likelihood per {unit}.",
        "- Training seconds: the wall-clock time of each run, its validations and checkpoints included.",
        "",
    ]
    if result.figure is not None:
        lines += [f"![validation bits per {unit} against step]({result.figure.name})", ""]
    else:
        lines += ["(No figure: matplotlib is not installed; `pip install 'unmask[plot]'`.)", ""]
    if diffusion.samples or autoregressive.samples:
        lines += ["## Samples", ""]
        for run in result.runs:
            calls = f"{run.sample_calls} model calls, {run.sample_seconds:.1f} s"
            lines += [f"### {run.label} ({run.sampler}, {calls})", ""]
            for index, text in enumerate(run.samples, start=1):
                lines += [f"Sample {index}:", "", _fenced(_visible(text)), ""]
        lines += [
            "Control characters are shown as Unicode control pictures (the NUL that ends each document "
            "of byte text as \u2400); invalid UTF-8 as U+FFFD.",
            "",
        ]
    return "\n".join(lines)
