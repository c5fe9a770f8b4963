"""The benchmark's exact targets, by name, each with a masked and a uniform size.

Families (spec §5.2, §6.5): Markov chains ``A = (1 - eps) I + eps E/S`` with mild (``eps = 0.7``)
and strong (``eps = 0.15``) dependence, the copies target (``x_1 = ... = x_L``), the cyclic HMM of
the informed-corrector experiments, one random Dirichlet chain, and *islands*, whose entropies are
heterogeneous (uncertain island heads, near-deterministic tails: the case for adaptive planners,
spec §4.7 (d)). Lengths are chosen so that
exact output laws stay cheap: the masked dynamic program enumerates ``(S + 1)^L`` partial states,
the uniform one ``S^L`` states (cubed for the two-stage trapezoid).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..targets import Copies, CyclicHMM, MarkovChain, Table, Target

VOCAB = 3
MASKED_LENGTH = 5
UNIFORM_LENGTH = 3


@dataclass(frozen=True)
class BenchTarget:
    """A named target family; ``build(length)`` makes it at a given length."""

    name: str
    description: str
    build: Callable[[int], Target]

    def at(self, process: str, length: int | None = None) -> Target:
        """The target at ``length``, or at the default length for ``process``."""
        if length is None:
            length = MASKED_LENGTH if process == "masked" else UNIFORM_LENGTH
        return self.build(length)


#: Probability that an island's tail token copies the token before it.
ISLAND_STAY = 0.995


def islands(vocab_size: int, length: int, stay: float = ISLAND_STAY) -> Table:
    """Islands of tokens: positions ``j`` with ``j % 5`` in {0, 2} are *heads*, uniform and
    independent; every other position copies the token before it with probability ``stay`` and
    otherwise takes one of the other values uniformly. Heads have entropy ``log V``, tails about
    ``0.035`` nats given the token before them (``V = 3``), so entropies are heterogeneous; for
    ``L = 5`` the islands are ``(x_0, x_1)`` and ``(x_2, x_3, x_4)``.
    """
    copy = torch.full((vocab_size, vocab_size), (1 - stay) / (vocab_size - 1), dtype=torch.float64)
    copy.fill_diagonal_(stay)
    table = torch.ones([vocab_size] * length, dtype=torch.float64)
    for j in range(length):
        if j % 5 in (0, 2):
            table = table / vocab_size
        else:  # the factor copy[x_{j-1}, x_j], broadcast over the other positions
            shape = [1] * length
            shape[j - 1], shape[j] = vocab_size, vocab_size
            table = table * copy.reshape(shape)
    return Table(table)


SUITE: dict[str, BenchTarget] = {
    target.name: target
    for target in (
        BenchTarget(
            "mild",
            "Markov chain A = 0.3 I + 0.7 E/3 (mild dependence)",
            lambda length: MarkovChain.mixing(VOCAB, length, eps=0.7),
        ),
        BenchTarget(
            "strong",
            "Markov chain A = 0.85 I + 0.15 E/3 (strong dependence)",
            lambda length: MarkovChain.mixing(VOCAB, length, eps=0.15),
        ),
        BenchTarget("copies", "copies: x_1 = ... = x_L ~ Unif(3)", lambda length: Copies(VOCAB, length)),
        BenchTarget(
            "cyclic",
            "cyclic HMM: stay w.p. 0.5, else step +1 mod 3",
            lambda length: CyclicHMM(VOCAB, length, p=0.5),
        ),
        BenchTarget(
            "dirichlet",
            "random Markov chain, Dirichlet(0.5) rows, seed 0",
            lambda length: MarkovChain.random(VOCAB, length, concentration=0.5, seed=0),
        ),
        BenchTarget(
            "islands",
            f"islands: uniform heads (x_0, x_2), tails copy the token before w.p. {ISLAND_STAY}",
            lambda length: islands(VOCAB, length),
        ),
    )
}


def target_names() -> list[str]:
    """Names of the benchmark targets, in suite order."""
    return list(SUITE)
