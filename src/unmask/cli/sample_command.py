"""``unmask sample``: draw sequences from a built-in target with any sampler, or from a trained
checkpoint (``--checkpoint``), data-parallel under ``torchrun``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import torch
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import __version__
from ..bench.config import parse_target_spec
from ..bench.specs import SamplerSpec, parse_sampler_spec
from ..bench.suite import SUITE
from ..files import is_stdout
from ..processes import MaskedProcess, UniformProcess
from ..samplers import registry, sample
from ..samplers.driver import resolve_sampler
from ..train.evaluation.sampling import BATCH_SIZE, draw_rows
from ..train.evaluation.sharding import gather_json, rows_of
from ..train.evaluation.trained import TrainedModel
from .checkpoint_options import (
    CHECKPOINT_HELP,
    DEVICE_HELP,
    job_context,
    joined,
    open_checkpoint,
    progress_bar,
    refuse_with_checkpoint,
    say,
)
from .errors import check_destination, check_seed, fail, write_destination

OUTPUT_HELP = (
    "Write the sequences here, one per line (tokens space-separated; with --json the JSON record); "
    "'-' is standard output. A symlink is followed; a device or FIFO is written in place."
)
FORCE_HELP = "Overwrite an existing --output file (it keeps its permissions)."
DEFAULT_TARGET = "mild"
DEFAULT_SAMPLER = "first-hitting"


def sample_command(
    target: Annotated[
        str | None,
        typer.Option(
            help=f"Target NAME or NAME:length=N. Known: {', '.join(SUITE)}. Default {DEFAULT_TARGET}."
        ),
    ] = None,
    sampler: Annotated[
        str | None,
        typer.Option(
            help="Sampler NAME or NAME:key=value (e.g. trapezoidal:theta=0.4). Default first-hitting; "
            "an autoregressive checkpoint samples token by token and takes none."
        ),
    ] = None,
    process: Annotated[str | None, typer.Option(help="masked or uniform (default masked).")] = None,
    steps: Annotated[
        int | None, typer.Option(help="Grid steps (blocks for k-random; none for first-hitting).")
    ] = None,
    num: Annotated[int, typer.Option("--num", "-n", help="Number of sequences.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed (a non-negative integer).")] = 0,
    output: Annotated[Path | None, typer.Option(help=OUTPUT_HELP)] = None,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
    checkpoint: Annotated[Path | None, typer.Option(help=CHECKPOINT_HELP)] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", help="Print (or write to --output) a JSON record: rows, NFE, seconds, checkpoint step."
        ),
    ] = False,
    device: Annotated[str | None, typer.Option(help=DEVICE_HELP)] = None,
    ids: Annotated[
        bool, typer.Option("--ids", help="With --checkpoint on text data: print token ids, not decoded text.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option(help="With --checkpoint: rows drawn per model batch (each process).")
    ] = BATCH_SIZE,
) -> None:
    """Draw sequences from a built-in exact target with any sampler, or from a trained model
    (--checkpoint), and print them (or write them to a file, one sequence per line), with the NFE
    used. With --checkpoint under torchrun, the processes share the rows and rank 0 writes them:
    the same rows as one process."""
    if num < 1:
        raise fail("--num", f"must be a positive integer, got {num}")
    if steps is not None and steps < 1:
        raise fail("--steps", f"must be a positive integer, got {steps}")
    check_seed(seed)
    if checkpoint is not None:
        refuse_with_checkpoint({"--target": target is not None, "--process": process is not None})
        _sample_checkpoint(
            checkpoint, sampler, steps, num, seed, output, force, json_output, device, ids, batch_size
        )
        return
    refuse_without_checkpoint(device=device, ids=ids, batch_size=batch_size)
    chosen = (target or DEFAULT_TARGET, sampler or DEFAULT_SAMPLER, process or "masked")
    _sample_target(*chosen, steps, num, seed, output, force, json_output)


def refuse_without_checkpoint(device: str | None, ids: bool, batch_size: int) -> None:
    """A one-line error for an option that needs --checkpoint."""
    for option, given in (
        ("--device", device is not None),
        ("--ids", ids),
        ("--batch-size", batch_size != BATCH_SIZE),
    ):
        if given:
            raise fail(option, "applies with --checkpoint only (built-in targets run on the CPU)")


def _sample_target(target, sampler, process, steps, num, seed, output, force, json_output) -> None:
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
    if output is not None:
        check_destination("--output", output, force)
    built = SUITE[spec.name].at(process, spec.length)
    chosen = MaskedProcess() if process == "masked" else UniformProcess()
    denoiser = built.denoiser() if process == "masked" else built.uniform_denoiser(chosen)
    console = Console(stderr=True)
    started = time.perf_counter()
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
    rows = [[int(token) for token in row] for row in result.tokens]
    record = {
        "unmask_version": __version__,
        "target": spec.label,
        "process": process,
        "sampler": sampler_spec.label,
        "steps": steps,
        "seed": seed,
        "num": num,
        "nfe": result.nfe,
        "nfe_per_sequence": float(result.nfe_per_row.double().mean()),
        "seconds": time.perf_counter() - started,
        "rows": [{"row": index, "tokens": row} for index, row in enumerate(rows)],
    }
    text = json.dumps(record, indent=2) + "\n" if json_output else "".join(_id_line(row) for row in rows)
    _emit(text, output, force, f"wrote {num} sequences to {output}")
    print(f"NFE: {result.nfe} batched calls; {record['nfe_per_sequence']:.1f} per sequence", file=sys.stderr)


def _id_line(tokens: list[int]) -> str:
    return " ".join(str(token) for token in tokens) + "\n"


def _emit(text: str, output: Path | None, force: bool, message: str) -> None:
    """Write ``text`` to ``--output`` (atomically) or standard output."""
    if output is not None and not is_stdout(output):
        write_destination("--output", output, text, force)
        print(message, file=sys.stderr)
    else:
        write_destination("--output", "-", text, force)


def _checkpoint_sampler(trained: TrainedModel, sampler: str | None, steps: int | None) -> SamplerSpec | None:
    """The sampler spec for a denoiser checkpoint (None for an autoregressive one), checked against
    ``--steps`` before any work."""
    if trained.scores_exactly:
        if sampler is not None or steps is not None:
            raise fail(
                "--sampler" if sampler is not None else "--steps",
                "an autoregressive checkpoint samples token by token (one call per position) and takes "
                "no sampler or steps; drop the option",
            )
        return None
    try:
        spec = parse_sampler_spec(sampler or DEFAULT_SAMPLER, "masked")
    except ValueError as error:
        raise fail("--sampler", f"{error} (known: {', '.join(registry.names('masked'))})") from None
    built = spec.build()
    if built.takes_steps and steps is None and built.uses_grid:
        raise fail("--steps", f"sampler {spec.label} needs --steps N (grid steps)")
    try:
        resolve_sampler(built, trained.process, steps, trained.length)
    except ValueError as error:
        raise fail("--steps", str(error)) from None
    return spec


def _sample_checkpoint(
    checkpoint, sampler, steps, num, seed, output, force, json_output, device, ids, batch_size
):
    if batch_size < 1:
        raise fail("--batch-size", f"must be a positive integer, got {batch_size}")
    ctx = job_context(device)
    trained = open_checkpoint(checkpoint, ctx.device)
    spec = _checkpoint_sampler(trained, sampler, steps)
    if output is not None:  # every process checks, so that a refusal stops them all before they join
        check_destination("--output", output, force)
    decoder = trained.text_decoder()
    started = time.perf_counter()
    with joined(ctx):
        rows = rows_of(num, ctx.rank, ctx.world_size)
        with progress_bar("sample", ctx) as bar:
            task = bar.add_task("", total=len(rows))
            drawn = draw_rows(
                trained, torch.arange(rows.start, rows.stop), seed=seed,
                sampler=spec.build() if spec is not None else DEFAULT_SAMPLER, steps=steps,
                batch_size=batch_size, progress=lambda done, total: bar.update(task, completed=done),
            )  # fmt: skip
        mine = {"tokens": drawn.tokens.tolist(), "nfe": drawn.nfe, "nfe_per_row": drawn.nfe_per_row.tolist()}
        parts = gather_json(mine, ctx)
    if not ctx.is_main:
        return
    tokens = [row for part in parts for row in part["tokens"]]
    per_row = [n for part in parts for n in part["nfe_per_row"]]
    record = _checkpoint_record(trained, spec, steps, seed, num, ctx.world_size, parts, per_row, started)
    record["rows"] = [
        {"row": index, "tokens": row, "nfe": per_row[index], **_text_of(decoder.decode, row)}
        for index, row in enumerate(tokens)
    ]
    if decoder.note is not None:
        say(ctx, f"note: {decoder.note}")
    if json_output:
        text = json.dumps(record, indent=2) + "\n"
    elif decoder.decode is not None and not ids:
        text = "".join(f"--- row {index} ---\n{decoder.decode(row)}\n" for index, row in enumerate(tokens))
    else:
        text = "".join(_id_line(row) for row in tokens)
    _emit(text, output, force, f"wrote {num} sequences to {output}")
    say(
        ctx,
        f"NFE: {record['nfe']} batched calls over {ctx.world_size} process(es); "
        f"{record['nfe_per_sequence']:.1f} per sequence; checkpoint step {trained.checkpoint.step}",
    )


def _text_of(decode, row: list[int]) -> dict[str, Any]:
    return {} if decode is None else {"text": decode(row)}


def _checkpoint_record(trained, spec, steps, seed, num, processes, parts, per_row, started) -> dict[str, Any]:
    return {
        "unmask_version": __version__,
        "checkpoint": str(trained.checkpoint.path),
        "checkpoint_step": trained.checkpoint.step,
        "model": trained.config.to_dict(),
        "data": {key: trained.checkpoint.data.get(key) for key in ("kind", "name")},
        "sampler": spec.label if spec is not None else "autoregressive (ancestral)",
        "steps": steps,
        "seed": seed,
        "num": num,
        "processes": processes,
        "nfe": sum(part["nfe"] for part in parts),
        "nfe_per_sequence": sum(per_row) / len(per_row),
        "seconds": time.perf_counter() - started,
    }
