"""``PackedText``: the token-stream source shared by byte-level and tokenised text.

Documents (already turned into 1-D token tensors) are concatenated with the separator after every
document (:func:`~.packing.concatenate`). Then:

* **Split.** With explicit validation documents, the training stream is all the training
  documents and the validation stream all the validation ones. Without them, the last
  ``validation_fraction`` of the one stream (at least one block of ``L`` tokens) is held out as
  validation and the rest is training; training rows never reach into the held-out tail.
* **Training rows.** Row ``b`` of the global batch of step ``k`` is the window of ``L`` tokens of
  the training stream at an offset drawn uniformly from ``0 .. n_train - L`` with the generator of
  ``(seed, "train", k)``: rows may cross document boundaries (packing).
* **Validation rows.** The validation stream packed into consecutive, non-overlapping blocks
  (:func:`~.packing.pack`); when there are more than ``validation_blocks`` of them, that many
  evenly spaced blocks (block ``floor(i * N / validation_blocks)``) are kept. They depend on no seed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ... import checks
from .packing import concatenate, pack, windows
from .seeds import step_generator
from .sharding import check_shard, validation_batches

#: Default number of validation blocks kept (``None`` keeps them all).
VALIDATION_BLOCKS = 1024
#: Default fraction of the stream held out when no validation documents are given.
VALIDATION_FRACTION = 0.05


def stream_hash(tokens: torch.Tensor) -> str:
    """SHA-256 of a stream's ids in their storage dtype (the raw bytes of a byte stream, int32 ids
    of a tokenised one, native byte order), to tell corpora apart in checkpoints."""
    return hashlib.sha256(tokens.contiguous().numpy().tobytes()).hexdigest()


def check_validation_options(validation_fraction: float, validation_blocks: int | None) -> None:
    """Raise unless ``0 < validation_fraction < 1`` and ``validation_blocks`` is ``None`` or >= 1."""
    checks.probability("validation_fraction", validation_fraction, open_low=True, open_high=True)
    if validation_blocks is not None:
        checks.positive_int("validation_blocks", validation_blocks)


def check_name(name: object) -> str:
    """Return ``name`` if it is a non-empty ``str`` (a source's label), else raise ``TypeError``."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str label, got {name!r}")
    return name


def split_streams(
    train: Sequence[torch.Tensor],
    validation: Sequence[torch.Tensor] | None,
    separator: torch.Tensor,
    length: int,
    validation_fraction: float,
    unit: str,
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``(training stream, validation stream, policy)`` with policy ``"documents"`` (explicit
    validation documents) or ``"tail"`` (the last ``validation_fraction`` held out, at least one
    block); each stream holds at least ``length`` tokens, else ``ValueError`` says what is missing."""
    if sum(int(document.numel()) for document in train) == 0:
        raise ValueError(
            f"the corpus is empty: its {len(train)} training document(s) hold 0 {unit}; give text"
        )
    if validation is not None and sum(int(document.numel()) for document in validation) == 0:
        raise ValueError(f"the validation corpus is empty: its {len(validation)} document(s) hold 0 {unit}")
    stream = concatenate(train, separator)
    total = stream.shape[0]
    if validation is None:
        held_out = max(length, math.ceil(validation_fraction * total))
        if total - held_out < length:
            raise ValueError(
                f"the corpus is too short: {total} {unit} (separators included) cannot give one training "
                f"block and one held-out validation block of length={length} ({validation_fraction:.0%}, "
                "at least one block, is held out); give more text, a shorter length, or validation documents"
            )
        return stream[: total - held_out], stream[total - held_out :], "tail"
    if total < length:
        raise ValueError(
            f"the corpus is too short: {total} training {unit} (separators included), fewer than one "
            f"block of length={length}; give more text or a shorter length"
        )
    validation_stream = concatenate(validation, separator)
    if validation_stream.shape[0] < length:
        raise ValueError(
            f"the validation corpus is too short: {validation_stream.shape[0]} {unit}, fewer than one "
            f"block of length={length}; give more validation text or a shorter length"
        )
    return stream, validation_stream, "documents"


class PackedText:
    """A :class:`~.source.TokenSource` over packed token streams (module docstring).

    Args:
        train: the training documents as 1-D integer tensors with ids in ``0..V-1``.
        validation: explicit validation documents, or ``None`` to hold out the tail of the stream.
        separator: 1-D ids appended after every document (may be empty).
        vocab_size: ``V``.
        length: ``L``.
        validation_fraction: the held-out fraction without explicit validation documents.
        validation_blocks: how many validation blocks to keep at most (``None``: all).
        name: a label; ``unit``: what a token is called in messages (``"bytes"``, ``"tokens"``).
        metadata: JSON-safe facts about the corpus, reported by :meth:`describe` under ``"corpus"``.
    """

    kind = "packed"

    def __init__(
        self,
        train: Sequence[torch.Tensor],
        validation: Sequence[torch.Tensor] | None,
        separator: torch.Tensor,
        *,
        vocab_size: int,
        length: int,
        validation_fraction: float = VALIDATION_FRACTION,
        validation_blocks: int | None = VALIDATION_BLOCKS,
        name: str,
        unit: str = "tokens",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.vocab_size = checks.positive_int("vocab_size", vocab_size)
        self.length = checks.positive_int("length", length)
        check_validation_options(validation_fraction, validation_blocks)
        self.name = check_name(name)
        self.metadata = dict(metadata or {})
        self.validation_fraction = validation_fraction
        self.train_tokens, validation_stream, self.split = split_streams(
            train, validation, separator, self.length, validation_fraction, unit
        )
        blocks = pack(validation_stream, self.length)
        if validation_blocks is not None and blocks.shape[0] > validation_blocks:
            keep = torch.arange(validation_blocks, dtype=torch.int64) * blocks.shape[0] // validation_blocks
            blocks = blocks[keep]
        self._validation = blocks.long()
        self.validation_blocks_available = int(validation_stream.shape[0] // self.length)
        self._train_hash = stream_hash(self.train_tokens)
        self._validation_hash = stream_hash(validation_stream)
        self._documents = (len(train), None if validation is None else len(validation))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, vocab_size={self.vocab_size}, length={self.length}, "
            f"train_tokens={self.train_tokens.shape[0]}, validation_size={self.validation_size})"
        )

    @property
    def validation_size(self) -> int:
        """The number of fixed validation blocks."""
        return int(self._validation.shape[0])

    def batch(
        self, step: int, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1
    ) -> torch.Tensor:
        """The rows of ``rank`` in the global batch of ``step``: CPU LongTensor
        ``[batch_size // world_size, L]``, windows at uniform offsets of the training stream."""
        rows = check_shard(batch_size, rank, world_size)
        generator = step_generator(seed, "train", step)
        high = self.train_tokens.shape[0] - self.length + 1
        starts = torch.randint(0, high, (batch_size,), generator=generator, dtype=torch.int64)
        return windows(self.train_tokens, starts[rows], self.length)

    def validation_tokens(self) -> torch.Tensor:
        """The fixed validation blocks, CPU LongTensor ``[validation_size, L]``."""
        return self._validation

    def validation(self, batch_size: int, *, rank: int = 0, world_size: int = 1) -> Iterator[torch.Tensor]:
        """The validation blocks in ``validation_size // batch_size`` global batches, each sharded:
        LongTensors ``[batch_size // world_size, L]``."""
        return validation_batches(self._validation, batch_size, rank, world_size)

    def describe(self) -> dict[str, Any]:
        """JSON-safe description: kind, name, ``V``, ``L``, split policy, sizes and SHA-256 of both
        streams (subclasses add their own fields)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "vocab_size": self.vocab_size,
            "length": self.length,
            "split": self.split,
            "validation_fraction": self.validation_fraction if self.split == "tail" else None,
            "train": {
                "documents": self._documents[0],
                "tokens": int(self.train_tokens.shape[0]),
                "sha256": self._train_hash,
            },
            "validation": {
                "documents": self._documents[1],
                "blocks": self.validation_size,
                "blocks_available": self.validation_blocks_available,
                "sha256": self._validation_hash,
            },
            "corpus": self.metadata,
        }
