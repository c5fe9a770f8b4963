"""The benchmark's exact targets, by name, each with a masked and a uniform size.

Families (spec §5.2, §6.5): Markov chains ``A = (1 - eps) I + eps E/S`` with mild (``eps = 0.7``)
and strong (``eps = 0.15``) dependence, the copies target (``x_1 = ... = x_L``), the cyclic HMM of
the informed-corrector experiments, and one random Dirichlet chain. Lengths are chosen so that
exact output laws stay cheap: the masked dynamic program enumerates ``(S + 1)^L`` partial states,
the uniform one ``S^L`` states (cubed for the two-stage trapezoid).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..targets import Copies, CyclicHMM, MarkovChain, Target

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
    )
}


def target_names() -> list[str]:
    """Names of the benchmark targets, in suite order."""
    return list(SUITE)
