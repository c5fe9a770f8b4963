"""Loading a checkpoint (:mod:`.checkpoint`): every file read and checked before anything changes.

Checks, each a ``ValueError`` naming the file and what to do: ``state.json`` of this format and
version (:func:`~.checkpoint.read_checkpoint`); files that belong to the same save (step and role
in each file's safetensors metadata); the vocabulary (``"checkpoint has vocab_size X, model
expects Y"`` when the checkpoint's config and the model's ``config``, or ``vocab_size``
attribute, both name one); the parameter names and shapes; the optimizer's class, groups and
state shapes; the saved random states. Only then are the model, EMA, optimizer and random states
changed. Tensors are read on the CPU and copied into the model's and optimizer's own tensors, on
their device. Nothing is unpickled.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ... import checks
from .checkpoint import CONTENTS, STATE_FILE, Checkpoint, read_checkpoint, unwrap_model
from .ema import ExponentialMovingAverage
from .optimizer_state import check_state_shapes, rebuild_optimizer_state
from .rng_state import RngState, check_rng_state, restore_rng_state
from .tensor_file import read_tensor_file

WHAT = {role: f"the {noun}" for role, noun in CONTENTS.items()}


def _vocab_sizes(value: Any) -> set[int]:
    """Every integer ``vocab_size`` in a JSON config, at any depth."""
    found: set[int] = set()
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "vocab_size" and isinstance(item, int) and not isinstance(item, bool):
                found.add(item)
            else:
                found |= _vocab_sizes(item)
    elif isinstance(value, list):
        for item in value:
            found |= _vocab_sizes(item)
    return found


def _model_vocab_size(model: torch.nn.Module) -> int | None:
    """``model.config.vocab_size`` (an object or a mapping), else ``model.vocab_size``, if an int."""
    config = getattr(model, "config", None)
    value = config.get("vocab_size") if isinstance(config, Mapping) else getattr(config, "vocab_size", None)
    if value is None:
        value = getattr(model, "vocab_size", None)
    return value if isinstance(value, numbers.Integral) and not isinstance(value, bool) else None


def _checkpoint_vocab_size(checkpoint: Checkpoint) -> int | None:
    sizes = _vocab_sizes(checkpoint.config)
    return next(iter(sizes)) if len(sizes) == 1 else None


def _check_vocabulary(checkpoint: Checkpoint, model: torch.nn.Module) -> None:
    saved, expected = _checkpoint_vocab_size(checkpoint), _model_vocab_size(model)
    if saved is not None and expected is not None and saved != expected:
        raise ValueError(
            f"checkpoint has vocab_size {saved}, model expects {expected} "
            f"({str(checkpoint.path / STATE_FILE)!r}); build the model from the checkpoint's config "
            "(read_checkpoint(path).config) or load a checkpoint trained with this vocabulary"
        )


def _check_weights(
    tensors: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], file: Path, vocab: int | None
) -> None:
    """Raise ``ValueError`` unless ``tensors`` has the names and shapes of ``expected``."""
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    shapes = [
        f"{name}: checkpoint {tuple(tensors[name].shape)}, model {tuple(expected[name].shape)}"
        for name in expected
        if name in tensors and tuple(tensors[name].shape) != tuple(expected[name].shape)
    ]
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(
            f"missing from the checkpoint: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
        )
    if unexpected:
        more = " ..." if len(unexpected) > 5 else ""
        parts.append(f"not in the model: {', '.join(unexpected[:5])}{more}")
    if shapes:
        parts.append(f"different shapes: {'; '.join(shapes[:5])}{' ...' if len(shapes) > 5 else ''}")
    hint = f" (the checkpoint's config has vocab_size {vocab})" if vocab is not None else ""
    raise ValueError(
        f"{str(file)!r} holds weights of another architecture{hint}: {' | '.join(parts)}; build the model "
        "from the checkpoint's config (read_checkpoint(path).config)"
    )


def _read(checkpoint: Checkpoint, role: str) -> dict[str, torch.Tensor]:
    """The tensors of the file of ``role``, checked to belong to the same save as ``state.json``."""
    file = checkpoint.file(role)
    tensors, metadata = read_tensor_file(file, WHAT[role])
    saved = metadata.get("unmask.step")
    if saved != str(checkpoint.step) or metadata.get("unmask.role") != role:
        raise ValueError(
            f"{str(file)!r} was saved as {metadata.get('unmask.role')!r} of step {saved}, but "
            f"{STATE_FILE!r} is of step {checkpoint.step}; the files come from different saves: load "
            "another checkpoint"
        )
    return tensors


def _missing(checkpoint: Checkpoint, role: str, argument: str) -> ValueError:
    return ValueError(
        f"the checkpoint {str(checkpoint.path)!r} has no {CONTENTS[role]} (it was saved without "
        f"{argument}=); pass {argument}=None to load it without"
    )


def load_checkpoint(
    path: str | os.PathLike,
    model: torch.nn.Module,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    ema: ExponentialMovingAverage | None = None,
    generators: Mapping[str, torch.Generator] | None = None,
    restore_rng: bool = True,
) -> Checkpoint:
    """Load the checkpoint at ``path`` (a checkpoint folder, or a run folder: its latest) into
    ``model`` and, when given, ``optimizer``, ``ema`` and the named ``generators``; with
    ``restore_rng``, put back this process's random states. Returns the checkpoint's state.

    Every file is read and checked before anything is changed; a failure raises ``ValueError``
    naming the file (missing, truncated, of another save, another architecture or vocabulary, an
    optimizer of another kind) and leaves the model, optimizer, EMA and random states untouched.
    The optimizer's hyperparameters come back as saved (set the learning rate after loading, as
    each step does with :func:`~unmask.train.trainer.lr_schedule.set_learning_rate`)."""
    model = unwrap_model(model)
    if optimizer is not None:
        checks.instance("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer or None")
    if ema is not None:
        checks.instance("ema", ema, ExponentialMovingAverage, "an ExponentialMovingAverage or None")
    if not isinstance(restore_rng, bool):
        raise TypeError(f"restore_rng must be a bool, got {restore_rng!r}")
    checkpoint = read_checkpoint(path)
    _check_vocabulary(checkpoint, model)
    vocab = _checkpoint_vocab_size(checkpoint)
    expected = model.state_dict()

    weights = _read(checkpoint, "model")
    _check_weights(weights, expected, checkpoint.file("model"), vocab)

    ema_state = None
    if ema is not None:
        if not checkpoint.has_ema:
            raise _missing(checkpoint, "ema", "ema")
        averaged = _read(checkpoint, "ema")
        _check_weights(averaged, expected, checkpoint.file("ema"), vocab)
        counters = checkpoint.state.get("ema") or {}
        names = [name for name, p in model.named_parameters() if p.is_floating_point()]
        if len(names) != len(ema.names):
            raise ValueError(
                f"ema averages {len(ema.names)} parameters, the model has {len(names)}; make the "
                "ExponentialMovingAverage from this model"
            )
        ema_state = {
            **counters,
            "shadow": {mine: averaged[name] for mine, name in zip(ema.names, names, strict=True)},
        }
        try:
            ema.check_state_dict(ema_state)
        except (TypeError, ValueError) as error:
            where = f"{str(checkpoint.file('ema'))!r} (with the 'ema' entry of {STATE_FILE!r})"
            raise ValueError(f"{where}: {error}") from None

    optimizer_state = None
    if optimizer is not None:
        if not checkpoint.has_optimizer:
            raise _missing(checkpoint, "optimizer", "optimizer")
        description = checkpoint.state.get("optimizer") or {}
        saved_class, live_class = description.get("class"), type(optimizer).__name__
        if saved_class != live_class:
            raise ValueError(
                f"the checkpoint {str(checkpoint.path)!r} holds the state of a {saved_class} optimizer, "
                f"not of a {live_class}; build the optimizer the run used"
            )
        tensors = _read(checkpoint, "optimizer")
        try:
            optimizer_state = rebuild_optimizer_state(tensors, description, optimizer)
            check_state_shapes(optimizer_state, optimizer)
        except ValueError as error:
            raise ValueError(f"{str(checkpoint.file('optimizer'))!r}: {error}") from None

    rng_state = None
    if restore_rng or generators:
        if "rng" in checkpoint.files:
            rng_state = RngState(tensors=_read(checkpoint, "rng"), info=checkpoint.state.get("rng") or {})
            try:
                check_rng_state(rng_state, generators, process=restore_rng)
            except ValueError as error:
                raise ValueError(f"{str(checkpoint.file('rng'))!r}: {error}") from None
        elif generators:
            raise _missing(checkpoint, "rng", "generators")

    model.load_state_dict(weights)
    if ema_state is not None:
        ema.load_state_dict(ema_state)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    if rng_state is not None:
        restore_rng_state(rng_state, generators, process=restore_rng)
    return checkpoint


def load_weights(path: str | os.PathLike, model: torch.nn.Module, use_ema: bool | None = None) -> Path:
    """Load weights for sampling into ``model``; returns the file they came from.

    ``path``: a checkpoint folder, a run folder (its latest checkpoint) or a ``.safetensors`` file.
    ``use_ema``: None takes the EMA weights when the checkpoint has them, else the model weights;
    True requires the EMA weights; False takes the model weights. Checked like
    :func:`load_checkpoint` (vocabulary, names and shapes) before the model changes."""
    model = unwrap_model(model)
    if use_ema is not None and not isinstance(use_ema, bool):
        raise TypeError(f"use_ema must be None (EMA weights when present), True or False, got {use_ema!r}")
    if isinstance(path, str | os.PathLike) and Path(path).suffix == ".safetensors":
        if use_ema is not None:
            raise ValueError(
                f"use_ema={use_ema} chooses a file of a checkpoint folder; {str(path)!r} is already a file: "
                "pass use_ema=None"
            )
        file = Path(path)
        tensors, _ = read_tensor_file(file, "weights")
        _check_weights(tensors, model.state_dict(), file, None)
        model.load_state_dict(tensors)
        return file
    checkpoint = read_checkpoint(path)
    if use_ema and not checkpoint.has_ema:
        raise ValueError(
            f"the checkpoint {str(checkpoint.path)!r} has no EMA weights (it was saved without ema=); "
            "pass use_ema=None or use_ema=False to load the model weights"
        )
    role = "ema" if checkpoint.has_ema and use_ema is not False else "model"
    _check_vocabulary(checkpoint, model)
    tensors = _read(checkpoint, role)
    _check_weights(tensors, model.state_dict(), checkpoint.file(role), _checkpoint_vocab_size(checkpoint))
    model.load_state_dict(tensors)
    return checkpoint.file(role)
