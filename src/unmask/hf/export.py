"""``export_checkpoint``: a model trained by ``unmask train`` saved as a ``transformers`` model folder.

The folder holds what ``save_pretrained`` writes for the model (``config.json``,
``model.safetensors``) and its tokenizer (``tokenizer.json`` and its config), so that
:func:`unmask.hf.load`, ``unmask generate --model FOLDER`` and ``transformers``' own
``AutoModel.from_pretrained`` (once :mod:`unmask.hf.pretrained` is imported) read it back: the
library's own models go through the same path as any Hugging Face model
(:mod:`.pretrained` for the model classes, :mod:`.data_tokenizer` for the tokenizer).

The folder is written whole or not at all: into a new folder beside the destination, which is
renamed into place once complete (with ``force``, over an existing folder, which is removed only
then). Folders and files get the modes of new ones under the user's umask, whatever modes the
writing libraries chose.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from ..files import OutputError, OutputExists, current_umask, new_file_mode
from .loading import require_transformers


class TokenizerError(ValueError):
    """The tokenizer given or rebuilt does not fit the model (its message says how to fix it)."""


def export_checkpoint(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    *,
    tokenizer: Any = None,
    use_ema: bool | None = None,
    force: bool = False,
) -> Path:
    """Save the denoiser of an ``unmask train`` checkpoint as a ``transformers`` folder ``out``.

    Args:
        checkpoint: a checkpoint folder, a run's ``checkpoints`` folder or the run's folder (its
            latest checkpoint), as :func:`unmask.train.load_model` reads it.
        out: the folder to write; it must not exist, or be empty (``force``: replace it).
        tokenizer: the run's tokenizer (a ``transformers`` tokenizer, or the path of a folder that
            ``AutoTokenizer`` reads) with ``V + 1`` ids, the mask token last; None rebuilds it from
            the checkpoint's data record (:mod:`.data_tokenizer`).
        use_ema: as :func:`unmask.train.load_model`: None takes the EMA weights when saved.
        force: replace an existing non-empty folder ``out``.

    Returns:
        The folder written. The model must be a denoiser without time conditioning
        (:func:`.pretrained.model_config`); every check runs before anything is written.
    """
    require_transformers()
    from ..train.from_checkpoint import load_model, model_config_of
    from . import pretrained
    from .data_tokenizer import data_tokenizer

    if not isinstance(force, bool):
        raise TypeError(f"force must be True or False, got {force!r}")
    destination = check_export_destination(out, force)
    model, state = load_model(checkpoint, use_ema=use_ema)
    record = model_config_of(state).to_dict()
    config = pretrained.UnmaskConfig(unmask_model=record, unmask_training=_training_record(state))
    vocab_size = config.mask_token_id
    try:
        tokenizer = _tokenizer(tokenizer, state.data, vocab_size, data_tokenizer)
    except ValueError as error:
        raise TokenizerError(str(error)) from None
    exported = pretrained.UnmaskDenoiserModel(config)
    exported.denoiser.load_state_dict(model.state_dict())
    exported.eval()
    return _write_folder(destination, force, lambda folder: _save(exported, tokenizer, folder))


def _training_record(state: Any) -> dict[str, Any]:
    """What the config keeps of the run: the step, the data's kind and name, the unmask version."""
    from .. import __version__

    data = state.data if isinstance(state.data, dict) else {}
    return {
        "step": state.step,
        "data": {"kind": data.get("kind"), "name": data.get("name")},
        "unmask_version": __version__,
    }


def _tokenizer(tokenizer: Any, data: Any, vocab_size: int, rebuild) -> Any:
    """The tokenizer given (an object or a folder), or the one rebuilt from ``data``, checked to
    have ``vocab_size + 1`` ids with the mask token last."""
    if tokenizer is None:
        return rebuild(data if isinstance(data, dict) else {}, vocab_size)
    if isinstance(tokenizer, (str, os.PathLike)):
        transformers = require_transformers()
        folder = Path(tokenizer)
        if not folder.is_dir():
            raise ValueError(
                f"tokenizer = {str(folder)!r} is not a folder; give a folder saved by save_pretrained"
            )
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    if not hasattr(tokenizer, "mask_token_id") or not hasattr(tokenizer, "save_pretrained"):
        raise TypeError(
            f"tokenizer must be a transformers tokenizer or a folder, got {type(tokenizer).__name__}"
        )
    if len(tokenizer) != vocab_size + 1 or tokenizer.mask_token_id != vocab_size:
        raise ValueError(
            f"the tokenizer has {len(tokenizer)} ids with the mask token at {tokenizer.mask_token_id}; the "
            f"model predicts {vocab_size} tokens, so its tokenizer needs {vocab_size + 1} ids with the "
            f"mask token last (id {vocab_size}): add the mask token with "
            "tokenizer.add_special_tokens({'mask_token': '[MASK]'}), or leave tokenizer=None to rebuild it"
        )
    return tokenizer


def _save(model: Any, tokenizer: Any, folder: Path) -> None:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def check_export_destination(out: str | os.PathLike, force: bool) -> Path:
    """``out`` as a path, after checking that it may be written (module docstring)."""
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a folder path, got {type(out).__name__}")
    destination = Path(out)
    if destination.is_symlink() or (destination.exists() and not destination.is_dir()):
        raise OutputError(f"{str(destination)!r} exists and is not a folder; give a new folder")
    if destination.is_dir() and any(destination.iterdir()) and not force:
        raise OutputExists(destination)
    return destination


def _give_new_file_modes(folder: Path) -> None:
    """Give every file under ``folder`` the mode of a new file (``0o666 & ~umask``) and every
    folder ``0o777 & ~umask``: the libraries that write them may go through private temporary
    files (``0o600``)."""
    file_mode = new_file_mode()
    folder_mode = 0o777 & ~current_umask()
    for root, folders, files in os.walk(folder):
        for name in folders:
            os.chmod(os.path.join(root, name), folder_mode)
        for name in files:
            os.chmod(os.path.join(root, name), file_mode)


def _write_folder(destination: Path, force: bool, write) -> Path:
    """Run ``write(folder)`` on a new folder beside ``destination``, then rename it into place."""
    parent = destination.parent
    parent.mkdir(parents=True, exist_ok=True)
    partial = parent / f".{destination.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    os.mkdir(partial)  # mode 0o777 & ~umask
    try:
        write(partial)
        _give_new_file_modes(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    old = None
    if destination.exists():
        old = parent / f".{destination.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
        os.rename(destination, old)
    os.rename(partial, destination)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return destination
