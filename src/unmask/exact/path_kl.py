"""Path-space KL of random-order samplers with exact conditionals (spec §4.2, §7.3).

For a sampler that reveals blocks of sizes ``k_1, k_2, ...`` at uniformly random positions and
draws each block from the product of exact conditionals,

    pathKL = E[ sum_j k_j H_{s_{j-1}} ] - H(pi),     s_j = k_1 + ... + k_j,

with ``H_i`` the information profile. ``KL(pi || phat) <= pathKL``. Sizes are deterministic for
``k-random``, Binomial for the ancestral samplers (Euler, tau-leaping, Tweedie: each masked token
is revealed with the step's probability ``p_u``), and all 1 for first-hitting (pathKL = 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..grids import make_grid
from ..processes import MaskedProcess
from ..samplers.ancestral import Ancestral
from ..samplers.base import Sampler, force_last
from ..samplers.driver import check_process, resolve_sampler
from ..samplers.first_hitting import FirstHitting
from ..samplers.k_random import KRandom
from .laws import check_exact_law
from .metrics import entropy as table_entropy
from .profile import information_profile


def block_path_kl(profile: torch.Tensor, sizes: Sequence[int], entropy: float) -> float:
    """``sum_j k_j H_{s_{j-1}} - H(pi)`` for deterministic block sizes summing to ``L``."""
    total, revealed = 0.0, 0
    for size in sizes:
        size = min(size, len(profile) - revealed)
        total += size * float(profile[revealed]) if size > 0 else 0.0
        revealed += size
    return total - entropy


def binomial_path_kl(profile: torch.Tensor, reveal: torch.Tensor, entropy: float) -> float:
    """Expected ``sum_j k_j H_{s_{j-1}} - H(pi)`` when step ``j`` reveals each of the ``L - s`` masked
    tokens with probability ``reveal[j]`` (dynamic program over the revealed count ``s``)."""
    length = len(profile)
    counts = torch.arange(length + 1, dtype=torch.float64)
    dist = torch.zeros(length + 1, dtype=torch.float64)
    dist[0] = 1.0
    total = 0.0
    for q in reveal.tolist():
        left = length - counts
        total += float((dist[:length] * left[:length] * q * profile).sum())
        new = torch.zeros_like(dist)
        for s in range(length + 1):
            if dist[s] == 0:
                continue
            k = torch.arange(length - s + 1, dtype=torch.float64)
            binom = torch.distributions.Binomial(length - s, probs=torch.tensor(q, dtype=torch.float64))
            new[s : length + 1] += dist[s] * binom.log_prob(k).exp()
        dist = new
    return total - entropy


def supports_path_kl(sampler: Sampler, process) -> bool:
    """Whether :func:`path_kl` is defined for ``sampler`` on ``process``: random-order masked
    samplers with factorised blocks (first-hitting, k-random and the ancestral samplers)."""
    return isinstance(process, MaskedProcess) and isinstance(sampler, (Ancestral, FirstHitting, KRandom))


def path_kl(
    target,
    sampler: str | Sampler,
    steps: int | None = None,
    *,
    process: MaskedProcess | None = None,
    grid: str | torch.Tensor = "uniform",
) -> float:
    """Exact pathKL of a random-order masked sampler on ``target`` (a small table target)."""
    process = check_process(process)
    if not isinstance(process, MaskedProcess):
        raise ValueError("path_kl is defined for the masked process only")
    sampler = resolve_sampler(sampler, process, steps, target.length)
    check_exact_law(sampler)
    table = target.probs()
    profile = information_profile(table)
    entropy = table_entropy(table)
    if isinstance(sampler, FirstHitting):
        return block_path_kl(profile, [1] * target.length, entropy)
    if isinstance(sampler, KRandom):
        sizes = sampler.sizes_for(target.length)
        return block_path_kl(profile, sizes, entropy)
    if isinstance(sampler, Ancestral):
        times = make_grid(grid, steps, process.schedule, device="cpu")
        t, s = times[:-1], times[1:]
        reveal = force_last(sampler.reveal_probability(process, t, s), s)
        return binomial_path_kl(profile, reveal, entropy)
    raise ValueError(
        f"path_kl is defined for random-order samplers with factorised blocks (euler, tau-leaping, "
        f"tweedie, k-random, first-hitting), not {sampler.name!r}"
    )
