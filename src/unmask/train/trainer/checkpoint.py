"""Training checkpoints: safetensors weights and a JSON state, saved crash-safely, loaded without pickle.

Layout of a checkpoint folder ``DIR``::

    DIR/checkpoint-000100/model.safetensors      model.state_dict()
                          ema.safetensors        the EMA weights as a full state dict (optional)
                          optimizer.safetensors  the optimizer's state tensors (optional)
                          rng.safetensors        random states (optional)
                          state.json             step, configs, seed, data, metrics, the optimizer's
                                                 hyperparameters and non-tensor state, EMA counters,
                                                 versions (written last)
    DIR/latest                                   {"checkpoint": "checkpoint-000100", "step": 100}

Saving is crash-safe. The files are written (each atomically, with the user's umask, by
:func:`unmask.files.write_output`) into a hidden folder ``.checkpoint-000100.partial-*``, which is
renamed to ``checkpoint-000100`` once complete; the ``latest`` pointer is written after that, and
only then are older checkpoints pruned. A crash at any point leaves ``latest`` naming a complete
checkpoint: the previous one until the new one is whole. (Saving a step that already has a folder,
as a resumed run does, points ``latest`` at the complete hidden folder before the old folder goes;
:func:`find_latest` falls back from a vanished hidden folder to ``checkpoint-<step>``.)

Nothing is ever unpickled: tensors come from safetensors, everything else from JSON; the
optimizer's state dict is split into both and rebuilt exactly (:mod:`.optimizer_state`). Tensors
are copied to the host at save time only, and loading copies them into the model's (and the
optimizer's) tensors, on their device. Loading checks everything before changing anything: the
format version, that the files belong to the same save, the vocabulary (``"checkpoint has
vocab_size X, model expects Y"`` when the checkpoint's config and the model's ``config`` both say
it), the parameter names and shapes, the optimizer's groups; each failure is a ``ValueError``
naming the file and what to do.

Loading is in :mod:`.checkpoint_loading`. In data-parallel training only the main rank saves
(all ranks may load).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ... import checks
from ...files import check_folder, write_output
from .ema import ExponentialMovingAverage
from .optimizer_state import split_optimizer_state
from .rng_state import capture_rng_state
from .tensor_file import write_tensor_file

#: What ``state.json`` says it is, and the version of its layout this module writes and reads.
FORMAT = "unmask.checkpoint"
FORMAT_VERSION = 1

STATE_FILE = "state.json"
LATEST_FILE = "latest"
#: The role of each weight file and its name in a checkpoint folder.
FILES = {
    "model": "model.safetensors",
    "ema": "ema.safetensors",
    "optimizer": "optimizer.safetensors",
    "rng": "rng.safetensors",
}
#: What the file of each role holds, in words.
CONTENTS = {
    "model": "model weights",
    "ema": "EMA weights",
    "optimizer": "optimizer state",
    "rng": "random states",
}
_WHAT = {role: f"the {noun}" for role, noun in CONTENTS.items()}
_NAME = re.compile(r"checkpoint-(\d+)")
_PARTIAL = re.compile(r"\.checkpoint-\d+\.partial-[0-9a-f-]+")


def checkpoint_name(step: int) -> str:
    """The folder name of the checkpoint of ``step``: ``checkpoint-000100`` (at least six digits)."""
    return f"checkpoint-{checks.positive_int('step', step, minimum=0):06d}"


@dataclass(frozen=True)
class Checkpoint:
    """What ``state.json`` of a checkpoint folder says.

    Attributes:
        path: the checkpoint folder.
        step: the number of optimizer steps taken when it was saved.
        config: the configs the run was given (JSON: dataclasses were saved as dicts).
        data: the description of the data (JSON).
        metrics: the metrics at the time of the save (JSON).
        seed: the run's seed, or None.
        extra: anything else the trainer saved (JSON).
        unmask_version: the version of unmask that saved it.
        files: role (``"model"``, ``"ema"``, ``"optimizer"``, ``"rng"``) -> file name, for the files it has.
        state: the whole parsed ``state.json``.
    """

    path: Path
    step: int
    config: dict[str, Any]
    data: dict[str, Any]
    metrics: dict[str, Any]
    seed: int | None
    extra: dict[str, Any]
    unmask_version: str
    files: dict[str, str]
    state: dict[str, Any] = dataclasses.field(repr=False)

    @property
    def has_ema(self) -> bool:
        """Whether the checkpoint holds EMA weights."""
        return "ema" in self.files

    @property
    def has_optimizer(self) -> bool:
        """Whether the checkpoint holds an optimizer state."""
        return "optimizer" in self.files

    def file(self, role: str) -> Path:
        """The path of the file of ``role``."""
        return self.path / self.files[role]


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside ``DistributedDataParallel``/``DataParallel`` and ``torch.compile`` wrappers,
    whose state dict has the plain parameter names."""
    checks.instance("model", model, torch.nn.Module, "a torch.nn.Module")
    while True:
        if isinstance(model, torch.nn.parallel.DistributedDataParallel | torch.nn.DataParallel):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), torch.nn.Module):
            model = model._orig_mod
        else:
            return model


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        return item()
    raise TypeError(f"{value!r:.80} ({type(value).__name__}) is not JSON-serialisable")


