"""Counter-based random streams, one per batch row, and the draws built on them.

Every uniform number is a hash of ``(seed, row id, draw counter, element index)`` (the
SplitMix64 finaliser applied three times), so row ``b`` sees the same numbers whatever the batch
size and whatever the other rows do: the same seed gives the same rows for any ``batch_size``.

Draws (spec §2.0 and §9.1):

* ``uniform``: open interval ``(0, 1)``; float64 by default (52 random bits), float32 on request
  (23 random bits, the resolution that silently drops rare tokens).
* ``bernoulli(p)``: ``u < p``.
* ``categorical(p)``: inverse CDF on the cumulative sum in the draw dtype; a token of probability 0
  is never drawn.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

_GOLDEN = 0x9E3779B97F4A7C15 - (1 << 64)
_MIX1 = 0xBF58476D1CE4E5B9 - (1 << 64)
_MIX2 = 0x94D049BB133111EB - (1 << 64)
_SEED_RANGE = 1 << 62

#: Values per chunk when gathered probability rows are processed piecewise (8 MiB of float64).
CHUNK = 1 << 20


def _shift_right(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's ``>>`` is arithmetic)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def _wrap(value: int) -> int:
    """A Python int reduced to the signed int64 range (two's complement)."""
    return (value + (1 << 63)) % (1 << 64) - (1 << 63)


def _mix(x: torch.Tensor) -> torch.Tensor:
    """SplitMix64 finaliser on int64 tensors (multiplication wraps modulo 2**64)."""
    x = (x ^ _shift_right(x, 30)) * _MIX1
    x = (x ^ _shift_right(x, 27)) * _MIX2
    return x ^ _shift_right(x, 31)


def seed_from(generator: torch.Generator | int | None) -> int:
    """One 62-bit seed drawn from ``generator`` (an int is used as the seed itself)."""
    if isinstance(generator, bool):
        raise TypeError(f"generator must be a torch.Generator, an int seed or None, got {generator!r}")
    if isinstance(generator, int):
        return generator % _SEED_RANGE
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, an int seed or None, got {type(generator).__name__}"
        )
    return int(torch.randint(0, _SEED_RANGE, (1,), generator=generator))


