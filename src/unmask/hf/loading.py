"""``load``: a denoiser from a Hugging Face model name or a local directory.

``load(name_or_path)`` reads the config, the tokenizer and the model with ``from_pretrained``
(``local_files_only=True`` when ``name_or_path`` is a directory, so a local path never reaches the
network), decides the kind (:mod:`.kinds`) from ``config.architectures`` and the config, and
picks the model class:

1. code shipped with the checkpoint (``config.auto_map``, with ``trust_remote_code=True``): the
   first of the kind's Auto classes that the checkpoint maps (LLaDA and Dream map ``AutoModel``);
2. a ``transformers`` class named by ``config.architectures`` (``BertForMaskedLM``);
3. the kind's Auto classes in order (a model registered locally with ``AutoModel.register``).

``transformers`` is imported here, when ``load`` runs, never by ``import unmask``: it is the
optional ``hf`` extra (``pip install 'unmask[hf]'``).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from .adapter import HFDenoiser
from .kinds import Kind, check_kind, resolve_kind
from .logits_processing import LogitsProcessing

INSTALL_HINT = "pip install 'unmask[hf]'"

#: The options of :class:`.HFDenoiser` that ``load`` passes on.
ADAPTER_OPTIONS = ("suppress_special", "allow_eos", "temperature", "top_k", "top_p", "mask_token_id")


def require_transformers() -> ModuleType:
    """The ``transformers`` module, or an ``ImportError`` that says how to install it."""
    try:
        import transformers
    except ImportError as error:
        raise ImportError(
            f"unmask.hf needs the transformers package, which is not installed: {INSTALL_HINT}"
        ) from error
    return transformers


def model_class(transformers: ModuleType, kind: Kind, config: Any, trust_remote_code: bool) -> Any:
    """The class whose ``from_pretrained`` loads a model of ``config`` read as ``kind`` (module
    docstring)."""
    auto_map = getattr(config, "auto_map", None) or {}
    if trust_remote_code:
        for name in kind.auto_classes:
            if name in auto_map:
                return getattr(transformers, name)
    for name in getattr(config, "architectures", None) or ():
        found = getattr(transformers, str(name), None)
        if isinstance(found, type):
            return found
    for name in kind.auto_classes:
        auto = getattr(transformers, name)
        try:
            auto._model_mapping[type(config)]  # noqa: B018 (a lookup: is the config registered?)
        except KeyError:
            continue
        return auto
    raise ValueError(
        f"no transformers class loads a {kind.name} model of type {getattr(config, 'model_type', '?')!r} "
        f"(tried {', '.join(kind.auto_classes)}): if the checkpoint ships its own code, pass "
        "trust_remote_code=True; otherwise load the model yourself and wrap it with "
        "HFDenoiser(model, tokenizer)"
    )


def load(
    name_or_path: str | os.PathLike,
    *,
    kind: str = "auto",
    dtype: torch.dtype | str | None = None,
    device: torch.device | str | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
    **adapter_options: Any,
) -> HFDenoiser:
    """A :class:`.HFDenoiser` for the model and tokenizer at ``name_or_path``.

    Args:
        name_or_path: a Hugging Face Hub name (``"GSAI-ML/LLaDA-8B-Instruct"``) or a local
            directory written by ``save_pretrained`` (read with ``local_files_only=True``).
        kind: ``"auto"``, ``"diffusion"``, ``"masked-lm"`` or ``"shifted"`` (:mod:`.kinds`).
        dtype: the weights' dtype (``torch.bfloat16``, ``"auto"`` for the checkpoint's own); None
            keeps the ``transformers`` default.
        device: where to put the model (None: where ``from_pretrained`` puts it, the CPU).
        trust_remote_code: run the code a checkpoint ships (LLaDA, Dream); read it first.
        revision: a branch, tag or commit of a Hub repository.
        adapter_options: ``suppress_special``, ``allow_eos``, ``temperature``, ``top_k``,
            ``top_p``, ``mask_token_id`` (:class:`.HFDenoiser`), checked before anything is read.

    The model is returned as ``from_pretrained`` leaves it: in evaluation mode.
    """
    check_kind(kind)
    unknown = sorted(set(adapter_options) - set(ADAPTER_OPTIONS))
    if unknown:
        raise TypeError(
            f"load() got an unexpected keyword argument {unknown[0]!r}; the adapter options are "
            f"{', '.join(ADAPTER_OPTIONS)}"
        )
    LogitsProcessing(
        adapter_options.get("temperature", 1.0), adapter_options.get("top_k"), adapter_options.get("top_p")
    )
    if not isinstance(trust_remote_code, bool):
        raise TypeError(f"trust_remote_code must be True or False, got {trust_remote_code!r}")
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(
            f"name_or_path must be a model name or a directory, got {type(name_or_path).__name__}"
        )
    transformers = require_transformers()
    from . import pretrained  # noqa: F401  (registers unmask's own models with the Auto classes)

    local = Path(name_or_path).is_dir()
    source = str(name_or_path)
    common: dict[str, Any] = {"trust_remote_code": trust_remote_code, "local_files_only": local}
    if revision is not None:
        common["revision"] = revision
    config = transformers.AutoConfig.from_pretrained(source, **common)
    tokenizer = transformers.AutoTokenizer.from_pretrained(source, **common)
    resolved = resolve_kind(kind, getattr(config, "architectures", None) or (), config)
    cls = model_class(transformers, resolved, config, trust_remote_code)
    loading = dict(common)
    if dtype is not None:
        loading["dtype"] = dtype
    model = cls.from_pretrained(source, config=config, **loading)
    if device is not None:
        model = model.to(device)
    return HFDenoiser(model, tokenizer, kind=resolved.name, **adapter_options)
