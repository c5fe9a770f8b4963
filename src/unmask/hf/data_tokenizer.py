"""The tokenizer of a model trained by ``unmask train``, rebuilt from its data description, as a
``transformers`` fast tokenizer with the mask token last (id ``V``).

A checkpoint records its data (``Checkpoint.data``, the source's ``describe()``), which says how
text became ids:

* ``"bytes"`` (:class:`~unmask.train.data.ByteText`): id ``b`` is the byte ``b``. The tokenizer is
  byte-level with no merges: every byte of the UTF-8 text is one token (GPT-2's printable
  byte-to-character table names the 256 tokens), decoding joins the bytes again (invalid UTF-8
  becomes U+FFFD, as :meth:`ByteText.decode` does);
* ``"tokenized"`` (:class:`~unmask.train.data.TokenizedText`): the ``tokenizer.json`` the run read
  (its SHA-256 is checked against the record), with every one of its ``V`` ids kept;
* anything else (the built-in exact target, pre-tokenised data): id ``i`` is the word ``"i"``
  (words split on whitespace, joined by spaces when decoded).

The mask token (``"[MASK]"``, or ``"<|mask|>"`` when ``"[MASK]"`` is already a token) is added as
id ``V``. This module imports ``tokenizers`` and ``transformers`` (the ``hf`` extra).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

#: The mask token's name, and the one used when a vocabulary already holds it.
MASK_TOKENS = ("[MASK]", "<|mask|>")
#: Byte ids of :class:`~unmask.train.data.ByteText`.
BYTES = 256


def byte_characters() -> dict[int, str]:
    """GPT-2's table from the 256 byte values to printable characters (printable Latin-1 bytes map
    to themselves, the others to code points from 256 up), which byte-level tokenizers use."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {byte: chr(byte) for byte in kept}
    extra = 0
    for byte in range(BYTES):
        if byte not in table:
            table[byte] = chr(BYTES + extra)
            extra += 1
    return table


def byte_tokenizer() -> Tokenizer:
    """A byte-level tokenizer without merges: id ``b`` is the byte ``b``."""
    vocab = {character: byte for byte, character in byte_characters().items()}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def number_tokenizer(vocab_size: int) -> Tokenizer:
    """Word ``"i"`` is id ``i`` for ``i < vocab_size``; words are split on whitespace."""
    tokenizer = Tokenizer(models.WordLevel({str(i): i for i in range(vocab_size)}, unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tokenizer


def file_tokenizer(record: Any, vocab_size: int) -> Tokenizer:
    """The ``tokenizer.json`` named by a ``"tokenized"`` data record, checked against its SHA-256
    and ``vocab_size``."""
    if not isinstance(record, Mapping) or not isinstance(record.get("path"), str):
        raise ValueError(
            "the checkpoint's data record names no tokenizer file (data['tokenizer']['path']); pass "
            "the tokenizer the run used (tokenizer=, --tokenizer)"
        )
    path = Path(record["path"])
    try:
        content = path.read_bytes()
    except OSError as error:
        raise ValueError(
            f"cannot read the run's tokenizer {str(path)!r} ({error.strerror or error}); pass the "
            "tokenizer the run used (tokenizer=, --tokenizer)"
        ) from None
    expected = record.get("sha256")
    if expected is not None and hashlib.sha256(content).hexdigest() != expected:
        raise ValueError(
            f"the tokenizer file {str(path)!r} changed since the run read it (its SHA-256 differs from "
            "the checkpoint's); pass the tokenizer the run used (tokenizer=, --tokenizer)"
        )
    tokenizer = Tokenizer.from_str(content.decode("utf-8"))
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    if size != vocab_size:
        raise ValueError(
            f"the tokenizer {str(path)!r} has {size} ids but the model predicts {vocab_size}; pass the "
            "tokenizer the run used (tokenizer=, --tokenizer)"
        )
    return tokenizer


def data_tokenizer(data: Mapping[str, Any], vocab_size: int) -> PreTrainedTokenizerFast:
    """The fast tokenizer of a model with ``vocab_size`` clean tokens trained on the data that
    ``data`` (``Checkpoint.data``) describes, its mask token added as id ``vocab_size`` (module
    docstring). ``ValueError`` when the record and the model disagree, naming the fix."""
    kind = data.get("kind") if isinstance(data, Mapping) else None
    if kind == "bytes":
        if vocab_size != BYTES:
            raise ValueError(f"byte data has {BYTES} ids but the model predicts {vocab_size}")
        tokenizer = byte_tokenizer()
    elif kind == "tokenized":
        tokenizer = file_tokenizer(data.get("tokenizer"), vocab_size)
    else:
        tokenizer = number_tokenizer(vocab_size)
    mask = next(name for name in MASK_TOKENS if tokenizer.token_to_id(name) is None)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, mask_token=mask)
    if wrapped.mask_token_id != vocab_size or len(wrapped) != vocab_size + 1:
        raise ValueError(
            f"the rebuilt tokenizer has {len(wrapped)} ids with the mask at {wrapped.mask_token_id}, "
            f"expected {vocab_size + 1} with the mask last; pass the tokenizer the run used (tokenizer=)"
        )
    return wrapped
