"""Which clean tokens a denoiser never proposes: the tokenizer's special tokens.

Special tokens (BOS, EOS, padding, CLS, SEP, UNK and the tokenizer's additional special tokens)
mark structure, not text; a sampler that draws them produces noise. ``suppress=True`` takes them
from the tokenizer (``all_special_ids`` and the ``*_token_id`` attributes), ``False`` suppresses
nothing, and an iterable of model ids names the set. ``allow_eos=True`` keeps the EOS token
possible (generation uses it to end a row early). The mask token is never a clean token and the
padding columns of the model's output are dropped already (:mod:`.vocabulary`), so neither is
listed. Suppressing every clean token is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .. import checks
from .vocabulary import HFVocabulary

#: The tokenizer attributes that name special tokens, besides ``all_special_ids``.
SPECIAL_ID_ATTRIBUTES = (
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "cls_token_id",
    "sep_token_id",
    "unk_token_id",
)


def special_ids(tokenizer: Any) -> set[int]:
    """The model ids of the tokenizer's special tokens (the mask token included)."""
    ids = {int(j) for j in getattr(tokenizer, "all_special_ids", None) or () if j is not None}
    for name in SPECIAL_ID_ATTRIBUTES:
        value = getattr(tokenizer, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            ids.add(value)
    return ids


def suppressed_columns(
    tokenizer: Any, vocabulary: HFVocabulary, suppress: bool | Iterable[int], allow_eos: bool
) -> torch.Tensor | None:
    """Bool ``[V]`` on the CPU, True at the clean columns to set to ``-inf`` (None: no column).

    Args:
        tokenizer: the model's tokenizer.
        vocabulary: its id map.
        suppress: True (the tokenizer's special tokens), False (none) or an iterable of model ids.
        allow_eos: keep the tokenizer's ``eos_token_id`` possible.
    """
    if not isinstance(allow_eos, bool):
        raise TypeError(f"allow_eos must be True or False, got {allow_eos!r} ({type(allow_eos).__name__})")
    if isinstance(suppress, bool):
        ids = special_ids(tokenizer) if suppress else set()
    elif isinstance(suppress, Iterable) and not isinstance(suppress, (str, bytes)):
        ids = {
            checks.integer("suppress_special", j, "True, False or an iterable of token ids") for j in suppress
        }
        outside = sorted(j for j in ids if not 0 <= j < vocabulary.tokenizer_size)
        if outside:
            raise ValueError(
                f"suppress_special names the id {outside[0]}, which is not a token of the tokenizer "
                f"(ids 0..{vocabulary.tokenizer_size - 1})"
            )
    else:
        raise TypeError(
            "suppress_special must be True, False or an iterable of model token ids, "
            f"got {suppress!r} ({type(suppress).__name__})"
        )
    eos = getattr(tokenizer, "eos_token_id", None)
    if allow_eos and isinstance(eos, int):
        ids.discard(eos)
    columns = vocabulary.columns(ids)
    if not columns:
        return None
    if len(columns) >= vocabulary.vocab_size:
        raise ValueError(
            f"suppress_special would suppress every one of the {vocabulary.vocab_size} clean tokens; "
            "suppress fewer (suppress_special=False or a shorter list of ids)"
        )
    mask = torch.zeros(vocabulary.vocab_size, dtype=torch.bool)
    mask[columns] = True
    return mask
