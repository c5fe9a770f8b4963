"""``TokenizedText``: text tokenised by a local ``tokenizers`` tokenizer (``tokenizer.json``).

``V`` is the tokenizer's vocabulary size with its added tokens. Each document is decoded as UTF-8
(invalid bytes become U+FFFD) and encoded on its own, without the tokenizer's special tokens
(``add_special_tokens=False``) and with truncation and padding turned off. Separator policy: the
id of the token ``separator`` (for instance ``"</s>"``; it must be in the vocabulary) follows every
document; ``separator=None`` (default) concatenates the documents directly. Packing, the split and
the per-step rows are those of :class:`~.packed_text.PackedText`.

``tokenizers`` is an optional dependency, imported only when a ``TokenizedText`` is built.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ... import checks
from .bytes_text import file_listing
from .documents import MissingFileError, check_corpus, load_corpus
from .packed_text import (
    VALIDATION_BLOCKS,
    VALIDATION_FRACTION,
    PackedText,
    check_name,
    check_validation_options,
)


def load_tokenizer(tokenizer_path: str | os.PathLike) -> Any:
    """A ``tokenizers.Tokenizer`` read from a local ``tokenizer.json``, truncation and padding off.

    Raises ``ImportError`` (naming ``pip install tokenizers``) when the library is missing,
    :class:`~.documents.MissingFileError` for a missing file and ``ValueError`` for a file that is
    not a tokenizer.
    """
    if not isinstance(tokenizer_path, (str, os.PathLike)):
        raise TypeError(f"tokenizer_path must be the path of a tokenizer.json file, got {tokenizer_path!r}")
    path = Path(tokenizer_path)
    if not path.exists():
        raise MissingFileError(f"tokenizer_path = {str(path)!r} does not exist; give a local tokenizer.json")
    if not path.is_file():
        raise ValueError(f"tokenizer_path = {str(path)!r} is not a file; give the tokenizer.json file itself")
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ImportError(
            "TokenizedText needs the optional dependency 'tokenizers': pip install tokenizers"
        ) from None
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # the Rust library raises a plain Exception
        raise ValueError(
            f"tokenizer_path = {str(path)!r} is not a tokenizers JSON file ({error}); save one with "
            "Tokenizer.save(path) or take tokenizer.json from a model folder"
        ) from None
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


class TokenizedText(PackedText):
    """Text from local ``files`` or in-memory ``texts`` (exactly one), tokenised with the tokenizer
    at ``tokenizer_path``, in rows of ``length`` tokens.

    Args:
        tokenizer_path: a local ``tokenizer.json`` (``tokenizers`` format).
        length: ``L``, tokens per row.
        files / texts, validation_files / validation_texts, validation_fraction, validation_blocks,
            name, metadata: as for :class:`~.bytes_text.ByteText`.
        separator: a token (string) appended after every document, or ``None`` (module docstring).
    """

    kind = "tokenized"

    def __init__(
        self,
        *,
        tokenizer_path: str | os.PathLike,
        length: int,
        files: Sequence[str | os.PathLike] | None = None,
        texts: Sequence[str | bytes] | None = None,
        validation_files: Sequence[str | os.PathLike] | None = None,
        validation_texts: Sequence[str | bytes] | None = None,
        separator: str | None = None,
        validation_fraction: float = VALIDATION_FRACTION,
        validation_blocks: int | None = VALIDATION_BLOCKS,
        name: str = "tokenized",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        checks.positive_int("length", length)
        check_validation_options(validation_fraction, validation_blocks)
        check_name(name)
        if separator is not None and not isinstance(separator, str):
            raise TypeError(f"separator must be a token string (such as '</s>') or None, got {separator!r}")
        check_corpus(files, texts, validation_files, validation_texts)
        self.tokenizer = load_tokenizer(tokenizer_path)
        self.tokenizer_path = str(tokenizer_path)
        self.tokenizer_sha256 = hashlib.sha256(Path(tokenizer_path).read_bytes()).hexdigest()
        vocab_size = self.tokenizer.get_vocab_size(with_added_tokens=True)
        self.separator = separator
        self.separator_id = None if separator is None else self.tokenizer.token_to_id(separator)
        if separator is not None and self.separator_id is None:
            raise ValueError(
                f"separator = {separator!r} is not a token of the tokenizer at {self.tokenizer_path!r}; "
                "name one of its tokens (such as its end-of-text token) or pass separator=None"
            )
        train, validation = load_corpus(files, texts, validation_files, validation_texts)
        self.files = file_listing(train)
        self.validation_files = file_listing(validation)
        train_ids = self._encode(train.contents)
        validation_ids = None if validation is None else self._encode(validation.contents)
        nonempty = [ids for ids in train_ids + (validation_ids or []) if ids.numel()]
        largest = max((int(ids.max()) for ids in nonempty), default=-1)
        if largest >= vocab_size:
            raise ValueError(
                f"the tokenizer at {self.tokenizer_path!r} produced the id {largest}, outside its vocabulary "
                f"0..{vocab_size - 1}; its vocabulary is not contiguous and cannot index a model"
            )
        separator_ids = [] if self.separator_id is None else [self.separator_id]
        super().__init__(
            train_ids,
            validation_ids,
            torch.tensor(separator_ids, dtype=torch.int32),
            vocab_size=vocab_size,
            length=length,
            validation_fraction=validation_fraction,
            validation_blocks=validation_blocks,
            name=name,
            unit="tokens",
            metadata=metadata,
        )

    def _encode(self, contents: Sequence[bytes]) -> list[torch.Tensor]:
        """Each document's ids as an int32 tensor ``[n_i]``."""
        texts = [content.decode("utf-8", errors="replace") for content in contents]
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        return [torch.tensor(encoding.ids, dtype=torch.int32) for encoding in encodings]

    def decode(self, tokens: torch.Tensor) -> str | list[str]:
        """Text of token ids (special tokens kept): ``[L] -> str``, ``[B, L] -> list[str]``."""
        if not torch.is_tensor(tokens) or tokens.dim() not in (1, 2):
            raise TypeError("tokens must be a tensor [L] or [B, L] of token ids")
        if tokens.dim() == 1:
            return self.tokenizer.decode(tokens.tolist(), skip_special_tokens=False)
        return self.tokenizer.decode_batch(tokens.tolist(), skip_special_tokens=False)

    def describe(self) -> dict[str, Any]:
        """:meth:`PackedText.describe` plus the tokenizer (path, SHA-256), the separator and the
        files (when at most 100)."""
        description = super().describe()
        description["tokenizer"] = {"path": self.tokenizer_path, "sha256": self.tokenizer_sha256}
        description["separator"] = self.separator
        description["train"]["files"] = self.files
        description["validation"]["files"] = self.validation_files
        return description
