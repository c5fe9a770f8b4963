"""Memory and time of every sampler at a real vocabulary: ``B = 4``, ``L = 512``, ``V = 126,464``,
bf16 logits.

The denoiser is an embedding ``[V + 1, D]`` followed by one matrix product ``[B L, D] @ [D, V]``,
all in bf16, so one logits tensor takes ``B L V * 2`` bytes (518 MB here). For every sampler the
script reports

* the peak memory the sampler adds: the peak of a run of ``unmask.sample`` minus the peak of the
  denoiser alone making one logits tensor, as a multiple of one logits tensor, against the bound
  1.5. On a GPU it comes from ``torch.cuda.max_memory_allocated``. On the CPU it is the peak
  resident size of a fresh process per sampler, run with ``MALLOC_MMAP_THRESHOLD_=65536`` so that
  the C allocator hands every large block back when it is freed (otherwise freed blocks kept for
  reuse inflate the resident size well above the memory actually in use); the times come from a
  second fresh process with the allocator's defaults;
* the time per step, and the time the sampler itself adds per step (run time minus the time
  inside the denoiser) as a ratio to one matrix product that produced the logits (timed alone in
  the same process).

First-hitting makes one call per masked token, so it runs with a prompt that leaves ``--free``
positions free (every call still sees the full ``[B, L]`` batch).

Usage::

    python benchmarks/large_vocab.py                       # the GPU when there is one, else the CPU
    python benchmarks/large_vocab.py --device cpu --width 64 --only euler trapezoidal
    python benchmarks/large_vocab.py --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

import unmask
from unmask.samplers import registry
from unmask.samplers.correctors import PredictorCorrector, ReMDM
from unmask.samplers.planned import LowConfidenceRemasking, Planner


class Bf16Denoiser:
    """``logits = E[x_t] @ W`` in bf16 (time-conditioned, so no call is reused); ``seconds``
    accumulates the time spent inside it."""

    def __init__(self, vocab: int, width: int, device: torch.device) -> None:
        g = torch.Generator(device="cpu").manual_seed(0)
        self.embedding = (torch.randn(vocab + 1, width, generator=g) / width**0.5).to(device, torch.bfloat16)
        self.weight = (torch.randn(width, vocab, generator=g) * 2).to(device, torch.bfloat16)
        self.device = device
        self.seconds = 0.0
        self.calls = 0

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def logits(self, x_t: torch.Tensor) -> torch.Tensor:
        batch, length = x_t.shape
        return (self.embedding[x_t.reshape(-1)] @ self.weight).reshape(batch, length, -1)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self._sync()
        start = time.perf_counter()
        out = self.logits(x_t)
        self._sync()
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


#: Samplers measured by ``planner_overhead.py`` instead (the planners, remasking and the
#: predictor-correctors, whose cost per call is the corrector's).
ELSEWHERE = (Planner, LowConfidenceRemasking, ReMDM, PredictorCorrector)

CASES = [
    (process, name)
    for process in ("masked", "uniform")
    for name in registry.names(process)
    if not issubclass(registry.SAMPLERS[process][name], ELSEWHERE)
]


def run_case(process: str, name: str, args, denoiser: Bf16Denoiser) -> unmask.SampleResult:
    """One sampling run of ``name`` on ``process`` with the benchmark's shapes."""
    common = {"vocab_size": args.vocab, "generator": 0, "device": denoiser.device}
    if process == "uniform":
        return unmask.sample(
            denoiser, name, length=args.length, batch_size=args.batch, steps=args.steps,
            process=unmask.UniformProcess(), **common,
        )  # fmt: skip
    if name == "first-hitting":
        prompt = torch.zeros(args.batch, args.length, dtype=torch.long, device=denoiser.device)
        prompt[:, : args.free] = args.vocab
        return unmask.sample(denoiser, name, prompt=prompt, **common)
    shape = {"length": args.length, "batch_size": args.batch}
    return unmask.sample(denoiser, name, steps=args.steps, **shape, **common)


