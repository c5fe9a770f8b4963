"""How fast the exact-law dynamic program is, against an earlier commit of unmask, in one run.

The exact output law of a sampler (``unmask.exact.output_law``) enumerates every state the sampler
can reach. This script times it on a ``V = 2``, ``L = 8`` Markov chain (6,561 partial states) for
Euler at 32 steps and the theta-trapezoid at 16 steps (the cases the dynamic program is slowest
on), for the working tree and for an earlier commit exported with ``git archive`` into a temporary
folder. Each case runs in a fresh process per repeat, the two versions alternating, with one
intra-op thread; a process computes the law twice and times the second (the first pays the
process' one-time costs); the best time of each is kept (the least disturbed), and the total
variation distance of both laws to the target is printed to show that they compute the same law.

Usage::

    python benchmarks/exact_law_speed.py                  # against e715a0d, before the rewrite
    python benchmarks/exact_law_speed.py --baseline HEAD~1 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The last commit before the dynamic program was rewritten over state codes.
DEFAULT_BASELINE = "e715a0d"

CASES = (("euler", 32), ("trapezoidal", 16))

CHILD = r"""
import json, sys, time, torch
torch.set_num_threads(1)
import unmask
name, steps = sys.argv[1], int(sys.argv[2])
target = unmask.targets.MarkovChain.random(vocab_size=2, length=8, concentration=0.5, seed=0)
unmask.exact.output_law(target, name, steps)
start = time.perf_counter()
law = unmask.exact.output_law(target, name, steps)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "tv": unmask.exact.tv(law, target.probs())}))
"""


def export(revision: str, folder: Path) -> Path:
    """The ``src`` folder of ``revision``, exported into ``folder``."""
    archive = folder / "baseline.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", revision, "src"], cwd=ROOT, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "baseline", filter="data")
    return folder / "baseline" / "src"


def run(source: Path, name: str, steps: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(source), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, name, str(steps)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision to compare against")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each case and version")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        baseline = export(args.baseline, Path(folder))
        current = ROOT / "src"
        print(f"baseline {args.baseline} against the working tree; best of {args.repeats}, one thread")
        header = ("case", "baseline s", "now s", "speed-up", "TV baseline", "TV now")
        print("{:<18} {:>11} {:>8} {:>9} {:>13} {:>13}".format(*header))
        for name, steps in CASES:
            old, new = [], []
            for _ in range(args.repeats):
                old.append(run(baseline, name, steps))
                new.append(run(current, name, steps))
            slow = min(r["seconds"] for r in old)
            fast = min(r["seconds"] for r in new)
            print(
                f"{name + ' N=' + str(steps):<18} {slow:>11.2f} {fast:>8.2f} {slow / fast:>8.1f}x "
                f"{old[0]['tv']:>13.6e} {new[0]['tv']:>13.6e}"
            )


if __name__ == "__main__":
    main()
