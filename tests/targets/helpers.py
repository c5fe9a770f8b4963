"""Shared helpers for the target tests: the targets under test, random partial states, a
pure-Python brute force and a chi-square goodness-of-fit test."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch

from stats import CHI_SQUARE_LEVEL, chi_square_pvalue  # noqa: F401  (re-exported)
from unmask.targets import HMM, Copies, CyclicHMM, MarkovChain, Target

#: Small targets, one of each kind, built fresh for every test (the counter starts at 0); each
#: factory takes the length, with a default that keeps the dense table small.
TARGETS: dict[str, Callable[..., Target]] = {
    "markov-random": lambda length=5: MarkovChain.random(3, length, concentration=0.5, seed=1),
    "markov-mixing": lambda length=4: MarkovChain.mixing(3, length, eps=0.3),
    "hmm-random": lambda length=5: HMM.random(3, 2, length, concentration=0.7, seed=2),
    "copies": lambda length=4: Copies(3, length),
    "cyclic": lambda length=5: CyclicHMM(3, length, p=0.6),
}


def partial_states(target: Target, rows: int, seed: int) -> torch.Tensor:
    """Partial states ``[rows + 3, L]`` (ids ``0..V``): masked samples of the target (possible
    contexts), uniformly random tokens with random masks (often impossible for sparse targets),
    one all-masked row, one fully unmasked sample and one fully unmasked random row."""
    g = torch.Generator().manual_seed(seed)
    V, L = target.vocab_size, target.length
    half = rows // 2
    possible = target.sample(half, generator=g)
    anything = torch.randint(0, V, (rows - half, L), generator=g)
    x = torch.cat([possible, anything])
    keep = torch.rand(x.shape, generator=g) < 0.5
    z = torch.where(keep, x, torch.full_like(x, V))
    extra = torch.stack(
        [
            torch.full((L,), V, dtype=torch.long),
            target.sample(1, generator=g)[0],
            torch.randint(0, V, (L,), generator=g),
        ]
    )
    return torch.cat([z, extra])


def noisy_states(target: Target, rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform-process states ``z [rows, L]`` (ids ``0..V-1``) and times ``t [rows]`` in ``[0, 1]``,
    including the ends ``t = 0`` and ``t = 1``."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randint(0, target.vocab_size, (rows, target.length), generator=g)
    t = torch.rand(rows, generator=g, dtype=torch.float64)
    t[0], t[1] = 0.0, 1.0
    z[0] = target.sample(1, generator=g)[0]  # t = 0 with a state in the support
    return z, t


class BruteForce:
    """Pure-Python enumeration of a law given as a nested list / tensor ``[V] * L`` (no torch maths)."""

    def __init__(self, table: torch.Tensor) -> None:
        self.V = table.shape[0]
        self.L = table.dim()
        flat = table.reshape(-1).tolist()
        self.configs = list(itertools.product(range(self.V), repeat=self.L))
        self.p = dict(zip(self.configs, flat, strict=True))

    def _marginals(self, weight: Callable[[tuple[int, ...]], float], i: int) -> list[float]:
        out = [0.0] * self.V
        for x in self.configs:
            out[x[i]] += self.p[x] * weight(x)
        total = sum(out)
        return [1.0 / self.V] * self.V if total == 0 else [w / total for w in out]

    def conditionals(self, z: list[int]) -> list[list[float]]:
        """``p(x_i | z_U)`` at masked ``i``, one-hot elsewhere."""
        M = self.V

        def consistent(x: tuple[int, ...]) -> float:
            return float(all(zj in (M, xj) for zj, xj in zip(z, x, strict=True)))

        rows = []
        for i in range(self.L):
            if z[i] == M:
                rows.append(self._marginals(consistent, i))
            else:
                rows.append([float(v == z[i]) for v in range(self.V)])
        return rows

    def leave_one_out(self, z: list[int]) -> list[list[float]]:
        """``p(x_i | z_{U minus i})`` at every ``i``."""
        M = self.V
        rows = []
        for i in range(self.L):

            def consistent(x: tuple[int, ...], i: int = i) -> float:
                return float(all(j == i or z[j] == M or z[j] == x[j] for j in range(self.L)))

            rows.append(self._marginals(consistent, i))
        return rows

    def uniform_posterior(self, z: list[int], kernel: list[list[float]]) -> list[list[float]]:
        """``p(x_i | z_t = z)`` with evidence ``K[x_j][z_j]`` at every position."""

        def likelihood(x: tuple[int, ...]) -> float:
            out = 1.0
            for xj, zj in zip(x, z, strict=True):
                out *= kernel[xj][zj]
            return out

        return [self._marginals(likelihood, i) for i in range(self.L)]
