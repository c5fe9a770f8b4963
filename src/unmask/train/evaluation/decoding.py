"""``text_decoder``: turn a trained model's token ids back into text, from its data description.

A checkpoint's data description (``Checkpoint.data``, the training source's ``describe()``) says
what the ids mean:

* ``"kind": "bytes"`` (:class:`~unmask.train.data.ByteText`): id ``b`` is the byte ``b``; a row is
  decoded as UTF-8, invalid bytes becoming U+FFFD (``errors="replace"``);
* ``"kind": "tokenized"`` (:class:`~unmask.train.data.TokenizedText`): the ids of the tokenizer at
  ``description["tokenizer"]["path"]``, decoded by it when that file is still there and still the
  one trained with (its SHA-256 is checked);
* anything else (an exact target): no text, the ids themselves.

The kinds live in the plain dict :data:`DECODERS`; nothing else reads them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.tokenized import load_tokenizer

#: ``decode(ids) -> text`` of one row.
Decode = Callable[[Sequence[int]], str]


@dataclass(frozen=True)
class TextDecoder:
    """How to show rows: ``decode`` (None: show the ids) and ``note``, a line saying why there is no
    text where text was expected (None otherwise)."""

    decode: Decode | None
    note: str | None = None


def _bytes(description: Mapping[str, Any]) -> TextDecoder:
    def decode(ids: Sequence[int]) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")

    return TextDecoder(decode)


def _tokenized(description: Mapping[str, Any]) -> TextDecoder:
    saved = description.get("tokenizer")
    path = saved.get("path") if isinstance(saved, Mapping) else None
    if not isinstance(path, str):
        return TextDecoder(None, "the data description names no tokenizer file: showing token ids")
    file = Path(path)
    if not file.is_file():
        return TextDecoder(
            None, f"the tokenizer {path!r} the model was trained with is gone: showing token ids"
        )
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    if isinstance(saved, Mapping) and saved.get("sha256") not in (None, digest):
        return TextDecoder(
            None, f"the tokenizer {path!r} changed since training (its SHA-256 differs): showing token ids"
        )
    try:
        tokenizer = load_tokenizer(file)
    except (ImportError, ValueError) as error:
        return TextDecoder(None, f"{error}: showing token ids")

    def decode(ids: Sequence[int]) -> str:
        return tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)

    return TextDecoder(decode)


#: Data kind -> the decoder it builds from its description.
DECODERS: dict[str, Callable[[Mapping[str, Any]], TextDecoder]] = {
    "bytes": _bytes,
    "tokenized": _tokenized,
}


def text_decoder(description: Mapping[str, Any]) -> TextDecoder:
    """The :class:`TextDecoder` of a data description (module docstring)."""
    if not isinstance(description, Mapping):
        raise TypeError(f"description must be a data description (a dict), got {type(description).__name__}")
    builder = DECODERS.get(description.get("kind"))  # type: ignore[arg-type]
    return TextDecoder(None) if builder is None else builder(description)
