"""How many tokens a sampler that reveals a set number per call reveals at each step.

Sizes come from ``k`` (the same every step), from ``sizes`` (any schedule summing to at least the
length; every size is capped by what is still masked, and the last block reveals what remains) or
from ``blocks`` (set from ``steps``: each row's own length ``L_b``, its existing
positions, split into ``min(blocks, L_b)`` sizes that differ by at most one, larger first, so that
a padded row takes the blocks it takes alone). Shared by k-random and the fixed-size planners.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .. import checks


def even_sizes(total: int, blocks: int) -> tuple[int, ...]:
    """``total`` split into ``blocks`` sizes that differ by at most one, larger first."""
    base, extra = divmod(total, blocks)
    return tuple(base + 1 if j < extra else base for j in range(blocks))


@dataclass(frozen=True)
class BlockSizes:
    """Mixin of a sampler dataclass (which has a ``name``): the fields ``k``, ``sizes`` and
    ``blocks`` (at most one given; none means ``k = 1``), their checks, ``steps`` resolution and
    the per-row size of each step."""

    k: int | None = None
    sizes: tuple[int, ...] | None = None
    blocks: int | None = None

    def _check_sizes(self) -> None:
        """Raise unless at most one of ``k``, ``sizes``, ``blocks`` is given and it is valid;
        ``sizes`` becomes a tuple. Call from ``__post_init__``. Messages name the sampler."""
        given = [name for name in ("k", "sizes", "blocks") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(
                f"give one of k, sizes or blocks to {self.name}, not several (got k={self.k!r}, "
                f"sizes={self.sizes!r}, blocks={self.blocks!r})"
            )
        try:
            if self.k is not None:
                checks.positive_int("k", self.k)
            if self.blocks is not None:
                checks.positive_int("blocks", self.blocks)
            if self.sizes is not None:
                if isinstance(self.sizes, (str, bytes)) or not hasattr(self.sizes, "__iter__"):
                    raise TypeError(
                        "sizes must be a sequence of positive integers (tokens revealed per call), "
                        f"got {self.sizes!r} ({type(self.sizes).__name__})"
                    )
                if torch.is_tensor(self.sizes) and self.sizes.dim() != 1:
                    raise TypeError(
                        "sizes must be a sequence of positive integers (tokens revealed per call), "
                        f"got a tensor of shape {tuple(self.sizes.shape)}"
                    )
                sizes = tuple(self.sizes)
                if not sizes:
                    raise ValueError(
                        f"sizes must hold at least one block size, got an empty sequence {self.sizes!r}"
                    )
                sizes = tuple(checks.positive_int(f"sizes[{j}]", size) for j, size in enumerate(sizes))
                object.__setattr__(self, "sizes", sizes)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{self.name}: {error}") from None

    def resolve(self, steps: int | None, length: int):
        """The sizes for a run of ``steps`` on rows of ``length`` positions.

        ``steps`` sets ``blocks`` (and may not be given with ``k``, ``sizes`` or ``blocks``).
        Given ``sizes`` must sum to at least ``length``: each call reveals ``sizes[j]`` masked
        positions, capped by what is still masked (and the last entry reveals all that remain),
        so a larger sum is legal (a prompt or padding leaves fewer positions to reveal; entries
        past the last call are unused), a smaller one raises. ``k`` and ``blocks`` larger than
        ``length`` are legal too: one call reveals everything, or ``length`` calls one token each.
        """
        if steps is not None:
            steps = checks.positive_int("steps", steps)
            if self.blocks == steps:
                return self  # already resolved for these steps
            if self.k is not None or self.sizes is not None or self.blocks is not None:
                raise ValueError(
                    f"{self.name} got steps={steps} and also k={self.k}, sizes={self.sizes}, "
                    f"blocks={self.blocks}; give one of them"
                )
            return replace(self, blocks=steps)
        if self.sizes is not None and sum(self.sizes) < length:
            raise ValueError(
                f"{self.name}: sizes {self.sizes} sum to {sum(self.sizes)}, fewer than the length "
                f"{length}; the sizes must sum to at least the length (or give k, blocks or steps)"
            )
        if self.k is None and self.sizes is None and self.blocks is None:
            return replace(self, k=1)
        return self

    def sizes_for(self, length: int) -> tuple[int, ...]:
        """The block sizes of a row of ``length`` positions (the last one reveals what remains)."""
        if self.blocks is not None:
            return even_sizes(length, min(self.blocks, length))
        if self.sizes is not None:
            return self.sizes
        return (self.k or 1,) * -(-length // (self.k or 1))

    def block_size(self, index: int, lengths: torch.Tensor) -> torch.Tensor:
        """Tokens to reveal at step ``index`` per row of ``lengths [n]`` (a last block reveals all
        that remain)."""
        if self.blocks is not None:
            blocks = lengths.clamp(max=self.blocks)
            base, extra = torch.div(lengths, blocks, rounding_mode="floor"), lengths % blocks
            size = base + (index < extra).long()
            return torch.where(index >= blocks - 1, lengths, size)
        if self.sizes is None:
            return torch.full_like(lengths, self.k or 1)
        size = self.sizes[index] if index < len(self.sizes) - 1 else None
        return lengths if size is None else torch.full_like(lengths, size)

    def one_per_call(self, length: int | None = None) -> bool:
        """Whether every step reveals one token (then a sampler with exact conditionals is exact)."""
        if self.k is not None:
            return self.k == 1
        if self.sizes is not None:
            return all(size == 1 for size in self.sizes)
        return self.blocks is not None and length is not None and self.blocks >= length

    def predicted_order(self, clipped_mass, tv):
        if self.one_per_call():
            return "exact", "one token per call, each from its exact conditional"
        return "none", "deterministic planner: exact once steps reach L, no order in steps before"
