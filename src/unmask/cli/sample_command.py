"""``unmask sample``: draw sequences from a built-in target with any sampler."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..bench.config import parse_target_spec
from ..bench.specs import parse_sampler_spec
from ..bench.suite import SUITE
from ..files import is_stdout
from ..processes import MaskedProcess, UniformProcess
from ..samplers import registry, sample
from .errors import check_destination, check_seed, fail, write_destination

OUTPUT_HELP = (
    "Write the sequences here, one per line (tokens space-separated); '-' is standard output. "
    "A symlink is followed; a device or FIFO is written in place."
)
FORCE_HELP = "Overwrite an existing --output file (it keeps its permissions)."


def sample_command(
    target: Annotated[
        str, typer.Option(help=f"Target NAME or NAME:length=N. Known: {', '.join(SUITE)}.")
    ] = "mild",
    sampler: Annotated[
        str, typer.Option(help="Sampler NAME or NAME:key=value (e.g. trapezoidal:theta=0.4).")
    ] = "first-hitting",
    process: Annotated[str, typer.Option(help="masked or uniform.")] = "masked",
    steps: Annotated[
        int | None, typer.Option(help="Grid steps (blocks for k-random; none for first-hitting).")
    ] = None,
    num: Annotated[int, typer.Option("--num", "-n", help="Number of sequences.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed (a non-negative integer).")] = 0,
    output: Annotated[Path | None, typer.Option(help=OUTPUT_HELP)] = None,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
) -> None:
    """Draw sequences from a built-in exact target with any sampler and print them (or write them
    to a file, one sequence per line), with the NFE used."""
    if process not in ("masked", "uniform"):
        raise fail("--process", f"must be masked or uniform, got {process!r}")
    try:
        spec = parse_target_spec(target)
    except ValueError as error:
        raise fail("--target", str(error)) from None
    try:
        sampler_spec = parse_sampler_spec(sampler, process)
    except ValueError as error:
        raise fail("--sampler", f"{error} (known: {', '.join(registry.names(process))})") from None
    if num < 1:
        raise fail("--num", f"must be a positive integer, got {num}")
    if steps is not None and steps < 1:
        raise fail("--steps", f"must be a positive integer, got {steps}")
    check_seed(seed)
    if output is not None:
        check_destination("--output", output, force)
    built = SUITE[spec.name].at(process, spec.length)
    chosen = MaskedProcess() if process == "masked" else UniformProcess()
    denoiser = built.denoiser() if process == "masked" else built.uniform_denoiser(chosen)
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]sample"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("", total=None)

        def advance(step: int, total: int | None, z) -> None:
            progress.update(task, completed=step, total=total)

        try:
            result = sample(
                denoiser, sampler_spec.build(), vocab_size=built.vocab_size, length=built.length,
                batch_size=num, steps=steps, process=chosen, generator=seed, callback=advance,
                show_progress=False,
            )  # fmt: skip
        except ValueError as error:
            raise fail("--steps", str(error)) from None
    lines = [" ".join(str(int(token)) for token in row) for row in result.tokens]
    text = "\n".join(lines) + "\n"
    if output is not None and not is_stdout(output):
        write_destination("--output", output, text, force)
        print(f"wrote {num} sequences to {output}", file=sys.stderr)
    else:
        write_destination("--output", "-", text, force)
    print(
        f"NFE: {result.nfe} batched calls; {float(result.nfe_per_row.double().mean()):.1f} per sequence",
        file=sys.stderr,
    )
