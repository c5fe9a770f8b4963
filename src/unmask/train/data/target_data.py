"""``TargetData``: training sequences drawn from an exact target, whose exact entropy is known.

The global batch of step ``k`` is ``target.sample(B, generator=g)`` with ``g`` seeded from
``(seed, "train", k)`` (:mod:`.seeds`); each rank draws the whole global batch and keeps its own
rows (the targets are tiny, so the extra draws cost little). The validation set is
``validation_size`` sequences drawn once with a generator seeded from ``(validation_seed,
"validation", 0)``: it does not depend on the training seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import torch

from ... import checks
from ...targets import Target
from .entropy import exact_entropy, has_exact_entropy
from .seeds import step_generator
from .sharding import check_shard, validation_batches


class TargetData:
    """A :class:`~.source.TokenSource` of sequences drawn from ``target`` (``V = target.vocab_size``,
    ``L = target.length``).

    Args:
        target: an exact target (:class:`unmask.targets.Target`).
        validation_size: the number of fixed validation sequences (default 1024).
        validation_seed: the seed of the validation draw (default 0).
        name: a label (default ``"target"``).
    """

    def __init__(
        self, target: Target, *, validation_size: int = 1024, validation_seed: int = 0, name: str = "target"
    ) -> None:
        self.target = checks.instance("target", target, Target, "an exact target (unmask.targets.Target)")
        self.validation_seed = checks.seed("validation_seed", validation_seed)
        self._validation_size = checks.positive_int("validation_size", validation_size)
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
        self.name = name
        self.vocab_size = target.vocab_size
        self.length = target.length
        self._validation: torch.Tensor | None = None

    def __repr__(self) -> str:
        return f"TargetData({self.target!r}, validation_size={self._validation_size})"

    @property
    def validation_size(self) -> int:
        """The number of fixed validation sequences."""
        return self._validation_size

    def batch(
        self, step: int, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1
    ) -> torch.Tensor:
        """The rows of ``rank`` in the global batch of ``step``: CPU LongTensor
        ``[batch_size // world_size, L]`` (module docstring)."""
        rows = check_shard(batch_size, rank, world_size)
        generator = step_generator(seed, "train", step)
        return self.target.sample(batch_size, generator=generator)[rows].to("cpu", torch.long)

    def validation_tokens(self) -> torch.Tensor:
        """The whole fixed validation set, CPU LongTensor ``[validation_size, L]`` (drawn once)."""
        if self._validation is None:
            generator = step_generator(self.validation_seed, "validation", 0)
            drawn = self.target.sample(self._validation_size, generator=generator)
            self._validation = drawn.to("cpu", torch.long)
        return self._validation

    def validation(self, batch_size: int, *, rank: int = 0, world_size: int = 1) -> Iterator[torch.Tensor]:
        """The fixed validation set in ``validation_size // batch_size`` global batches, each
        sharded: LongTensors ``[batch_size // world_size, L]``."""
        check_shard(batch_size, rank, world_size)
        return validation_batches(self.validation_tokens(), batch_size, rank, world_size)

    def true_entropy(self) -> float:
        """The exact entropy of the target's law, nats per sequence (:func:`~.entropy.exact_entropy`;
        ``ValueError`` when it has no exact formula)."""
        return exact_entropy(self.target)

    def true_entropy_per_token(self) -> float:
        """:meth:`true_entropy` divided by ``L``: the lower bound of the validation NELBO per token."""
        return self.true_entropy() / self.length

    def describe(self) -> dict[str, Any]:
        """JSON-safe description: kind, name, target, ``V``, ``L``, validation set, exact entropy
        per token (``None`` when unknown) and a SHA-256 of the target's tables."""
        entropy = self.true_entropy_per_token() if has_exact_entropy(self.target) else None
        return {
            "kind": "target",
            "name": self.name,
            "target": repr(self.target),
            "vocab_size": self.vocab_size,
            "length": self.length,
            "validation_size": self._validation_size,
            "validation_seed": self.validation_seed,
            "entropy_per_token": entropy,
            "parameters_sha256": _tables_hash(self.target),
        }


def _tables_hash(target: Target) -> str:
    """SHA-256 over the target's tensor attributes (name, dtype, shape and float64 bytes)."""
    digest = hashlib.sha256(type(target).__name__.encode())
    for key, value in sorted(vars(target).items()):
        if torch.is_tensor(value):
            table = value.detach().to("cpu", torch.float64).contiguous()
            digest.update(f"|{key}|{tuple(table.shape)}|".encode())
            digest.update(table.numpy().tobytes())
    return digest.hexdigest()
