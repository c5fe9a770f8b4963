"""Counter-based random streams, one per batch row, and the draws built on them.

Every uniform number is a hash of ``(seed, row id, step, draw counter, element)`` (the SplitMix64
finaliser, in int64 arithmetic that wraps the same way on every device), so row ``b`` sees the
same numbers whatever the batch size, whatever the other rows do and whatever the device: the
same seed gives the same rows. The element of a per-position draw may be given explicitly (the
position's rank among the positions that exist), so that a padded row draws what it would alone.

Draws (spec §2.0 and §9.1):

* ``uniform``: open interval ``(0, 1)``; float64 by default (52 random bits), float32 on request
  (23 random bits, the resolution that silently drops rare tokens).
* ``bernoulli(p)``: ``u < p``.
* ``draw(law, where)``: inverse CDF on the float64 masses of the positions drawn (two levels for
  large vocabularies: blocks of :data:`BLOCK` values, then the values inside the block); a value
  of mass 0 is never drawn. Returns the draw and its log-probability.
* ``subset``: a subset of given size chosen by exponential keys ``E_i / w_i`` (the smallest
  ``count`` win): uniform without replacement for equal weights, successive sampling
  proportional to ``w`` otherwise.
"""

from __future__ import annotations

import torch

from . import checks
from .laws import Law, as_law
from .pieces import at_positions
from .workspace import Workspace

_GOLDEN = 0x9E3779B97F4A7C15 - (1 << 64)
_MIX1 = 0xBF58476D1CE4E5B9 - (1 << 64)
_MIX2 = 0x94D049BB133111EB - (1 << 64)
_SEED_RANGE = 1 << 62

#: Values per block of the two-level inverse CDF.
BLOCK = 64


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


def _mix_int(value: int) -> int:
    """:func:`_mix` of one Python int (the same arithmetic, on the host)."""
    mask = (1 << 64) - 1
    x = value & mask
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
    return _wrap(x ^ (x >> 31))


