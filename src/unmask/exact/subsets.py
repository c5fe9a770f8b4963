"""Every outcome of choosing a subset of positions, with its exact probability (the enumerating
counterpart of :meth:`unmask.samplers.base.StepContext.select`).

Both functions expand rows with masses ``[n]`` into (row, subset) outcomes and return
``(mass [k], source [k], bits [k])``: the outcomes' masses, the rows they come from and their
subsets as bit masks (position ``i`` is bit ``L - 1 - i``).
"""

from __future__ import annotations

import torch

from .codes import unique_rows


def uniform_subsets(mass: torch.Tensor, eligible: torch.Tensor, count: torch.Tensor):
    """Uniform subsets of ``min(count[b], #eligible)`` of the ``eligible [n, L]`` positions.

    Scanning positions in order, a uniform subset of size ``r`` among the ``m`` eligible positions
    left contains the next eligible one with probability ``r / m``.
    """
    n, length = eligible.shape
    left = eligible.sum(-1)
    picks = torch.minimum(count, left)
    source = torch.arange(n, device=mass.device)
    bits = torch.zeros(n, dtype=torch.long, device=mass.device)
    for i in range(length):
        here = eligible[source, i]
        go = torch.where(here, picks.to(torch.float64) / left.clamp(min=1).to(torch.float64), 0.0)
        choices = torch.stack([1 - go, go], dim=-1)
        row, chosen = (choices > 0).nonzero(as_tuple=True)
        mass = mass[row] * choices[row, chosen]
        source, bits, here = source[row], bits[row] * 2 + chosen, here[row]
        picks = picks[row] - chosen
        left = left[row] - here.long()
    return mass, source, bits


def successive_subsets(
    mass: torch.Tensor, eligible: torch.Tensor, count: torch.Tensor, weights: torch.Tensor
):
    """Successive sampling of ``min(count[b], #eligible)`` positions: each pick proportional to
    ``weights [n, L]`` among the eligible positions not picked yet; outcomes with the same set are
    merged after every pick."""
    n, length = eligible.shape
    device = mass.device
    weights = torch.where(eligible, weights, 0.0)
    size = torch.minimum(count, eligible.sum(-1))
    source = torch.arange(n, device=device)
    taken = torch.zeros(n, length, dtype=torch.bool, device=device)
    powers = 2 ** torch.arange(length - 1, -1, -1, device=device)
    for pick in range(int(size.max()) if len(size) else 0):
        more = size[source] > pick
        w = torch.where(taken, 0.0, weights[source])
        step = torch.where(more.unsqueeze(-1), w / w.sum(-1, keepdim=True).clamp(min=1e-300), 0.0)
        choices = torch.cat([step, (~more).to(torch.float64).unsqueeze(-1)], dim=-1)
        row, where = (choices > 0).nonzero(as_tuple=True)
        mass, source, taken = mass[row] * choices[row, where], source[row], taken[row].clone()
        picked = where < length
        taken[picked.nonzero().squeeze(-1), where[picked]] = True
        first, inverse = unique_rows(source * (1 << length) + (taken.long() * powers).sum(-1))
        mass = torch.zeros(len(first), dtype=torch.float64, device=device).index_add_(0, inverse, mass)
        source, taken = source[first], taken[first]
    return mass, source, (taken.long() * powers).sum(-1)