def _json_field(name: str, value: Any) -> Any:
    """``value`` (a mapping or None) as parsed JSON, or ``TypeError`` naming ``name``."""
    if value is None:
        return {}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{name} must be a mapping (a dict of JSON values) or None, got {type(value).__name__}"
        )
    try:
        return json.loads(json.dumps(dict(value), default=_json_default))
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must hold JSON values (str, numbers, bools, None, lists, dicts; dataclasses are "
            f"turned into dicts): {error}"
        ) from None


def _check_keep_last(keep_last: int | None) -> int | None:
    return None if keep_last is None else checks.positive_int("keep_last", keep_last)


def _sync_folder(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(handle)
    finally:
        os.close(handle)


def _write_pointer(directory: Path, folder: str, step: int) -> None:
    text = json.dumps({"checkpoint": folder, "step": step}) + "\n"
    write_output(directory / LATEST_FILE, text, force=True)
    _sync_folder(directory)


def _read_pointer(directory: Path) -> dict[str, Any] | None:
    path = directory / LATEST_FILE
    if not path.exists():
        return None
    try:
        pointer = json.loads(path.read_text(encoding="utf-8"))
        folder, step = pointer["checkpoint"], pointer["step"]
        valid = isinstance(folder, str) and folder == Path(folder).name and folder not in ("", ".", "..")
        if not valid or not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ValueError
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(
            f"{str(path)!r} is not a valid pointer to the latest checkpoint (it should hold "
            '{"checkpoint": "checkpoint-000100", "step": 100}); delete it, or pass the checkpoint '
            "folder to load instead of its parent"
        ) from None
    return pointer


def list_checkpoints(directory: str | os.PathLike) -> list[tuple[int, Path]]:
    """The complete checkpoints in ``directory`` as ``(step, folder)``, by increasing step."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        match = _NAME.fullmatch(entry.name)
        if match and (entry / STATE_FILE).is_file():
            found.append((int(match.group(1)), entry))
    return sorted(found)


def find_latest(directory: str | os.PathLike) -> Path | None:
    """The folder of the latest checkpoint in ``directory`` (the one its ``latest`` pointer names),
    or None when there is none yet (no pointer: a run that never finished a save starts afresh).

    Raises ``ValueError`` for a pointer that is corrupt or names a checkpoint that is gone."""
    directory = Path(directory)
    pointer = _read_pointer(directory) if directory.is_dir() else None
    if pointer is None:
        return None
    for candidate in (directory / pointer["checkpoint"], directory / checkpoint_name(pointer["step"])):
        if (candidate / STATE_FILE).is_file():
            return candidate
    raise ValueError(
        f"{str(directory / LATEST_FILE)!r} names {pointer['checkpoint']!r} (step {pointer['step']}), which "
        f"is missing or incomplete; pass another checkpoint folder of {str(directory)!r} to load"
    )


def _prune(directory: Path, step: int, keep_last: int | None, keep: set[str]) -> None:
    """Remove checkpoints at or before ``step`` beyond the ``keep_last`` newest, and hidden partial
    folders of crashed saves; folders named in ``keep`` stay. Checkpoints after ``step`` (of an
    abandoned run that a resumed run overwrites as it reaches them) are left alone."""
    for entry in directory.iterdir():
        if _PARTIAL.fullmatch(entry.name) and entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)
    if keep_last is None:
        return
    older = [folder for saved, folder in list_checkpoints(directory) if saved <= step]
    for folder in older[: max(len(older) - keep_last, 0)]:
        if folder.name not in keep:
            shutil.rmtree(folder)


def save_checkpoint(
    directory: str | os.PathLike,
    step: int,
    model: torch.nn.Module,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    ema: ExponentialMovingAverage | None = None,
    config: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    seed: int | None = None,
    extra: Mapping[str, Any] | None = None,
    generators: Mapping[str, torch.Generator] | None = None,
    save_rng: bool = True,
    keep_last: int | None = 3,
) -> Path:
    """Save a checkpoint of ``step`` in ``directory`` and point ``latest`` at it; returns its folder.

    Args:
        directory: the run's checkpoint folder (created when missing).
        step: the number of optimizer steps taken, an integer >= 0 (names the folder).
        model: the model (a DDP or compiled wrapper is unwrapped).
        optimizer: its optimizer, or None.
        ema: its :class:`ExponentialMovingAverage`, or None; saved as full weights to sample from.
        config, data, metrics, extra: JSON mappings (dataclass values are saved as dicts). Put the
            model's config (with its ``vocab_size``) in ``config``: loading checks it.
        seed: the run's seed, or None.
        generators: named ``torch.Generator`` objects whose states to save (with ``save_rng``).
        save_rng: save the random states of this process (torch, CUDA, Python, numpy) for exact
            dropout on resume.
        keep_last: keep this many newest checkpoints (at or before ``step``), deleting older ones
            once the new one is complete; None keeps all.

    The arguments are checked, and the JSON state built, before anything is written; the tensors
    are copied to the host one file at a time as they are written.
    """
    step = checks.positive_int("step", step, minimum=0)
    model = unwrap_model(model)
    if optimizer is not None:
        checks.instance("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer or None")
    if ema is not None:
        checks.instance("ema", ema, ExponentialMovingAverage, "an ExponentialMovingAverage or None")
    if seed is not None:
        seed = checks.seed("seed", seed)
    if not isinstance(save_rng, bool):
        raise TypeError(f"save_rng must be a bool, got {save_rng!r}")
    if generators and not save_rng:
        raise ValueError("generators are saved with the random states: pass save_rng=True or drop generators")
    keep_last = _check_keep_last(keep_last)
    if not isinstance(directory, str | os.PathLike):
        raise TypeError(f"directory must be a path, got {type(directory).__name__}")
    directory = Path(directory)
    check_folder(directory)
    name = checkpoint_name(step)
    metadata = {"format": "pt", "unmask.format": FORMAT, "unmask.step": str(step)}

    from ... import __version__

    state: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "unmask_version": __version__,
        "torch_version": torch.__version__,
        "step": step,
        "seed": seed,
        "config": _json_field("config", config),
        "data": _json_field("data", data),
        "metrics": _json_field("metrics", metrics),
        "extra": _json_field("extra", extra),
        "files": {"model": FILES["model"]},
        "optimizer": None,
        "ema": None,
        "rng": None,
    }
    contents: dict[str, dict[str, torch.Tensor]] = {"model": model.state_dict()}
    if ema is not None:
        contents["ema"] = ema.averaged_state_dict(model)
        ema_state = ema.state_dict()
        state["ema"] = {key: ema_state[key] for key in ("decay", "warmup", "updates")}
    if optimizer is not None:
        tensors, description = split_optimizer_state(optimizer.state_dict())
        contents["optimizer"] = tensors
        state["optimizer"] = {"class": type(optimizer).__name__, **description}
    if save_rng:
        rng = capture_rng_state(generators)
        contents["rng"] = rng.tensors
        state["rng"] = rng.info
    state["files"] = {role: FILES[role] for role in contents}
    state_text = json.dumps(state, indent=2) + "\n"

    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    os.mkdir(partial)  # mode 0o777 & ~umask, like any folder a shell creates
    try:
        for role, tensors in contents.items():
            write_tensor_file(partial / FILES[role], tensors, {**metadata, "unmask.role": role})
        write_output(partial / STATE_FILE, state_text)
        _sync_folder(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    final = directory / name
    if final.exists():
        # Replacing a folder: let `latest` name the complete partial folder while the old one goes.
        _write_pointer(directory, partial.name, step)
        shutil.rmtree(final)
    os.rename(partial, final)
    _sync_folder(directory)
    _write_pointer(directory, name, step)
    _prune(directory, step, keep_last, keep={name})
    return final


def _resolve(path: str | os.PathLike) -> Path:
    """The checkpoint folder ``path`` names: a checkpoint folder, its ``state.json``, or a run
    folder with a ``latest`` pointer."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a checkpoint folder or a run folder, got {type(path).__name__}")
    path = Path(path)
    if path.is_file() and path.name == STATE_FILE:
        return path.parent
    if (path / STATE_FILE).is_file():
        return path
    if path.is_dir():
        latest = find_latest(path)
        if latest is not None:
            return latest
    raise ValueError(
        f"no checkpoint at {str(path)!r}: it has neither {STATE_FILE!r} (a checkpoint folder) nor a "
        f"{LATEST_FILE!r} pointer (a run folder); pass the folder save_checkpoint wrote"
    )


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """The state of the checkpoint at ``path`` (a checkpoint folder, or a run folder: its latest
    checkpoint), without loading any weights: for building the model from its config first.

    Raises ``ValueError`` naming ``state.json`` when it is corrupt, of another format or version,
    or lists a file that is missing."""
    folder = _resolve(path)
    file = folder / STATE_FILE
    try:
        state = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{str(file)!r} cannot be read as JSON ({error}); the checkpoint is corrupt: load another one"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f'{str(file)!r} is not an unmask checkpoint state (no "format": {FORMAT!r})')
    version = state.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{str(file)!r} has format_version {version!r}; this unmask reads version {FORMAT_VERSION}: "
            + (
                "upgrade unmask (pip install -U unmask) to load it"
                if isinstance(version, int) and version > FORMAT_VERSION
                else "it was written by an incompatible unmask; load it with the unmask version that saved it"
            )
        )
    try:
        step, files = state["step"], state["files"]
        if not isinstance(step, int) or step < 0 or not isinstance(files, dict) or "model" not in files:
            raise KeyError("step" if not isinstance(step, int) else "files")
        unknown = sorted(set(files) - set(FILES))
        if unknown or any(files[role] != FILES[role] for role in files):
            raise KeyError("files")
        for role in ("config", "data", "metrics", "extra"):
            if not isinstance(state[role], dict):
                raise KeyError(role)
    except KeyError as error:
        raise ValueError(
            f"{str(file)!r} lacks or garbles the entry {error}; the checkpoint is corrupt: load another one"
        ) from None
    for role, name in files.items():
        if not (folder / name).is_file():
            raise ValueError(
                f"{str(folder / name)!r} ({_WHAT[role]}) is missing; the checkpoint is incomplete: load "
                "another checkpoint or save this one again"
            )
    return Checkpoint(
        path=folder,
        step=step,
        config=state["config"],
        data=state["data"],
        metrics=state["metrics"],
        seed=state.get("seed"),
        extra=state["extra"],
        unmask_version=str(state.get("unmask_version")),
        files=dict(files),
        state=state,
    )
