"""``unmask likelihood``: score sequences with a likelihood estimator and its error bars.

The built-in target (``--target``) supplies the exact denoiser, the vocabulary and the length, and
the exact ``-log pi(x)`` printed next to each estimate. The sequences are ``--num`` exact samples
from the target, or the lines of ``--input`` (token ids separated by spaces, one sequence per
line, each of the target's length).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .. import __version__
from ..bench.config import bench_process, parse_target_spec
from ..bench.suite import SUITE
from ..files import is_stdout
from ..likelihood import METHODS, UNIFORM_METHODS, nelbo
from ..likelihood.exact import MAX_EXACT_LENGTH
from ..likelihood.masks import VARIANTS
from ..likelihood.uniform import MAX_EXACT_STATES
from .errors import check_destination, check_seed, fail, write_destination


def read_sequences(path: Path, vocab_size: int, length: int) -> torch.Tensor:
    """Token ids ``[B, L]`` from a text file, one sequence per line (blank lines skipped); raises
    ``ValueError`` naming the line of the first problem."""
    try:
        text = path.read_text()
    except OSError as error:
        raise ValueError(f"cannot read {str(path)!r}: {error.strerror or error}") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            tokens = [int(item) for item in line.split()]
        except ValueError:
            raise ValueError(
                f"line {number}: tokens must be integers separated by spaces, got {line.strip()!r}"
            ) from None
        if len(tokens) != length:
            raise ValueError(f"line {number}: {len(tokens)} tokens, but the target's sequences have {length}")
        for token in tokens:
            if token == vocab_size:
                raise ValueError(
                    f"line {number}: token {token} is the mask id; "
                    f"data must be clean tokens 0..{vocab_size - 1}"
                )
            if not 0 <= token < vocab_size:
                raise ValueError(
                    f"line {number}: token {token} is outside the vocabulary 0..{vocab_size - 1}"
                )
        rows.append(tokens)
    if not rows:
        raise ValueError(
            f"{str(path)!r} holds no sequence (one sequence per line, token ids separated by spaces)"
        )
    return torch.tensor(rows, dtype=torch.long)


def check_options(method, process, samples, target_stderr, max_samples, eps, variant, steps, num) -> None:
    """Every option that needs no target, checked before any work (exit 2 naming the option)."""
    if process not in ("masked", "uniform"):
        raise fail("--process", f"must be masked or uniform, got {process!r}")
    known = METHODS if process == "masked" else UNIFORM_METHODS
    if method not in known:
        raise fail("--method", f"must be one of {', '.join(known)} for the {process} process, got {method!r}")
    if samples < 1:
        raise fail("--samples", f"must be a positive integer, got {samples}")
    if target_stderr is not None and not (math.isfinite(target_stderr) and target_stderr > 0):
        raise fail("--target-stderr", f"must be a positive number of nats, got {target_stderr}")
    if max_samples is not None and (max_samples < 1 or target_stderr is None):
        raise fail("--max-samples", "caps a --target-stderr run; give a positive integer and --target-stderr")
    if eps is not None and (process == "uniform" or not 0 < eps < 1):
        raise fail("--eps", f"must lie in (0, 1) and applies to the masked process only, got {eps}")
    if variant not in VARIANTS or (variant != "plain" and method != "time-integral"):
        raise fail("--variant", f"must be one of {', '.join(VARIANTS)}; not plain only with time-integral")
    if steps is not None and steps < 1:
        raise fail("--steps", f"must be a positive integer, got {steps}")
    if method == "discrete" and steps is None:
        raise fail("--steps", "method discrete needs --steps N")
    if steps is not None and not (method == "discrete" or (method == "exact" and process == "uniform")):
        raise fail("--steps", f"applies to method discrete (or exact on the uniform process), not {method}")
    if num < 1:
        raise fail("--num", f"must be a positive integer, got {num}")


def check_exact_size(method: str, process: str, vocab_size: int, length: int) -> None:
    """The exact method enumerates every mask set (masked) or every state (uniform); refuse a
    target above its limit before any work."""
    if method != "exact":
        return
    if process == "masked" and length > MAX_EXACT_LENGTH:
        raise fail(
            "--method",
            f"exact enumerates 2^L mask sets and allows L <= {MAX_EXACT_LENGTH}, but the target has "
            f"L = {length}; use time-free or time-integral (Monte Carlo) instead",
        )
    if process == "uniform" and vocab_size**length > MAX_EXACT_STATES:
        raise fail(
            "--method",
            f"exact enumerates V^L states and allows at most {MAX_EXACT_STATES}, but the target has "
            f"{vocab_size}^{length} = {vocab_size**length}; "
            "use time-integral or discrete (Monte Carlo) instead",
        )


def exact_reference(target, x: torch.Tensor, prompt_length: int) -> torch.Tensor:
    """``-log pi(x)``, or ``-log pi(response | prompt)`` with a prompt (``[B]``)."""
    nll = -target.log_prob(x)
    if prompt_length == 0:
        return nll
    table = target.probs()
    marginal = table.sum(dim=tuple(range(prompt_length, target.length)))
    return nll + marginal[tuple(x[:, :prompt_length].T)].log()


def _finite(value: float) -> float | str:
    return value if math.isfinite(value) else ("inf" if value > 0 else ("-inf" if value < 0 else "nan"))


def results_table(x, result, exact) -> Table:
    unreliable = "" if result.reliable else " (unreliable error bars: see the warning below)"
    table = Table(
        title=f"-log p(x) by {result.method} ({result.process} process), nats per sequence; "
        f"exact = -log π(x) of the target{unreliable}"
    )
    low, high = result.interval()
    columns = (
        "#",
        "tokens",
        "estimate",
        "± stderr",
        "95% interval",
        "exact",
        "bits/token",
        "draws",
        "NFE/seq",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "tokens" else "right")
    for b in range(len(x)):
        tokens = " ".join(str(int(v)) for v in x[b][:16]) + (" …" if x.shape[1] > 16 else "")
        stderr = f"{float(result.stderr[b]):.4f}"
        if result.reached_target is not None and not bool(result.reached_target[b]):
            stderr += "*"
        table.add_row(
            str(b), tokens, f"{float(result.nll[b]):.4f}", stderr,
            f"{float(low[b]):.3f}–{float(high[b]):.3f}",
            "—" if exact is None else f"{float(exact[b]):.4f}", f"{float(result.bits_per_token[b]):.4f}",
            str(int(result.samples[b])), str(int(result.nfe_per_row[b])),
        )  # fmt: skip
    return table


def warnings_of(result, samples: int, max_samples: int | None) -> list[str]:
    """The lines that say where the error bars do not mean what they say: an estimator whose
    interval under-covers (``result.caveat``), and sequences that stopped at the draw cap before
    reaching ``--target-stderr``."""
    lines = []
    if not result.reliable:
        lines.append(f"warning: the {result.method} error bars are unreliable: {result.caveat}")
    if result.unreached:
        cap = max_samples if max_samples is not None else 32 * samples
        where = f"--max-samples {cap}" if max_samples is not None else f"{cap} draws (32 × --samples)"
        lines.append(
            f"warning: {result.unreached} of {len(result.nll)} sequences (stderr marked *) stopped at "
            f"{where} before reaching --target-stderr {result.target_stderr:g}"
        )
    return lines


def likelihood_command(
    target: Annotated[
        str,
        typer.Option(
            help="Built-in target NAME or NAME:length=N (supplies the exact denoiser). "
            f"Known: {', '.join(SUITE)}."
        ),
    ] = "mild",
    input: Annotated[
        Path | None,
        typer.Option(
            "--input", help="Score the sequences of this file (one per line, token ids separated by spaces)."
        ),
    ] = None,
    num: Annotated[
        int, typer.Option("--num", "-n", help="Without --input: score this many exact samples.")
    ] = 8,
    method: Annotated[
        str,
        typer.Option(
            help=f"Estimator: {', '.join(METHODS)} (uniform process: {', '.join(UNIFORM_METHODS)})."
        ),
    ] = "time-free",
    process: Annotated[str, typer.Option(help="masked or uniform.")] = "masked",
    samples: Annotated[
        int, typer.Option(help="Monte-Carlo draws per sequence (first round with --target-stderr).")
    ] = 128,
    target_stderr: Annotated[
        float | None, typer.Option(help="Draw until each sequence's standard error (nats) is at most this.")
    ] = None,
    max_samples: Annotated[
        int | None, typer.Option(help="Cap on draws per sequence with --target-stderr.")
    ] = None,
    eps: Annotated[
        float | None, typer.Option(help="Time-integral clip t ~ U(eps, 1), masked process (default 1e-3).")
    ] = None,
    variant: Annotated[
        str, typer.Option(help="Time-integral variant: plain, antithetic or stratified.")
    ] = "plain",
    steps: Annotated[int | None, typer.Option(help="Grid steps of the discrete bound.")] = None,
    prompt_length: Annotated[
        int, typer.Option(help="Score -log p(response | prompt) with the first K tokens as the prompt.")
    ] = 0,
    seed: Annotated[
        int, typer.Option(help="Random seed, a non-negative integer (same seed, same numbers).")
    ] = 0,
    output: Annotated[
        Path | None,
        typer.Option(
            help="Write the JSON record here (atomically); '-' is standard output (the table then "
            "goes to standard error). A symlink is followed; a device or FIFO is written in place."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing --output file (it keeps its permissions).")
    ] = False,
    json_only: Annotated[bool, typer.Option(help="Print only the JSON record on stdout.")] = False,
) -> None:
    """Estimate -log p(x) of sequences under a built-in target's exact denoiser, with standard
    errors, the number of denoiser calls and bits per token; print a table and write JSON."""
    check_options(method, process, samples, target_stderr, max_samples, eps, variant, steps, num)
    check_seed(seed)
    try:
        spec = parse_target_spec(target)
    except ValueError as error:
        raise fail("--target", str(error)) from None
    built = SUITE[spec.name].at(process, spec.length)
    if not 0 <= prompt_length < built.length:
        raise fail(
            "--prompt-length", f"must lie in 0..{built.length - 1} (the target has length {built.length})"
        )
    if prompt_length and process == "uniform":
        raise fail(
            "--prompt-length",
            "needs the masked process: the built-in uniform denoisers assume every position is noised",
        )
    check_exact_size(method, process, built.vocab_size, built.length)
    if output is not None:
        check_destination("--output", output, force)
    if input is not None:
        try:
            x = read_sequences(input, built.vocab_size, built.length)
        except ValueError as error:
            raise fail("--input", str(error)) from None
    else:
        x = built.sample(num, generator=torch.Generator().manual_seed(seed))

    chosen = bench_process(process)
    denoiser = built.denoiser() if process == "masked" else built.uniform_denoiser(chosen)
    response = torch.arange(built.length) >= prompt_length if prompt_length else None
    to_stdout = output is not None and is_stdout(output)
    console = Console(stderr=True)  # progress never goes into a redirected standard output
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]likelihood"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, disable=json_only, transient=False,
    ) as bar:  # fmt: skip
        task = bar.add_task("", total=None)
        result = nelbo(
            denoiser, x, built.vocab_size, method=method, samples=samples,
            generator=torch.Generator().manual_seed(seed), process=chosen, eps=eps, variant=variant,
            steps=steps, response=response, target_stderr=target_stderr, max_samples=max_samples,
            progress=lambda done, planned: bar.update(task, completed=done, total=planned),
        )  # fmt: skip
    seconds = time.perf_counter() - started
    exact = exact_reference(built, x, prompt_length) if built.vocab_size**built.length <= 2**22 else None
    low, high = result.interval()
    warnings = warnings_of(result, samples, max_samples)
    record = {
        "unmask_version": __version__,
        "target": spec.label,
        "process": process,
        "method": method,
        "variant": variant,
        "eps": eps,
        "steps": steps,
        "samples": samples,
        "target_stderr": target_stderr,
        "max_samples": max_samples,
        "prompt_length": prompt_length,
        "seed": seed,
        "source": str(input) if input is not None else "target samples",
        "nfe": result.nfe,
        "seconds": seconds,
        "sequences": [
            {
                "tokens": [int(v) for v in x[b]],
                "nll": _finite(float(result.nll[b])),
                "stderr": _finite(float(result.stderr[b])),
                "bits_per_token": _finite(float(result.bits_per_token[b])),
                "bits_per_token_stderr": _finite(float(result.bits_per_token_stderr[b])),
                "exact_nll": None if exact is None else _finite(float(exact[b])),
                "samples": int(result.samples[b]),
                "units": None if result.units is None else int(result.units[b]),
                "ci95_low": _finite(float(low[b])),
                "ci95_high": _finite(float(high[b])),
                "reached_target": None if result.reached_target is None else bool(result.reached_target[b]),
                "nfe_per_row": int(result.nfe_per_row[b]),
                "scored_tokens": int(result.tokens[b]),
            }
            for b in range(len(x))
        ],
        "reliable": result.reliable,
        "caveat": result.caveat,
        "unreached_target": result.unreached,
        "warnings": warnings,
    }
    text = json.dumps(record, indent=2) + "\n"
    if output is not None:
        write_destination("--output", output, text, force)
    if json_only:
        if not to_stdout:
            write_destination("--output", "-", text, force)
        for line in warnings:
            print(line, file=sys.stderr)
        return
    out = Console(stderr=to_stdout)
    out.print(results_table(x, result, exact))
    out.print(
        f"NFE: {result.nfe} batched denoiser calls" + (f"; wrote {output}" if output is not None else "")
    )
    for line in warnings:
        print(line, file=sys.stderr)
