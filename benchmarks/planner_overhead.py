"""How much time and memory the planners add to each denoiser call.

Planners (``top-k``, ``threshold``, ``factor-threshold``, ``eb``, ``certified``, ``dilated``,
``bisection``, ``semi-autoregressive``, ``low-confidence-remasking``, and the ``remdm`` corrector
sampler beside them) read per-position
reductions of the logits (largest probability, margin, entropy), sort the masked positions and
draw the chosen ones. The script measures that work in two parts.

**(a) Overhead per call** at ``B = 256, L = 256, V = 1024``, logits in float32 (``--dtype
bfloat16``: the denoiser's weights and logits in bf16). The denoiser is the
matrix-product denoiser of ``sampler_overhead.py`` (embedding ``[V + 1, D]``, then
``[B L, D] @ [D, V]``, ``D = 512``) with two cheap additions that make a planner's choices
meaningful: a position embedding ``[L, D]`` (so masked positions differ) and a sharpness per row
that grows with the row's revealed fraction, ``hidden *= base + gain * revealed / L`` (so the
model grows surer as the row fills in, and the threshold planners reveal more per call as they
go; ``--base 12 --gain 60`` by default, where at ``L = 256`` threshold takes about 25 calls,
factor-threshold 15 and eb 43). Both cost ``O(B L D)``, nothing beside the matrix product. As
in ``sampler_overhead.py``, per denoiser call,

    vs alone  = (run time / calls - denoiser alone) / denoiser alone
    vs in-run = (run time / calls - denoiser time in the run / calls) / (the latter)
    planner   = vs in-run - (k-random's own time per call) / (this run's denoiser time per call)

each the best of ``--repeats`` runs, the baseline timed in the same process right after each run;
``planner`` is what choosing the positions adds beyond the driver itself (k-random's run makes the
same calls and draws with positions chosen at random), the figure the 5% aim is about.
``top-k``, ``dilated`` and ``low-confidence-remasking`` run with a fixed ``k = ceil(L / --calls)``,
``remdm`` with ``--calls`` grid steps, ``bisection`` with ``--calls`` calls, ``semi-autoregressive``
with four blocks of ``L / 4`` positions and top-k inside (``--calls`` split over them, at
least 4), and ``k-random`` with the same ``k`` is the reference row without a planner (the same
calls and draws, positions chosen at random). ``threshold``, ``factor-threshold``, ``eb`` and
``certified`` run at their defaults (0.9, 1.0, gamma 0.1, kl_budget 0.05) and take as many calls
as their rule gives; the table reports them.

**(b) Memory and time at a real vocabulary**: ``B = 64, L = 256, V = 126,464``, logits in bf16
(one logits tensor is ``B L V * 2`` bytes, 4.1 GB), the same denoiser in bf16 with a smaller
``D``. Part (a)'s ``B = 256`` would be 16.6 GB of logits alone, which does not fit beside
anything else in 24 GiB; ``B = 64`` leaves room for the planners' pieces and for other processes
(``--batch-b 256`` where the memory is). As in ``large_vocab.py``: the peak memory a run of
``unmask.sample`` adds above the denoiser alone making one logits tensor, as a multiple of one logits tensor
(``torch.cuda.max_memory_allocated`` on a GPU; on the CPU the peak resident size of a fresh
process per planner run with ``MALLOC_MMAP_THRESHOLD_=65536``, times from a second fresh process
with the allocator's defaults); every case, the baseline too, first runs every sampler once at a
tiny size, so that fixed first-run costs cancel. A float64 ``[B, L, V]`` tensor alone would add
4 logits tensors; the planners must stay well below that (the script flags anything above
``--bound``, 1.5); the ``k-random`` row shows what the driver adds without a planner. Times are
per denoiser call, as ratios to one matrix product alone: the whole call, and the planner's own
part (run time minus the time inside the denoiser). On a CPU the adaptive planners take tens to
hundreds of calls at this size; ``--max-calls-b N`` ends every run after ``N`` calls (the
figures are then those of the first calls, where the most positions are masked).

Usage::

    python benchmarks/planner_overhead.py --threads 1                 # (a) and (b), full sizes
    python benchmarks/planner_overhead.py --part a --dtype bfloat16 --threads 1
    python benchmarks/planner_overhead.py --part a --threads 1 --only top-k eb
    python benchmarks/planner_overhead.py --part a --batch 32 --length 64 --threads 1
    python benchmarks/planner_overhead.py --part b --vocab-b 32768 --length-b 128
    python benchmarks/planner_overhead.py --part b --max-calls-b 4 --threads 1   # CPU, B=64 V=126,464
    python benchmarks/planner_overhead.py --device cuda --json planners.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import time

import torch

import unmask

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from large_vocab import peak_bytes  # noqa: E402  (a script beside this one)

PLANNERS = (
    "top-k", "threshold", "factor-threshold", "eb", "certified", "dilated", "bisection",
    "semi-autoregressive", "low-confidence-remasking", "remdm",
)  # fmt: skip
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
REFERENCE = "k-random"


class CallLimit(Exception):
    """Raised by a :class:`ContextDenoiser` asked for more than ``limit`` calls."""


class ContextDenoiser:
    """``logits = ((E[x_t] + P) * (base + gain * revealed fraction of the row)) @ W``.

    ``E [V + 1, D]`` token embedding, ``P [L, D]`` position embedding, ``W [D, V]``; all in
    ``dtype`` on ``device``. Time-conditioned (not ``time_agnostic``), so no call is reused;
    ``seconds`` and ``calls`` accumulate the time spent inside it (synchronised on a GPU). With
    ``limit`` set, the call after the ``limit``-th raises :class:`CallLimit` (ending the run).
    """

    limit: int = 0

    def __init__(
        self,
        vocab: int,
        width: int,
        length: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
        base: float = 12.0,
        gain: float = 60.0,
    ) -> None:
        g = torch.Generator().manual_seed(0)
        device = torch.device(device)
        self.embedding = (torch.randn(vocab + 1, width, generator=g) / width**0.5).to(device, dtype)
        self.position = (torch.randn(length, width, generator=g) / width**0.5).to(device, dtype)
        self.weight = torch.randn(width, vocab, generator=g).to(device, dtype)
        self.vocab, self.base, self.gain, self.device = vocab, base, gain, device
        self.seconds = 0.0
        self.calls = 0

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def logits(self, x_t: torch.Tensor) -> torch.Tensor:
        batch, length = x_t.shape
        revealed = (x_t != self.vocab).sum(-1, keepdim=True).to(self.weight.dtype) / length
        sharpness = (self.base + self.gain * revealed).unsqueeze(-1)  # [B, 1, 1]
        hidden = (self.embedding[x_t] + self.position[:length]) * sharpness
        return (hidden.reshape(batch * length, -1) @ self.weight).reshape(batch, length, -1)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.limit and self.calls >= self.limit:
            raise CallLimit
        self.sync()
        start = time.perf_counter()
        out = self.logits(x_t)
        self.sync()
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def sampler_for(name: str, length: int, calls: int) -> tuple[unmask.samplers.Sampler, int | None]:
    """The sampler object and the ``steps`` to pass for ``name`` (fixed sizes from ``calls``)."""
    k = math.ceil(length / calls)
    if name in ("top-k", "dilated", "low-confidence-remasking", "k-random"):
        return unmask.samplers.get(name, k=k), None
    if name in ("remdm", "bisection"):
        return unmask.samplers.get(name), calls
    if name == "semi-autoregressive":  # LLaDA's use: blocks of L / 4, top-k inside, calls split over them
        return unmask.samplers.get(name, block_length=max(1, length // 4)), max(calls, 4)
    return unmask.samplers.get(name), None


def run_one(name: str, denoiser: ContextDenoiser, batch: int, length: int, calls: int):
    sampler, steps = sampler_for(name, length, calls)
    return unmask.sample(
        denoiser, sampler, vocab_size=denoiser.vocab, length=length, batch_size=batch, steps=steps,
        generator=0, device=denoiser.device,
    )  # fmt: skip


def selected(args) -> list[str]:
    names = [REFERENCE, *PLANNERS]
    return [n for n in names if not args.only or n in args.only]


# -- (a) overhead per call ---------------------------------------------------------------------------
def time_alone(denoiser: ContextDenoiser, batch: int, length: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` seconds of one call alone on a half-masked ``[B, L]`` input."""
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, denoiser.vocab + 1, (batch, length), generator=g).to(denoiser.device)
    best = float("inf")
    for _ in range(repeats):
        denoiser.sync()
        start = time.perf_counter()
        denoiser.logits(x)
        denoiser.sync()
        best = min(best, time.perf_counter() - start)
    return best


