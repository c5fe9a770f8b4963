"""``export_checkpoint``: a model trained by ``unmask train`` saved as a ``transformers`` model folder.

The folder holds what ``save_pretrained`` writes for the model (``config.json``,
``model.safetensors``) and its tokenizer (``tokenizer.json`` and its config), so that
:func:`unmask.hf.load`, ``unmask generate --model FOLDER`` and ``transformers``' own
``AutoModel.from_pretrained`` (once :mod:`unmask.hf.pretrained` is imported) read it back: the
library's own models go through the same path as any Hugging Face model
(:mod:`.pretrained` for the model classes, :mod:`.data_tokenizer` for the tokenizer).

The folder is written whole or not at all, under the folder rules of :mod:`unmask.files`
(:func:`~unmask.files.check_output_folder`, :func:`~unmask.files.write_folder`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..files import check_output_folder, write_folder
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

    if not isinstance(force, bool):
        raise TypeError(f"force must be True or False, got {force!r}")
    destination = check_output_folder(out, force)
    model, state = load_model(checkpoint, use_ema=use_ema)
    record = model_config_of(state).to_dict()
    config = pretrained.UnmaskConfig(unmask_model=record, unmask_training=_training_record(state))
    vocab_size = config.mask_token_id
    try:
        tokenizer = _tokenizer(tokenizer, state.data, vocab_size)
    except ValueError as error:
        raise TokenizerError(str(error)) from None
    exported = pretrained.UnmaskDenoiserModel(config)
    exported.denoiser.load_state_dict(model.state_dict())
    exported.eval()
    return write_folder(destination, lambda folder: _save(exported, tokenizer, folder))


def _training_record(state: Any) -> dict[str, Any]:
    """What the config keeps of the run: the step, the data's kind and name, the unmask version."""
    from .. import __version__

    data = state.data if isinstance(state.data, dict) else {}
    return {
        "step": state.step,
        "data": {"kind": data.get("kind"), "name": data.get("name")},
        "unmask_version": __version__,
    }


def _tokenizer(tokenizer: Any, data: Any, vocab_size: int) -> Any:
    """The tokenizer given (an object or a folder), or the one rebuilt from ``data``, checked to
    have ``vocab_size + 1`` ids with the mask token last."""
    if tokenizer is None:
        from .data_tokenizer import data_tokenizer  # imports tokenizers and transformers

        return data_tokenizer(data if isinstance(data, dict) else {}, vocab_size)
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
