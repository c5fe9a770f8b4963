"""Error of an unmasking schedule and the optimal schedule from an information profile (spec §7.3–§7.4).

A schedule reveals blocks of sizes ``k_1..k_K`` (``sum k_j = L``) at uniformly random positions,
each block drawn from the product of the conditionals given the revealed tokens (``k-random`` with
``sizes=``). With exact conditionals its path-space KL is, with ``s_j = k_1 + ... + k_j`` and the
information profile ``H [L]``,

    E(k) = sum_j k_j H_{s_{j-1}} - H(pi) = sum_j cost(s_{j-1}, s_j),
    cost(a, b) = (b - a) H_a - (hbar_b - hbar_a),   hbar_b = H_0 + ... + H_{b-1},

an identity (spec §4.2, §7.3), and ``KL(pi || phat) <= E(k)``. Here ``H(pi) = sum_i H_i``, so
every function reads only the profile (exact or estimated). :func:`optimal_sizes` minimises
``E`` over the compositions of ``L`` into ``K`` positive parts by dynamic programming;
:func:`schedule_grid` turns sizes into a time grid for the grid samplers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .. import checks
from ..grids import given
from ..processes import MaskedProcess


def _profile(profile) -> torch.Tensor:
    profile = torch.as_tensor(profile).detach().to(dtype=torch.float64, device="cpu")
    if profile.dim() != 1 or profile.numel() == 0:
        raise ValueError(f"profile must be a 1-D tensor H [L] with L >= 1, got shape {tuple(profile.shape)}")
    if not bool(torch.isfinite(profile).all()):
        raise ValueError("profile must be finite")
    return profile


def _sizes(sizes: Sequence[int], length: int) -> tuple[int, ...]:
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"sizes must be a sequence of positive integers, got {sizes!r}")
    sizes = tuple(checks.positive_int("sizes[j]", int(k) if torch.is_tensor(k) else k) for k in sizes)
    if sum(sizes) != length:
        raise ValueError(f"sizes {sizes} sum to {sum(sizes)}, not the length {length} of the profile")
    return sizes


def block_costs(profile) -> torch.Tensor:
    """``cost [L + 1, L + 1]`` (float64): ``cost[a, b] = (b - a) H_a - (hbar_b - hbar_a)`` for
    ``a < b`` (the error of one block revealing positions ``a..b-1`` of the order: the sum over
    them of ``H_a - H_i``), ``inf`` for ``a >= b``. ``profile``: ``H [L]``."""
    h = _profile(profile)
    length = len(h)
    hbar = torch.cat([h.new_zeros(1), h.cumsum(0)])
    a = torch.arange(length + 1).unsqueeze(1)
    b = torch.arange(length + 1).unsqueeze(0)
    start = torch.cat([h, h.new_zeros(1)]).unsqueeze(1)  # H_a (H_L is never used: a < b <= L)
    cost = (b - a).to(torch.float64) * start - (hbar.unsqueeze(0) - hbar.unsqueeze(1))
    return torch.where(a < b, cost, torch.inf)


def schedule_error(profile, sizes: Sequence[int]) -> float:
    """Predicted error ``E(k) = sum_j k_j H_{s_{j-1}} - sum_i H_i`` (nats) of block sizes ``sizes``
    (positive, summing to ``L``) under the profile ``H [L]``.

    With the exact profile it equals the path-space KL of ``k-random`` with these sizes and exact
    conditionals, and bounds ``KL(pi || phat)`` from above.
    """
    h = _profile(profile)
    sizes = _sizes(sizes, len(h))
    k = torch.tensor(sizes, dtype=torch.float64)
    starts = torch.tensor((0, *sizes[:-1])).cumsum(0)
    return float((k * h[starts]).sum() - h.sum())


@dataclass(frozen=True)
class OptimalSchedule:
    """The schedule of :func:`optimal_sizes`.

    Attributes:
        sizes: ``(k_1, ..., k_K)``, positive, summing to ``L``; pass as ``k-random``'s ``sizes=``.
        error: its predicted error ``E(k)`` (nats), the minimum over all ``K``-block schedules.
        uniform_error: ``E`` of the even split (``L`` into ``K`` sizes differing by at most one,
            larger first: what ``k-random`` with ``steps=K`` does), for comparison.
    """

    sizes: tuple[int, ...]
    error: float
    uniform_error: float


def optimal_sizes(profile, blocks: int) -> OptimalSchedule:
    """Block sizes ``k_1..k_K`` (``K = blocks``, each ``>= 1``, sum ``L``) minimising ``E(k)``.

    Dynamic program (spec §7.4): ``F[j][b] = min_{a < b} F[j-1][a] + cost(a, b)``, ``F[0][0] = 0``,
    ``E_opt = F[K][L]``, then backtrack. Time ``O(K L^2)`` (vectorised over ``a, b``), memory
    ``O(K L)``. ``profile``: ``H [L]``, exact or estimated (the DP needs no monotonicity).
    """
    h = _profile(profile)
    length = len(h)
    blocks = checks.positive_int("blocks", blocks)
    if blocks > length:
        raise ValueError(
            f"blocks={blocks} exceeds the length {length}: every block reveals at least one token"
        )
    cost = block_costs(h)
    best = torch.full((length + 1,), torch.inf, dtype=torch.float64)
    best[0] = 0.0
    choices = []
    for _ in range(blocks):
        totals = best.unsqueeze(1) + cost  # [a, b]
        best, previous = totals.min(0)
        choices.append(previous)
    sizes, end = [], length
    for previous in reversed(choices):
        start = int(previous[end])
        sizes.append(end - start)
        end = start
    sizes = tuple(reversed(sizes))
    base, extra = divmod(length, blocks)
    even = tuple(base + 1 if j < extra else base for j in range(blocks))
    return OptimalSchedule(sizes=sizes, error=float(best[length]), uniform_error=schedule_error(h, even))


def schedule_grid(sizes: Sequence[int], process: MaskedProcess | None = None) -> torch.Tensor:
    """Decreasing time grid ``[K + 1]`` (float64, CPU) for the grid samplers from block sizes.

    ``t_j = m^{-1}(r_j / L)`` with ``r_j = L - s_j`` the tokens left masked after block ``j`` and
    ``m^{-1}`` the schedule's ``time_of_masked_fraction``, so ``alpha(t_j) = s_j / L`` (spec §7.4):
    ``t_0 = 1``, ``t_K = t_end = 0``. The exact ancestral sampler (``tweedie``, any schedule; and
    ``euler`` under the linear schedule, where its step probability is the same) on this grid
    reveals Binomial block sizes whose expectations are ``k_j``; its error is then the expectation
    of ``E`` over those sizes (:func:`unmask.exact.path_kl` with ``grid=``). Pass it as ``unmask.sample(...,
    grid=schedule_grid(sizes))``. ``process``: the masked process of the run (default: linear).
    Raises ``ValueError`` when the schedule maps two fractions to the same time (a schedule whose
    ``alpha(1) > 0`` clamps fractions above ``1 - alpha(1)`` to ``t = 1``).
    """
    process = MaskedProcess() if process is None else process
    if not isinstance(process, MaskedProcess):
        raise TypeError(f"schedule_grid is defined for the masked process, got {process!r}")
    sizes = tuple(checks.positive_int("sizes[j]", k) for k in sizes) if sizes else ()
    if not sizes:
        raise ValueError("sizes must hold at least one block size, got an empty sequence")
    length = sum(sizes)
    remaining = length - torch.tensor((0, *sizes), dtype=torch.float64).cumsum(0)
    grid = process.schedule.time_of_masked_fraction(remaining / length).to(torch.float64)
    grid[0], grid[-1] = 1.0, process.t_end
    return given(grid)