def part_a(args) -> list[dict]:
    B, L = args.batch, args.length
    dtype = DTYPES[args.dtype]
    denoiser = ContextDenoiser(args.vocab, args.width, L, dtype, args.device, args.base, args.gain)
    print(
        f"(a) B={B} L={L} V={args.vocab} D={args.width} {args.dtype} device={args.device} "
        f"threads={torch.get_num_threads()} k=ceil(L/{args.calls})={math.ceil(L / args.calls)} "
        f"repeats={args.repeats} sharpness={args.base}+{args.gain}*revealed"
    )
    header = (
        f"{'sampler':<25} {'calls':>5} {'alone ms':>9} {'in-run ms':>9} {'per call ms':>11} "
        f"{'vs alone':>9} {'vs in-run':>9} {'planner':>9}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    reference_own = None  # k-random's own time per call (the driver without a planner)
    for name in selected(args):
        runs = []
        for _ in range(args.repeats):
            denoiser.seconds, denoiser.calls = 0.0, 0
            denoiser.sync()
            start = time.perf_counter()
            result = run_one(name, denoiser, B, L, args.calls)
            denoiser.sync()
            total = time.perf_counter() - start
            alone = time_alone(denoiser, B, L)
            runs.append((total / result.nfe, alone, denoiser.seconds / denoiser.calls, result.nfe))
        per_call, alone, inside = (min(r[i] for r in runs) for i in range(3))
        own = per_call - inside
        if name == REFERENCE:
            reference_own = own
        row = {
            "sampler": name, "calls": runs[0][3], "alone_s": alone, "in_run_s": inside,
            "per_call_s": per_call, "vs_alone": (per_call - alone) / alone,
            "vs_in_run": own / inside,
            "planner_vs_in_run": None if reference_own is None else (own - reference_own) / inside,
        }  # fmt: skip
        rows.append(row)
        added = "" if row["planner_vs_in_run"] is None else f"{row['planner_vs_in_run']:>8.1%}"
        print(
            f"{name:<25} {row['calls']:>5} {alone * 1e3:>9.1f} {inside * 1e3:>9.1f} "
            f"{per_call * 1e3:>11.1f} {row['vs_alone']:>8.1%} {row['vs_in_run']:>8.1%} {added:>9}"
        )
    return rows


# -- (b) memory and time at a large vocabulary ---------------------------------------------------
def measure_b(name: str | None, args) -> dict:
    """Peak memory and times of one planner run (``name`` None: the denoiser alone, one call)."""
    device = torch.device(args.device)
    B, L = args.batch_b, args.length_b
    denoiser = ContextDenoiser(args.vocab_b, args.width_b, L, torch.bfloat16, device, args.base, args.gain)
    x = torch.full((B, L), args.vocab_b, dtype=torch.long, device=device)
    # Every case (the baseline too) first runs every sampler once at a tiny size, so that the
    # fixed costs of a first run (code paths, kernels, thread pools) are in every peak alike.
    tiny = ContextDenoiser(16, 8, 8, torch.bfloat16, device, args.base, args.gain)
    for warm in (REFERENCE, *PLANNERS):
        run_one(warm, tiny, 2, 8, args.calls)
    if device.type == "cuda":
        denoiser.logits(x)  # warm-up outside the measured peak
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    if name is None:
        matmul = float("inf")
        for _ in range(args.repeats):
            denoiser.seconds = 0.0
            denoiser(x, torch.ones(B, device=device))
            matmul = min(matmul, denoiser.seconds)
        return {"peak": peak_bytes(device), "matmul": matmul}
    denoiser.limit = args.max_calls_b
    denoiser.sync()
    start = time.perf_counter()
    with contextlib.suppress(CallLimit):  # the first max_calls_b calls and their steps, timed
        run_one(name, denoiser, B, L, args.calls)
    denoiser.sync()
    total = time.perf_counter() - start
    calls = denoiser.calls
    return {
        "peak": peak_bytes(device),
        "calls": calls,
        "seconds_per_call": total / calls,
        "own_seconds_per_call": (total - denoiser.seconds) / calls,
    }


def in_fresh_process(name: str | None, memory: bool) -> dict:
    """:func:`measure_b` in a new interpreter (its own peak resident size); with ``memory``, every
    large block goes back to the system when freed (see the module docstring)."""
    argv = [a for a in sys.argv[1:]]
    if "--json" in argv:  # the child writes nothing
        i = argv.index("--json")
        del argv[i : i + 2]
    command = [sys.executable, os.path.abspath(__file__), *argv, "--child", name or "-"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if memory:
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def part_b(args) -> dict:
    device = torch.device(args.device)

    def run(name: str | None) -> dict:
        if device.type == "cuda":  # the allocator's own peak, reset per case
            return measure_b(name, args)
        timed = in_fresh_process(name, memory=False)
        return {**timed, "peak": in_fresh_process(name, memory=True)["peak"]}

    logits_bytes = args.batch_b * args.length_b * args.vocab_b * 2
    base = run(None)
    matmul = base["matmul"]
    limit = f"; at most {args.max_calls_b} calls per run" if args.max_calls_b else ""
    print(
        f"(b) B={args.batch_b} L={args.length_b} V={args.vocab_b} D={args.width_b} bf16 device={device} "
        f"threads={torch.get_num_threads()}; one bf16 logits tensor = {logits_bytes / 2**20:.0f} MiB "
        f"(a float64 [B, L, V] = 4.00 of them); matrix product alone {matmul * 1e3:.1f} ms{limit}"
    )
    header = ("sampler", "calls", "ms/call", "call/matmul", "own/matmul", "peak added", "/logits")
    print("{:<25} {:>5} {:>9} {:>11} {:>10} {:>10} {:>7}".format(*header))
    rows = []
    for name in selected(args):
        got = run(name)
        added = max(got["peak"] - base["peak"], 0)
        row = {
            "sampler": name, **got, "peak_added_bytes": added,
            "peak_added_over_logits": added / logits_bytes,
            "call_over_matmul": got["seconds_per_call"] / matmul,
            "own_over_matmul": got["own_seconds_per_call"] / matmul,
        }  # fmt: skip
        rows.append(row)
        print(
            f"{name:<25} {got['calls']:>5} {got['seconds_per_call'] * 1e3:>9.1f} "
            f"{row['call_over_matmul']:>11.2f} {row['own_over_matmul']:>10.2f} "
            f"{added / 2**20:>8.0f}Mi {row['peak_added_over_logits']:>7.2f}"
        )
    worst = max((r["peak_added_over_logits"] for r in rows), default=0.0)
    verdict = "within" if worst <= args.bound else "ABOVE"
    print(
        f"largest peak added: {worst:.2f} logits tensors (bound {args.bound}; a float64 [B, L, V] "
        f"alone would be 4.00): {verdict}"
    )
    return {"matmul_seconds": matmul, "logits_bytes": logits_bytes, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("a", "b", "both"), default="both")
    parser.add_argument("--batch", "-B", type=int, default=256, help="(a) batch")
    parser.add_argument("--length", "-L", type=int, default=256, help="(a) length")
    parser.add_argument("--vocab", "-V", type=int, default=1024, help="(a) vocabulary")
    parser.add_argument("--width", "-D", type=int, default=512, help="(a) hidden width")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="float32", help="(a) logits dtype")
    parser.add_argument(
        "--batch-b", type=int, default=64,
        help="(b) batch: 64, the largest that fits in 24 GiB at L=256 (B=256 is 16.6 GB of logits)",
    )  # fmt: skip
    parser.add_argument("--length-b", type=int, default=256, help="(b) length")
    parser.add_argument("--vocab-b", type=int, default=126_464, help="(b) vocabulary")
    parser.add_argument("--width-b", type=int, default=64, help="(b) hidden width")
    parser.add_argument(
        "--max-calls-b", type=int, default=0,
        help="(b) end each run after this many denoiser calls (0: run to the end); the figures are "
        "then those of the first calls, where the most positions are masked",
    )  # fmt: skip
    parser.add_argument(
        "--calls",
        type=int,
        default=8,
        help="calls of top-k, k-random, remasking, remdm, bisection, semi-autoregressive",
    )
    parser.add_argument("--base", type=float, default=12.0, help="denoiser sharpness of a fully masked row")
    parser.add_argument("--gain", type=float, default=60.0, help="sharpness added by a fully revealed row")
    parser.add_argument("--bound", type=float, default=1.5, help="(b) flag peaks above this many logits")
    parser.add_argument("--repeats", type=int, default=3, help="(a) runs per sampler; (b) matmul timings")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    parser.add_argument("--only", nargs="*", default=None, help="sampler names to run")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child is not None:
        print(json.dumps(measure_b(None if args.child == "-" else args.child, args)))
        return

    out = {"config": {k: v for k, v in vars(args).items() if k != "child"}}
    if args.part in ("a", "both"):
        out["a"] = part_a(args)
    if args.part in ("b", "both"):
        out["b"] = part_b(args)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(out, file, indent=2)


if __name__ == "__main__":
    main()
