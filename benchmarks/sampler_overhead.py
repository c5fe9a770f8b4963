"""How much time the driver and the sampler add to each denoiser call.

The denoiser costs a fixed amount of work: an embedding lookup ``[V + 1, D]`` followed by one
matrix multiply ``[B * L, D] @ [D, V]`` (float32). Each sampler runs through ``unmask.sample``;
the time spent inside the denoiser is measured during the run, and the denoiser alone is timed on
the same input shape in the same process as the baseline. The table reports, per denoiser call,

    vs alone  = (run time / calls - denoiser alone) / denoiser alone
    vs in-run = (run time / calls - denoiser time in the run / calls) / (the latter)

i.e. the fraction of the denoiser's own time that the driver, the sampler step and the draws add
(float64 softmax, Bernoulli and categorical draws, reuse checks). Each figure is the best of the
repeats. First-hitting makes one call per token, so it runs with a prompt that leaves only
``--fhs-free`` positions free: every call still sees the full ``[B, L]`` batch, there are just
fewer of them.

On a busy machine wall-clock times swing with the load of other processes; ``--clock cpu``
measures this process's CPU time instead (use it with ``--threads 1``, where no thread waits for
another). On a CPU, a large part of the float64 work is the first touch of fresh ``[B, L, V]``
buffers (page faults); PyTorch's ``THP_MEM_ALLOC_ENABLE=1`` (huge pages for large tensors) changes
that cost for the denoiser and the sampler alike, for better or worse depending on the machine.

Usage::

    python benchmarks/sampler_overhead.py                 # B=256, L=256, V=1024, D=512
    python benchmarks/sampler_overhead.py --batch 64 --length 128 --steps 4 --repeats 3
    python benchmarks/sampler_overhead.py --threads 1 --clock cpu     # steadier under load
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

import unmask
from unmask.samplers import registry


class MatmulDenoiser:
    """``logits = E[x_t] @ W``: embedding ``E [V + 1, D]`` then ``[B * L, D] @ [D, V]`` (float32).

    ``seconds`` and ``calls`` accumulate the time spent inside the denoiser. Declared
    time-conditioned (not ``time_agnostic``) unless asked, so that no call is skipped by reuse.
    """

    def __init__(
        self,
        vocab_size: int,
        width: int,
        seed: int = 0,
        time_agnostic: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ):
        g = torch.Generator().manual_seed(seed)
        self.embedding = torch.randn(vocab_size + 1, width, generator=g) / width**0.5
        self.weight = torch.randn(width, vocab_size, generator=g)
        self.time_agnostic = time_agnostic
        self.clock = clock
        self.seconds = 0.0
        self.calls = 0

    def logits(self, x_t: torch.Tensor) -> torch.Tensor:
        batch, length = x_t.shape
        hidden = self.embedding[x_t.reshape(-1)]
        return (hidden @ self.weight).reshape(batch, length, -1)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        start = self.clock()
        out = self.logits(x_t)
        self.seconds += self.clock() - start
        self.calls += 1
        return out


@dataclass(frozen=True)
class Case:
    """One benchmark row: a label and how to run it."""

    label: str
    run: Callable[[MatmulDenoiser], unmask.SampleResult]


def cases(args: argparse.Namespace) -> list[Case]:
    """The samplers to time, each as a closure over the shapes in ``args``."""
    V, L, B = args.vocab, args.length, args.batch
    common = {"vocab_size": V, "generator": 0}

    def grid_sampler(name: str, **extra):
        def run(denoiser):
            return unmask.sample(denoiser, name, length=L, batch_size=B, steps=args.steps, **common, **extra)

        return run

    def first_hitting(denoiser):
        free = min(args.fhs_free, L)
        prompt = torch.zeros(B, L, dtype=torch.long)
        prompt[:, :free] = V
        return unmask.sample(denoiser, "first-hitting", prompt=prompt, **common)

    rows = [Case(name, grid_sampler(name)) for name in ("euler", "tau-leaping", "tweedie")]
    rows += [
        Case("first-hitting", first_hitting),
        Case("k-random", grid_sampler("k-random")),
        Case("trapezoidal", grid_sampler("trapezoidal")),
        Case("rk2", grid_sampler("rk2")),
    ]
    uniform = unmask.UniformProcess()
    rows += [
        Case(f"uniform {name}", grid_sampler(name, process=uniform)) for name in registry.names("uniform")
    ]
    return rows


def time_alone(denoiser: MatmulDenoiser, batch: int, length: int, vocab: int, repeats: int) -> float:
    """Best-of-``repeats`` seconds of one denoiser call alone on a half-masked ``[B, L]`` input."""
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, vocab + 1, (batch, length), generator=g)
    best = float("inf")
    for _ in range(repeats):
        start = denoiser.clock()
        denoiser.logits(x)
        best = min(best, denoiser.clock() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", "-B", type=int, default=256)
    parser.add_argument("--length", "-L", type=int, default=256)
    parser.add_argument("--vocab", "-V", type=int, default=1024)
    parser.add_argument("--width", "-D", type=int, default=512)
    parser.add_argument("--steps", type=int, default=4, help="grid steps (euler, tweedie, ...)")
    parser.add_argument("--fhs-free", type=int, default=4, help="free positions (= calls) for first-hitting")
    parser.add_argument("--repeats", type=int, default=3, help="runs per sampler (best is kept)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument(
        "--time-agnostic", action="store_true", help="declare the denoiser time-agnostic (reuse)"
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall-clock time, or this process's CPU time (steadier on a busy machine)",
    )
    parser.add_argument("--only", nargs="*", default=None, help="labels of the samplers to run")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    clock = time.perf_counter if args.clock == "wall" else time.process_time
    denoiser = MatmulDenoiser(args.vocab, args.width, time_agnostic=args.time_agnostic, clock=clock)
    print(
        f"B={args.batch} L={args.length} V={args.vocab} D={args.width} steps={args.steps} "
        f"fhs_free={args.fhs_free} repeats={args.repeats} threads={torch.get_num_threads()} "
        f"clock={args.clock} THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', 'unset')}"
    )
    header = (
        f"{'sampler':<16} {'calls':>5} {'alone ms':>9} {'in-run ms':>9} {'per call ms':>11} "
        f"{'vs alone':>9} {'vs in-run':>9}"
    )
    print(header)
    print("-" * len(header))
    for case in cases(args):
        if args.only and case.label not in args.only:
            continue
        runs = []
        for _ in range(args.repeats):
            denoiser.seconds, denoiser.calls = 0.0, 0
            start = clock()
            result = case.run(denoiser)
            total = clock() - start
            # The baseline is timed right after each run, so that load from other processes
            # hits both alike.
            alone = time_alone(denoiser, args.batch, args.length, args.vocab, 3)
            runs.append((total / result.nfe, alone, denoiser.seconds / denoiser.calls, result.nfe))
        # Best of the repeats for each quantity: the least disturbed measurement of each.
        per_call = min(r[0] for r in runs)
        alone = min(r[1] for r in runs)
        inside = min(r[2] for r in runs)
        print(
            f"{case.label:<16} {runs[0][3]:>5} {alone * 1e3:>9.1f} {inside * 1e3:>9.1f} "
            f"{per_call * 1e3:>11.1f} {(per_call - alone) / alone:>8.1%} {(per_call - inside) / inside:>8.1%}"
        )


if __name__ == "__main__":
    main()
