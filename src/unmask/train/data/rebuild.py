"""``target_from_description``: the exact target a checkpoint was trained on, from its data record.

A training run saves ``source.describe()`` in every checkpoint (``Checkpoint.data``). For data
drawn from the built-in target (:func:`~.default_target.default_target`, the ``"hmm"`` source) the
record has ``"kind": "target"``, the length and a SHA-256 of the target's tables, which is enough
to rebuild the very target and check that it is the same; text sources (``"kind"`` ``"bytes"``,
``"tokenized"``, ``"packed"``) have no exact law, and give None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...targets import Target
from .default_target import default_target
from .target_data import _tables_hash

#: The ``kind`` of the description of a source drawn from an exact target (:class:`~.TargetData`).
TARGET_KIND = "target"


def target_from_description(data: Mapping[str, Any]) -> Target | None:
    """The exact target of the data description ``data`` (``Checkpoint.data``), or None for text.

    ``{"kind": "target", "length": L, "parameters_sha256": H, ...}`` gives ``default_target(L)``
    after checking that its tables hash to ``H`` (and that its ``vocab_size``, when the record
    has one, matches); text data (any other ``kind``) gives None.

    Raises ``ValueError`` naming the field when the record is not a data description (no
    ``"kind"``), when its length is missing or not a positive integer, or when the rebuilt target
    differs from the one trained on (another target than the built-in one, or built-in parameters
    changed since the checkpoint was saved): the exact answers would then be about the wrong law.
    """
    if not isinstance(data, Mapping):
        raise TypeError(
            f"data must be a data description (a dict, Checkpoint.data), got {type(data).__name__}"
        )
    kind = data.get("kind")
    if not isinstance(kind, str):
        raise ValueError(
            'the data description has no "kind" (it should be the describe() record of the training '
            f"source, as Checkpoint.data holds), got keys {sorted(data)}"
        )
    if kind != TARGET_KIND:
        return None
    length = data.get("length")
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f'the target description\'s "length" must be a positive integer, got {length!r}')
    target = default_target(length)
    name = data.get("name", "target")
    trained_on = data.get("target", "an exact target")
    vocab_size = data.get("vocab_size", target.vocab_size)
    if vocab_size != target.vocab_size:
        raise ValueError(
            f"the checkpoint was trained on {trained_on} ({name!r}) with vocab_size {vocab_size}; the "
            f"built-in target has vocab_size {target.vocab_size}, so it cannot be rebuilt: pass the "
            "exact target yourself"
        )
    saved = data.get("parameters_sha256")
    if not isinstance(saved, str):
        raise ValueError(
            f'the target description has no "parameters_sha256" (got {saved!r}), so the target it was '
            "trained on cannot be checked against the built-in one; pass the exact target yourself"
        )
    if saved != _tables_hash(target):
        raise ValueError(
            f"the checkpoint was trained on {trained_on} ({name!r}) whose parameters_sha256 is "
            f"{str(saved)[:12]}..., but the built-in target of length {length} hashes to "
            f"{_tables_hash(target)[:12]}...: it was another target, or the built-in one changed "
            "since the checkpoint was saved; pass the exact target yourself"
        )
    return target