def peak_bytes(device: torch.device) -> int:
    """The peak memory so far: allocated on a GPU, resident on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(process: str | None, name: str | None, args) -> dict:
    """Peak memory and times of one case (``name`` None: the denoiser alone, one call)."""
    device = torch.device(args.device)
    denoiser = Bf16Denoiser(args.vocab, args.width, device)
    x = torch.full((args.batch, args.length), args.vocab, dtype=torch.long, device=device)
    if device.type == "cuda":
        denoiser.logits(x)  # warm-up outside the measured peak
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    matmul = float("inf")
    if name is None:
        for _ in range(args.repeats):
            denoiser.seconds = 0.0
            denoiser(x, torch.ones(args.batch, device=device))
            matmul = min(matmul, denoiser.seconds)
        return {"peak": peak_bytes(device), "matmul": matmul}
    start = time.perf_counter()
    result = run_case(process, name, args, denoiser)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    total = time.perf_counter() - start
    steps = max(result.steps, 1)
    return {
        "peak": peak_bytes(device),
        "steps": result.steps,
        "calls": result.nfe,
        "seconds_per_step": total / steps,
        "sampler_seconds_per_step": (total - denoiser.seconds) / steps,
        "denoiser_seconds_per_call": denoiser.seconds / max(result.nfe, 1),
    }


def in_fresh_process(process: str | None, name: str | None, argv: list[str], memory: bool) -> dict:
    """:func:`measure` in a new interpreter (so that the CPU's peak resident size is its own); with
    ``memory``, every large block goes back to the system when freed (see the module docstring)."""
    command = [sys.executable, __file__, *argv, "--child", process or "-", name or "-"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if memory:
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{process} {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", "-B", type=int, default=4)
    parser.add_argument("--length", "-L", type=int, default=512)
    parser.add_argument("--vocab", "-V", type=int, default=126_464)
    parser.add_argument("--width", "-D", type=int, default=256, help="hidden width of the denoiser")
    parser.add_argument("--steps", type=int, default=4, help="grid steps (blocks for k-random)")
    parser.add_argument("--free", type=int, default=8, help="free positions (= calls) for first-hitting")
    parser.add_argument("--repeats", type=int, default=3, help="timings of the matrix product alone")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    parser.add_argument("--only", nargs="*", default=None, help="sampler names to run")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child is not None:
        process, name = (None if part == "-" else part for part in args.child)
        print(json.dumps(measure(process, name, args)))
        return

    device = torch.device(args.device)
    argv = [a for a in sys.argv[1:] if a != "--json" and not a.endswith(".json")]

    def run(process: str | None, name: str | None) -> dict:
        if device.type == "cuda":  # the allocator's own peak, reset per case
            return measure(process, name, args)
        timed = in_fresh_process(process, name, argv, memory=False)
        return {**timed, "peak": in_fresh_process(process, name, argv, memory=True)["peak"]}

    logits_bytes = args.batch * args.length * args.vocab * 2
    base = run(None, None)
    print(
        f"B={args.batch} L={args.length} V={args.vocab} D={args.width} steps={args.steps} device={device} "
        f"threads={torch.get_num_threads()}; one bf16 logits tensor = {logits_bytes / 2**20:.0f} MiB; "
        f"matrix product alone {base['matmul'] * 1e3:.1f} ms"
    )
    header = (
        "process",
        "sampler",
        "steps",
        "calls",
        "s/step",
        "own s/step",
        "own/matmul",
        "peak added",
        "/logits",
    )
    print("{:<8} {:<14} {:>5} {:>5} {:>8} {:>10} {:>10} {:>10} {:>7}".format(*header))
    rows = []
    for process, name in CASES:
        if args.only and name not in args.only:
            continue
        got = run(process, name)
        added = max(got["peak"] - base["peak"], 0)
        row = {
            "process": process, "sampler": name, **got, "peak_added_bytes": added,
            "peak_added_over_logits": added / logits_bytes,
            "own_over_matmul": got["sampler_seconds_per_step"] / base["matmul"],
        }  # fmt: skip
        rows.append(row)
        print(
            f"{process:<8} {name:<14} {got['steps']:>5} {got['calls']:>5} {got['seconds_per_step']:>8.2f} "
            f"{got['sampler_seconds_per_step']:>10.3f} {row['own_over_matmul']:>10.2f} "
            f"{added / 2**20:>8.0f}Mi {row['peak_added_over_logits']:>7.2f}"
        )
    worst = max((r["peak_added_over_logits"] for r in rows), default=0.0)
    print(
        f"largest peak added: {worst:.2f} logits tensors (bound 1.5): {'within' if worst <= 1.5 else 'ABOVE'}"
    )
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"config": vars(args), "matmul_seconds": base["matmul"], "logits_bytes": logits_bytes,
                       "rows": rows}, out, indent=2)  # fmt: skip


if __name__ == "__main__":
    main()