def seed_from(generator: torch.Generator | int | None) -> int:
    """One 62-bit seed drawn from ``generator`` (a non-negative int is used as the seed itself)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        try:
            return checks.seed("generator", generator) % _SEED_RANGE
        except TypeError:
            raise TypeError(
                "generator must be a torch.Generator, a non-negative integer seed or None, "
                f"got {generator!r} ({type(generator).__name__})"
            ) from None
    device = generator.device if generator is not None else "cpu"
    return int(torch.randint(0, _SEED_RANGE, (1,), generator=generator, device=device))


def _bits_to_uniform(bits: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if dtype == torch.float64:
        return (_shift_right(bits, 12).to(torch.float64) + 0.5) * 2.0**-52  # 52 bits
    return (_shift_right(bits, 41).to(torch.float32) + 0.5) * 2.0**-23  # 23 bits


class RowStreams:
    """Independent random streams for rows ``row_ids`` (LongTensor ``[B]``, on the device of the draws).

    :meth:`at_step` keys the draws of a sampler step; within a step each draw advances a counter.
    Call the draws unconditionally (for every row) so that the counter sequence does not depend on
    the batch.
    """

    def __init__(self, seed: int, row_ids: torch.Tensor, dtype: torch.dtype = torch.float64):
        if dtype not in (torch.float64, torch.float32):
            raise ValueError(f"draw dtype must be torch.float64 or torch.float32, got {dtype}")
        self.seed = seed
        self.dtype = dtype
        self.row_ids = row_ids.long()
        self._row_keys = _mix(_mix(self.row_ids + _GOLDEN) ^ _wrap(seed * 2 + 1))
        self._step_key = 0
        self._counter = 0

    @property
    def device(self) -> torch.device:
        return self.row_ids.device

    def at_step(self, step: int) -> None:
        """Key the following draws by ``step`` (any int) and restart the draw counter."""
        self._step_key = _mix_int(_wrap(step * _GOLDEN + 0x5851F42D4C957F2D))
        self._counter = 0

    def subset(self, rows: torch.Tensor) -> RowStreams:
        """The streams of rows ``rows`` (indices into this object's rows), at the same step and count."""
        out = RowStreams.__new__(RowStreams)
        out.seed, out.dtype = self.seed, self.dtype
        out.row_ids, out._row_keys = self.row_ids[rows], self._row_keys[rows]
        out._step_key, out._counter = self._step_key, self._counter
        return out

    def _draw_keys(self) -> torch.Tensor:
        self._counter += 1
        return _mix(self._row_keys + _wrap(self._step_key + self._counter * _GOLDEN))  # [B]

    def uniform(self, *shape: int, elements: torch.Tensor | None = None) -> torch.Tensor:
        """Uniform numbers in the open interval (0, 1), shape ``[B, *shape]``, in the draw dtype.

        ``elements`` (LongTensor ``[B, *shape]``) names the element of each entry; by default entry
        ``k`` of the flattened shape is element ``k``.
        """
        keys = self._draw_keys()
        if elements is None:
            n = 1
            for size in shape:
                n *= size
            ids = (torch.arange(n, dtype=torch.int64, device=self.device) + 1) * _MIX1
            bits = _mix(keys[:, None] ^ ids[None, :])
            return _bits_to_uniform(bits, self.dtype).reshape(len(self.row_ids), *shape)
        ids = (elements.long() + 1) * _MIX1
        bits = _mix(keys.reshape(-1, *([1] * (ids.dim() - 1))) ^ ids)
        return _bits_to_uniform(bits, self.dtype)

    def bernoulli(self, p: torch.Tensor, elements: torch.Tensor | None = None) -> torch.Tensor:
        """Bool tensor: True with probability ``p`` (shape ``[B, ...]``)."""
        return self.uniform(*p.shape[1:], elements=elements) < p.to(self.dtype)

    def draw(
        self,
        values: Law | torch.Tensor,
        where: torch.Tensor | None = None,
        exclude: torch.Tensor | None = None,
        elements: torch.Tensor | None = None,
        dense: bool | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw a value at each position of ``[B, L]`` from ``values`` (a law ``[B, L, V]`` or a
        tensor of masses), by inverse CDF in the draw dtype.

        Args:
            values: non-negative masses (any positive total per position).
            where: bool ``[B, L]``: the positions to draw (default all); the others get 0.
            exclude: LongTensor ``[B, L]``: one value per position whose mass counts as 0 (the
                current value, for a jump that must leave it).
            elements: element ids of the positions (see :meth:`uniform`).
            dense: see :func:`unmask.pieces.at_positions`.

        Returns:
            ``(index [B, L], log_prob [B, L])``: the drawn values and ``log(mass / total)`` of
            each (0 where nothing is drawn). The log-probabilities carry gradients from the masses.
        """
        law = as_law(values)
        n, length, size = law.shape
        u = self.uniform(length, elements=elements)
        if where is None:
            where = torch.ones(n, length, dtype=torch.bool, device=u.device)
        flat_u = u.reshape(-1)
        flat_exclude = exclude.reshape(-1) if exclude is not None else None

        workspace = Workspace()

        def compute(index):
            masses = law.masses(index, workspace)
            if flat_exclude is not None:
                keep = torch.arange(size, device=masses.device) != flat_exclude[index].unsqueeze(-1)
                masses = masses * keep
            drawn, total = inverse_cdf(masses.detach().to(self.dtype), flat_u[index], with_total=True)
            if masses.requires_grad or self.dtype != torch.float64:
                total = masses.sum(-1)  # a total that carries the gradient, or in float64
            chosen = masses.gather(-1, drawn.unsqueeze(-1)).squeeze(-1)
            return drawn, chosen.log() - total.log()

        return at_positions(where, compute, size, ((0, torch.long), (0.0, torch.float64)), dense)

    def categorical(
        self,
        probs: Law | torch.Tensor,
        where: torch.Tensor | None = None,
        exclude: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Indices drawn from ``probs [B, ..., K]`` (masses with any positive total) by inverse CDF.

        ``where`` (bool) selects the entries to draw (the others are 0) and ``exclude`` names one
        index per entry whose mass counts as 0. The stream advances the same either way.
        """
        if isinstance(probs, Law):
            return self.draw(probs, where, exclude)[0]
        batch, *middle, size = probs.shape
        flat = probs.reshape(batch, -1, size)
        reshape = [x.reshape(batch, -1) if x is not None else None for x in (where, exclude)]
        index, _ = self.draw(flat, *reshape)
        return index.reshape(batch, *middle)


def inverse_cdf(masses: torch.Tensor, u: torch.Tensor, with_total: bool = False):
    """The first index whose cumulative mass exceeds ``u * total`` for rows ``masses [m, K]`` and
    ``u [m]`` (same dtype); an index of mass 0 is never returned. With ``with_total``, also the
    rows' totals ``[m]`` (the cumulative sums' last values).

    Rows longer than two blocks are searched in two levels: the block sums (``BLOCK`` values each)
    first, then the values of the block found. Where rounding puts ``u * total`` at or past the end
    of the cumulative sums, the last index with mass is taken (the first index at which the
    cumulative sum reaches its final value, which has mass).
    """
    size = masses.shape[-1]
    if size <= 2 * BLOCK:
        cdf = masses.cumsum(-1)
        found = _search(cdf, u * cdf[:, -1])
        return (found, cdf[:, -1]) if with_total else found
    blocks = -(-size // BLOCK)
    if size % BLOCK:
        masses = torch.nn.functional.pad(masses, (0, blocks * BLOCK - size))
    padded = masses.reshape(len(masses), blocks, BLOCK)
    block_cdf = padded.sum(-1).cumsum(-1)
    target = u * block_cdf[:, -1]
    block = _search(block_cdf, target)
    before = block_cdf.gather(-1, (block - 1).clamp(min=0).unsqueeze(-1)).squeeze(-1)
    before = torch.where(block > 0, before, torch.zeros_like(before))
    inside = padded.gather(1, block.reshape(-1, 1, 1).expand(-1, 1, BLOCK)).squeeze(1).cumsum(-1)
    within = _search(inside, target - before)
    found = (block * BLOCK + within).clamp(max=size - 1)
    return (found, block_cdf[:, -1]) if with_total else found


def _search(cdf: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """First index whose cumulative mass ``cdf [m, K]`` exceeds ``target [m]``, or, where rounding
    puts ``target`` at or past the total, the first index at which ``cdf`` reaches its total (an
    index with mass: the cumulative sum grows there)."""
    index = torch.searchsorted(cdf, target.unsqueeze(-1), right=True)
    last = torch.searchsorted(cdf, cdf[..., -1:].contiguous(), right=False)
    return torch.minimum(index, last).squeeze(-1)


def categorical_from_uniform(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw: the first index whose cumulative mass exceeds ``u * total``.

    ``probs [..., K]`` and ``u [...]`` share a dtype; indices of zero mass are never returned.
    """
    size = probs.shape[-1]
    return inverse_cdf(probs.reshape(-1, size), u.reshape(-1)).reshape(u.shape)


def subset_keys(u: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Exponential keys ``E / w`` with ``E = -log(1 - u)`` (float64): the ``k`` smallest keys of a
    row are a successive sample of ``k`` positions with probabilities proportional to ``w``
    (a uniform subset without replacement when ``weights`` is None). Increasing in ``u``."""
    keys = -torch.log1p(-u.to(torch.float64))
    if weights is None:
        return keys
    weights = weights.to(torch.float64)
    return torch.where(weights > 0, keys / weights, torch.inf)


def choose_subset(keys: torch.Tensor, eligible: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Pick ``count[b]`` eligible positions per row: those with the smallest ``keys [B, L]``.

    With i.i.d. uniform keys this is a uniformly random subset of that size; with
    :func:`subset_keys` of weights, a successive sample (spec §2.6). Ties are broken by position.
    Returns bool ``[B, L]``.
    """
    return eligible & (subset_ranks(keys, eligible) < count.reshape(-1, 1))


def subset_ranks(keys: torch.Tensor, eligible: torch.Tensor) -> torch.Tensor:
    """Rank ``[B, L]`` of each position among its row by increasing key, ineligible positions
    last (ties by position)."""
    keyed = torch.where(eligible, keys.to(torch.float64), torch.inf)
    order = torch.argsort(keyed, dim=-1, stable=True)
    rank = torch.empty_like(order)
    return rank.scatter_(-1, order, torch.arange(keys.shape[-1], device=keys.device).expand_as(order))
