"""``python -m unmask.bench.per_call``: the full study, printed as markdown."""

from __future__ import annotations

import time

import torch

from .adaptive import run_adaptive
from .rows import run_per_call
from .summaries import summary
from .tables import adaptive_markdown, markdown, summary_markdown


def main() -> None:
    """The full study: every row, the summaries, the run time, and the adaptive samplers."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: extra threads only contend
    try:
        begin, cpu = time.perf_counter(), time.process_time()
        measured = run_per_call()
        seconds, cpu_seconds = time.perf_counter() - begin, time.process_time() - cpu
        adaptive = run_adaptive()
    finally:
        torch.set_num_threads(threads)
    summaries = summary(measured)
    print(markdown(measured))
    print()
    print(summary_markdown(summaries))
    print()
    for s in summaries:
        print(f"K={s.calls}: per-target best counts {dict(s.best_counts)}")
    print(f"\n{len(measured)} rows in {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU")
    print()
    print(adaptive_markdown(adaptive))


if __name__ == "__main__":
    main()