class RowStreams:
    """Independent random streams for rows ``row_ids`` (LongTensor ``[B]``).

    Each call to :meth:`uniform` advances a counter shared by all rows; call the draws
    unconditionally (for every row) so that the counter sequence does not depend on the batch.
    """

    def __init__(self, seed: int, row_ids: torch.Tensor, dtype: torch.dtype = torch.float64):
        if dtype not in (torch.float64, torch.float32):
            raise ValueError(f"draw dtype must be torch.float64 or torch.float32, got {dtype}")
        self.dtype = dtype
        self.row_ids = row_ids.long()
        self._row_keys = _mix(_mix(self.row_ids + _GOLDEN) ^ (seed * 2 + 1))
        self._counter = 0

    def uniform(self, *shape: int) -> torch.Tensor:
        """Uniform numbers in the open interval (0, 1), shape ``[B, *shape]``, in the draw dtype."""
        self._counter += 1
        n = 1
        for size in shape:
            n *= size
        draw_key = _mix(self._row_keys + _wrap(self._counter * _GOLDEN))  # [B]
        elements = (torch.arange(n, dtype=torch.int64) + 1) * _MIX1
        bits = _mix(draw_key[:, None] ^ elements[None, :])
        if self.dtype == torch.float64:
            k = _shift_right(bits, 12).to(torch.float64)  # 52 bits
            u = (k + 0.5) * 2.0**-52
        else:
            k = _shift_right(bits, 41).to(torch.float32)  # 23 bits
            u = (k + 0.5) * 2.0**-23
        return u.reshape(len(self.row_ids), *shape)

    def bernoulli(self, p: torch.Tensor) -> torch.Tensor:
        """Bool tensor: True with probability ``p`` (shape ``[B, ...]``)."""
        return self.uniform(*p.shape[1:]) < p.to(self.dtype)

    @torch.no_grad()
    def categorical(
        self,
        probs: torch.Tensor,
        where: torch.Tensor | None = None,
        exclude: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Indices drawn from ``probs [B, ..., K]`` (non-negative, any positive total) by inverse CDF.

        With ``where`` (bool ``[B, ...]``) only those entries are drawn and the others are 0. The
        stream advances exactly as without it, so the drawn entries are the same either way; only
        the selected rows of ``probs`` are read, which is what makes a step that moves few positions
        cheap. ``exclude`` (LongTensor ``[B, ...]``) names one index per entry whose mass counts as 0
        (the current value, for a jump that must leave it).
        """
        u = self.uniform(*probs.shape[1:-1])
        if where is None and exclude is None:
            return categorical_from_uniform(probs.to(self.dtype), u)
        if where is None:
            where = torch.ones(probs.shape[:-1], dtype=torch.bool)
        if probs.shape[:-1] != where.shape:
            probs = probs.expand(*where.shape, probs.shape[-1])
        at = where.nonzero(as_tuple=True)

        def rows(selection: tuple[torch.Tensor, ...]) -> torch.Tensor:
            # Advanced indexing copies, so the rows may be changed in place.
            picked = probs[selection].to(self.dtype)
            if exclude is not None:
                picked.scatter_(-1, exclude[selection].unsqueeze(-1), 0.0)
            return picked

        # Entries are drawn CHUNK values at a time: the gathered rows then stay small (no fresh
        # pages per call, and they stay in cache while summed and searched).
        size = probs.shape[-1]
        step = max(1, CHUNK // size)
        drawn = torch.empty(len(at[0]), dtype=torch.long)
        for start in range(0, len(drawn), step):
            part = tuple(a[start : start + step] for a in at)
            drawn[start : start + step] = _with_mass(
                _search(rows(part).cumsum_(dim=-1), u[part]),
                size,
                lambda past, part=part: rows(tuple(a[past] for a in part)),
            )
        index = torch.zeros(where.shape, dtype=torch.long)
        index[at] = drawn
        return index


def categorical_from_uniform(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw: the first index whose cumulative mass exceeds ``u * total``.

    ``probs [..., K]`` and ``u [...]`` share a dtype; indices of zero mass are never returned.
    """
    index = _search(torch.cumsum(probs, dim=-1), u)
    return _with_mass(index, probs.shape[-1], lambda rows: probs[rows])


def _search(cdf: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The first index whose cumulative mass ``cdf [..., K]`` exceeds ``u * total``, or ``K`` when
    rounding puts ``u * total`` at or past the last break point."""
    return torch.searchsorted(cdf, u.unsqueeze(-1) * cdf[..., -1:], right=True).squeeze(-1)


def _with_mass(index: torch.Tensor, size: int, rows: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``index`` with every landing point past the end (``index == size``) replaced by the last
    index that has mass; ``rows(selection)`` gives the probability rows ``[n, size]`` picked by a
    bool ``selection`` of ``index``.

    The cumulative sum is sequential, so a zero-mass entry repeats the break point before it and
    the search never stops on it: a landing point inside the range always has mass, and only the
    rare rows past the end are read again.
    """
    past = index >= size
    if bool(past.any()):
        positive = rows(past) > 0
        index = index.clone()
        index[past] = size - 1 - torch.argmax(positive.flip(-1).to(torch.int8), dim=-1)
    return index


def choose_subset(keys: torch.Tensor, eligible: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Pick ``count[b]`` eligible positions per row uniformly at random without replacement.

    ``keys [B, L]`` are i.i.d. uniforms; the positions with the smallest keys among the eligible
    ones are chosen (a uniformly random subset of that size). Returns bool ``[B, L]``.
    """
    keyed = torch.where(eligible, keys.to(torch.float64), torch.full_like(keys, 2.0, dtype=torch.float64))
    order = torch.argsort(keyed, dim=-1, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(keys.shape[-1]).expand_as(order))
    return eligible & (rank < count[:, None])
