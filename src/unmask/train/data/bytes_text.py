"""``ByteText``: byte-level text, ``V = 256`` (token id = byte value).

Separator policy: every document is followed by ``separator`` (default one NUL byte ``b"\\x00"``,
which text files do not contain, so a model can learn where documents end; ``b""`` concatenates
the documents directly). Packing, the train/validation split and the per-step rows are those of
:class:`~.packed_text.PackedText`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from ... import checks
from .documents import Documents, load_corpus
from .packed_text import (
    VALIDATION_BLOCKS,
    VALIDATION_FRACTION,
    PackedText,
    check_name,
    check_validation_options,
)

#: Byte-level vocabulary size.
BYTE_VOCAB = 256
#: The default separator appended after every document.
SEPARATOR = b"\x00"
#: ``describe()`` lists the files of a corpus of at most this many files (it counts them beyond).
LISTED_FILES = 100


def _byte_tensor(content: bytes) -> torch.Tensor:
    """The bytes as a uint8 tensor ``[n]`` (a copy)."""
    return (
        torch.frombuffer(bytearray(content), dtype=torch.uint8)
        if content
        else torch.empty(0, dtype=torch.uint8)
    )


def file_listing(documents: Documents | None) -> list[str] | None:
    """The file labels of ``documents`` when they came from at most :data:`LISTED_FILES` files."""
    if documents is None or not documents.from_files or len(documents.labels) > LISTED_FILES:
        return None
    return list(documents.labels)


class ByteText(PackedText):
    """Byte-level text from local ``files`` or in-memory ``texts`` (exactly one), in rows of
    ``length`` bytes.

    Args:
        length: ``L``, bytes per row.
        files / texts: the training documents (paths; or ``str``, encoded as UTF-8, or ``bytes``).
        validation_files / validation_texts: explicit validation documents; without them the last
            ``validation_fraction`` of the byte stream is held out (:mod:`.packed_text`).
        separator: bytes appended after every document (default ``b"\\x00"``).
        validation_blocks: how many validation blocks to keep at most (``None``: all).
        name: a label (default ``"bytes"``); metadata: extra facts for :meth:`describe`.

    Raises :class:`~.documents.MissingFileError` for a missing file and ``ValueError`` for an empty
    corpus or one shorter than a block, before any batch is drawn.
    """

    kind = "bytes"

    def __init__(
        self,
        *,
        length: int,
        files: Sequence[str | os.PathLike] | None = None,
        texts: Sequence[str | bytes] | None = None,
        validation_files: Sequence[str | os.PathLike] | None = None,
        validation_texts: Sequence[str | bytes] | None = None,
        separator: bytes = SEPARATOR,
        validation_fraction: float = VALIDATION_FRACTION,
        validation_blocks: int | None = VALIDATION_BLOCKS,
        name: str = "bytes",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(separator, (bytes, bytearray)):
            raise TypeError(f"separator must be bytes (such as b'\\x00' or b''), got {separator!r}")
        self.separator = bytes(separator)
        checks.positive_int("length", length)
        check_validation_options(validation_fraction, validation_blocks)
        check_name(name)
        train, validation = load_corpus(files, texts, validation_files, validation_texts)
        self.files = file_listing(train)
        self.validation_files = file_listing(validation)
        self.bytes = (train.total_bytes, None if validation is None else validation.total_bytes)
        super().__init__(
            [_byte_tensor(content) for content in train.contents],
            None if validation is None else [_byte_tensor(content) for content in validation.contents],
            _byte_tensor(self.separator),
            vocab_size=BYTE_VOCAB,
            length=length,
            validation_fraction=validation_fraction,
            validation_blocks=validation_blocks,
            name=name,
            unit="bytes",
            metadata=metadata,
        )

    def decode(self, tokens: torch.Tensor) -> str | list[str]:
        """Text of byte ids: ``[L] -> str``, ``[B, L] -> list[str]`` (UTF-8, invalid bytes as U+FFFD)."""
        if not torch.is_tensor(tokens) or tokens.dim() not in (1, 2):
            raise TypeError("tokens must be a tensor [L] or [B, L] of byte ids")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= BYTE_VOCAB):
            raise ValueError(
                f"tokens must hold byte ids 0..255, got ids from {int(tokens.min())} to {int(tokens.max())}"
            )
        if tokens.dim() == 1:
            return bytes(tokens.tolist()).decode("utf-8", errors="replace")
        return [bytes(row).decode("utf-8", errors="replace") for row in tokens.tolist()]

    def describe(self) -> dict[str, Any]:
        """:meth:`PackedText.describe` plus the separator, the byte counts and the files (when at
        most 100)."""
        description = super().describe()
        description["separator"] = list(self.separator)
        description["train"]["bytes"] = self.bytes[0]
        description["validation"]["bytes"] = self.bytes[1]
        description["train"]["files"] = self.files
        description["validation"]["files"] = self.validation_files
        return description
