"""``TokenSource``: what the trainer reads data from.

A source is stateless in the step: ``batch(step, batch_size, seed=s, rank=r, world_size=W)`` is a
pure function of its arguments, so that

* resuming at step ``k`` gives exactly the batches an uninterrupted run sees from step ``k``;
* the ``W`` ranks' batches of one step, concatenated in rank order, equal the ``world_size = 1``
  batch of that step (rank ``r`` keeps rows ``r * B / W .. (r + 1) * B / W - 1``, see
  :mod:`.sharding`).

Validation data is a fixed set of sequences that depends on neither the training seed nor the
step; ``validation`` walks it in whole global batches, sharded the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class TokenSource(Protocol):
    """A source of clean token sequences for training a discrete diffusion model.

    Attributes:
        name: a short label (``"hmm"``, ``"python-stdlib"``, ``"bytes"``, ``"tokenized"``).
        vocab_size: ``V``; every id lies in ``0..V-1`` (the model adds the mask id ``V``).
        length: ``L``, the length of every sequence.
        validation_size: the number of fixed validation sequences.
    """

    name: str
    vocab_size: int
    length: int

    @property
    def validation_size(self) -> int: ...

    def batch(
        self, step: int, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1
    ) -> torch.Tensor:
        """The rows of ``rank`` in the global training batch of ``step``: CPU LongTensor
        ``[batch_size // world_size, L]``."""
        ...

    def validation(self, batch_size: int, *, rank: int = 0, world_size: int = 1) -> Iterator[torch.Tensor]:
        """The fixed validation set in ``validation_size // batch_size`` global batches, each
        sharded: CPU LongTensors ``[batch_size // world_size, L]``; the same on every call."""
        ...

    def describe(self) -> dict[str, Any]:
        """A JSON-safe description for checkpoints (kind, vocabulary, length, content hashes)."""
        ...
