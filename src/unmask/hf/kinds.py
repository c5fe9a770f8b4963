"""The kinds of Hugging Face model a denoiser can wrap, and how ``kind="auto"`` picks one.

A kind says where the model's prediction for position ``i`` is read and which ``transformers``
Auto classes load it:

* ``"diffusion"``: a bidirectional masked-diffusion model (the LLaDA family) whose logits at
  position ``i`` are the law of token ``i``; it ignores the time.
* ``"masked-lm"``: an encoder masked language model (BERT, RoBERTa, ModernBERT): the same reading,
  loaded with ``AutoModelForMaskedLM``.
* ``"shifted"``: a diffusion model initialised from an autoregressive one (the Dream family): its
  logits at position ``i`` predict token ``i + 1``, so the denoiser's output at ``i`` is the
  model's output at ``i - 1`` (:mod:`.shifted`).

``"auto"`` decides from the class names (the model's own, or ``config.architectures`` before
loading) and the config: a ``*ForMaskedLM`` class is ``"masked-lm"``; a model type known to be
shifted (:data:`SHIFTED_MODEL_TYPES`) is ``"shifted"``; a causal language model (a
``*ForCausalLM`` or ``*LMHeadModel`` class, or ``config.is_decoder``) is refused, since reading it
either way would be a silent guess; anything else is ``"diffusion"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kind:
    """How a kind of model is read and loaded.

    Attributes:
        name: the kind's name.
        shifted: the logits at position ``i`` predict token ``i + 1`` (read them one position right).
        auto_classes: the ``transformers`` Auto classes that load it, in order of preference: a
            class with a language-model head before ``AutoModel`` (which maps a native config to
            its headless base model, but the checkpoints of LLaDA and Dream to their LM classes).
    """

    name: str
    shifted: bool
    auto_classes: tuple[str, ...]


#: The kinds a denoiser can wrap, by name.
KINDS: dict[str, Kind] = {
    "diffusion": Kind("diffusion", False, ("AutoModelForMaskedLM", "AutoModel", "AutoModelForCausalLM")),
    "masked-lm": Kind("masked-lm", False, ("AutoModelForMaskedLM",)),
    "shifted": Kind("shifted", True, ("AutoModelForCausalLM", "AutoModel")),
}

#: ``config.model_type`` values (lower case) of models known to read their logits shifted.
SHIFTED_MODEL_TYPES = ("dream",)

_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")


def check_kind(kind: Any) -> str:
    """Return ``kind`` if it is ``"auto"`` or a name in :data:`KINDS`; raise otherwise."""
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a string, got {kind!r} ({type(kind).__name__})")
    if kind != "auto" and kind not in KINDS:
        known = ", ".join(repr(k) for k in ("auto", *KINDS))
        raise ValueError(f"kind must be one of {known}, got {kind!r}")
    return kind


def resolve_kind(kind: str, class_names: Sequence[str], config: Any) -> Kind:
    """The :class:`Kind` that ``kind`` stands for, deciding ``"auto"`` from ``class_names`` (the
    model's class, or ``config.architectures``) and ``config`` (module docstring)."""
    if check_kind(kind) != "auto":
        return KINDS[kind]
    names = [str(name) for name in class_names]
    if any(name.endswith("ForMaskedLM") for name in names):
        return KINDS["masked-lm"]
    model_type = str(getattr(config, "model_type", "") or "").lower()
    if model_type in SHIFTED_MODEL_TYPES:
        return KINDS["shifted"]
    causal = [name for name in names if name.endswith(_CAUSAL_SUFFIXES)]
    if causal or bool(getattr(config, "is_decoder", False)):
        what = causal[0] if causal else f"model type {model_type!r} with config.is_decoder=True"
        raise ValueError(
            f"kind='auto' does not guess how to read a causal language model ({what}): pass "
            "kind='shifted' for a diffusion model initialised from an autoregressive one, whose logits "
            "at position i predict token i + 1 (the Dream family), or kind='diffusion' if it is "
            "bidirectional and predicts each position in place; a plain autoregressive model is not a "
            "denoiser"
        )
    return KINDS["diffusion"]
