"""Adaptive samplers (a random number of calls): reported apart, never at a fixed budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...exact import reference_law, run_law, tv
from ...samplers import registry
from .grid import check_grid
from .study import chain

#: Settings of the adaptive samplers :func:`run_adaptive` runs: (name, hyperparameters).
ADAPTIVE = (
    ("eb", {"gamma": 0.1}),
    ("eb", {"gamma": 0.3}),
    ("threshold", {"threshold": 0.9}),
    ("factor-threshold", {"factor": 1.0}),
    ("certified", {"kl_budget": 0.2}),
)


@dataclass(frozen=True)
class AdaptiveEntry:
    """One adaptive sampler on one target: its exact TV, ``E[calls]`` and most calls on a path."""

    vocab_size: int
    length: int
    seed: int
    label: str
    tv: float
    expected_calls: float
    max_calls: int


def run_adaptive(
    vocab_sizes: Sequence[int] = (2, 3),
    lengths: Sequence[int] = (4, 5, 6),
    seeds: Sequence[int] = (0, 1, 2),
    settings: Sequence[tuple[str, dict]] = ADAPTIVE,
) -> list[AdaptiveEntry]:
    """Every adaptive sampler of ``settings`` on every target of the grid (exact laws). Their
    number of calls is random, so they are compared with the fixed-budget rows through
    ``expected_calls`` only; ``max_calls`` shows the budget they would need on every path."""
    vocab_sizes, lengths, seeds, _ = check_grid(vocab_sizes, lengths, seeds, (1,))
    out = []
    for v in vocab_sizes:
        for n in lengths:
            for s in seeds:
                target = chain(v, n, s)
                reference = reference_law(target)
                for name, options in settings:
                    sampler = registry.get(name, **options)
                    result = run_law(target, sampler)
                    label = f"{name}({', '.join(f'{k}={x}' for k, x in options.items())})"
                    out.append(
                        AdaptiveEntry(
                            vocab_size=v,
                            length=n,
                            seed=s,
                            label=label,
                            tv=tv(result.law, reference),
                            expected_calls=result.expected_steps * sampler.calls_per_step,
                            max_calls=result.steps * sampler.calls_per_step,
                        )
                    )
    return out
