"""``unmask bench``: the sampler benchmark on exact targets, or (``--checkpoint``) the split of a
trained model's error into the model's part and each sampler's part, on the exact target it was
trained on (:func:`unmask.train.evaluation.error_split`)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..bench import BenchConfig, fit_orders, parse_samplers, parse_target_spec, plan, run_bench
from ..bench.comparisons import certified_comparison
from ..bench.config import PROCESSES, QUICK_STEPS, QUICK_TARGETS, default_samplers
from ..bench.figure import write_figure
from ..bench.per_call import run_per_call
from ..bench.report import bench_record, write_json, write_report
from ..bench.specs import SamplerSpec
from ..bench.suite import SUITE
from ..files import is_stdout, write_output
from ..samplers import registry
from ..train.evaluation.error_split import error_split
from ..train.evaluation.isolated import Limits
from ..train.evaluation.split_report import split_markdown, split_record
from .checkpoint_options import (
    CHECKPOINT_HELP,
    DEVICE_HELP,
    job_context,
    open_checkpoint,
    refuse_with_checkpoint,
)
from .errors import (
    check_destination,
    check_destination_folder,
    check_seed,
    fail,
    output_message,
    write_destination,
)

#: The files a full run writes to --out (--json-only writes bench.json only).
OUTPUT_FILES = ("bench.json", "report.md", "bench.png")
#: The files a --checkpoint run writes to --out (--json-only writes split.json only).
SPLIT_FILES = ("split.json", "split.md")
#: Step counts of a --checkpoint run. With a model of full support on the default target
#: (V = 4, L = 8) the laws of the one-stage samplers at 2 and 4 steps take from under a second
#: to about ten seconds each on one core, and each doubling of the steps about doubles the time
#: of the grid samplers; the two-stage samplers, the correctors and remasking at 4 steps need far
#: more memory and stop at the memory limit below.
CHECKPOINT_STEPS = (2, 4)
#: Time limit per exact law of a --checkpoint run, seconds (a backstop: memory decides first).
CHECKPOINT_SECONDS = 120.0
#: Memory limit per exact law of a --checkpoint run, GiB (less when the memory available, shared
#: by the workers, is less): the one-stage samplers at 4 steps on the default target fit.
CHECKPOINT_MEMORY_GIB = 3.0


def split_list(text: str) -> list[str]:
    """Comma- or space-separated items; commas inside ``name:k=v,k=v`` stay with their spec."""
    items: list[str] = []
    for chunk in text.replace(" ", ";").split(";"):
        for part in chunk.split(","):
            part = part.strip()
            if not part:
                continue
            if "=" in part and ":" not in part and items and ":" in items[-1]:
                items[-1] += "," + part  # another key=value of the previous sampler spec
            else:
                items.append(part)
    return items


def parse_steps(text: str) -> tuple[int, ...]:
    """``4,8,16`` or ``4:64`` (powers of two from 4 to 64)."""
    if ":" in text:
        low, _, high = text.partition(":")
        start, stop = int(low), int(high)
        if start < 1 or stop < start:
            raise ValueError(f"range {text!r} must go from a positive count up, like 4:64")
        values, value = [], start
        while value <= stop:
            values.append(value)
            value *= 2
        return tuple(values)
    values = tuple(int(item) for item in split_list(text))
    if not values:
        raise ValueError("give at least one step count, like 4,8,16")
    bad = [v for v in values if v < 1]
    if bad:
        raise ValueError(f"step counts must be positive integers, got {bad[0]}")
    return values


def build_config(targets, samplers, steps, samples, seed, quick, process="both") -> BenchConfig:
    """Resolve the options into a configuration; raises ``typer.Exit(2)`` naming a bad option."""
    if process not in ("masked", "uniform", "both"):
        raise fail("--process", f"must be masked, uniform or both, got {process!r}")
    kinds = PROCESSES if process == "both" else (process,)
    try:
        target_specs = tuple(parse_target_spec(t) for t in split_list(targets)) if targets else None
    except ValueError as error:
        raise fail("--targets", str(error)) from None
    try:
        sampler_specs = parse_samplers(split_list(samplers), kinds) if samplers else None
    except ValueError as error:
        raise fail("--samplers", str(error)) from None
    try:
        step_grid = parse_steps(steps) if steps else None
    except ValueError as error:
        raise fail("--steps", str(error)) from None
    if samples is not None and samples < 1:
        raise fail("--samples", f"must be a positive integer, got {samples}")
    check_seed(seed)
    if target_specs is None:
        target_specs = tuple(parse_target_spec(t) for t in (QUICK_TARGETS if quick else SUITE))
    return BenchConfig(
        targets=target_specs,
        samplers=sampler_specs or default_samplers(kinds),
        steps=step_grid or (QUICK_STEPS if quick else BenchConfig.steps),
        samples=samples or (500 if quick else BenchConfig.samples),
        seed=seed,
        per_call=not (quick or targets or samplers or steps) and "masked" in kinds,
    )


def orders_table(fits) -> Table:
    table = Table(title="Convergence order (−slope of log TV vs log NFE) against the theory")
    for column in ("target", "process", "sampler", "measured", "predicted", "TV at max NFE"):
        table.add_column(column, justify="right" if column in ("measured", "TV at max NFE") else "left")
    for fit in fits:
        measured = "—" if fit.measured is None else f"{fit.measured:.2f}"
        table.add_row(
            fit.target, fit.process, fit.sampler, measured, fit.predicted, f"{fit.tv_at_largest_budget:.2g}"
        )
    return table


def best_table(rows) -> Table:
    table = Table(
        title="Best sampler within each budget of model calls (lowest error; a tie where the "
        "intervals do not separate)"
    )
    for column in ("target", "process", "NFE budget", "best sampler", "metric", "value [95% interval]"):
        table.add_column(column)
    for row in rows:
        value = f"{row['value']:.2g}"
        if row["interval"]:
            value += f" [{row['interval'][0]:.2g}, {row['interval'][1]:.2g}]"
        metric = "pair TV (≤ TV)" if row["metric"] == "pair_tv" else "TV"
        table.add_row(row["target"], row["process"], str(row["budget"]), row["sampler"], metric, value)
    return table


def bench(
    targets: Annotated[
        str | None,
        typer.Option(
            help=f"Targets, comma-separated, each NAME or NAME:length=N. Known: {', '.join(SUITE)}."
        ),
    ] = None,
    samplers: Annotated[
        str | None,
        typer.Option(
            help="Samplers, comma-separated, each NAME or NAME:key=value (e.g. trapezoidal:theta=0.4). "
            "A name known to both processes runs on both. Default: every registered sampler."
        ),
    ] = None,
    steps: Annotated[
        str | None, typer.Option(help="Step grid: 4,8,16 or a doubling range 4:64. Default 2,4,8,16,32,64.")
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(help="Sequences drawn per cell (NFE count, Monte Carlo estimates). Default 2000."),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Random seed, a non-negative integer (same seed, same numbers). Default 0."),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            help="Output folder for bench.json, bench.png, report.md (created if missing). "
            "Existing bench files in it are replaced only with --force."
        ),
    ] = Path("bench-out"),
    process: Annotated[
        str | None,
        typer.Option(
            help="Which process to run: masked, uniform or both (names known to both run on both). "
            "Default both."
        ),
    ] = None,
    quick: Annotated[
        bool, typer.Option(help="A sub-minute smoke run: the mild target, steps 4,8,16, 500 samples.")
    ] = False,
    json_only: Annotated[
        bool, typer.Option(help="Print the JSON record to stdout and write only bench.json.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Overwrite bench.json, report.md and bench.png already in --out (they keep "
            "their permissions).",
        ),
    ] = False,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help=CHECKPOINT_HELP + " Splits its error on the exact target it was trained on into the "
            "model's part and each sampler's part (exact laws); writes split.json and split.md to --out. "
            "Default samplers: every registered masked one; default steps: "
            f"{','.join(map(str, CHECKPOINT_STEPS))}."
        ),
    ] = None,
    device: Annotated[str | None, typer.Option(help=DEVICE_HELP)] = None,
    max_seconds: Annotated[
        float | None,
        typer.Option(
            help=f"With --checkpoint: time limit per exact law, seconds (default {CHECKPOINT_SECONDS:g})."
        ),
    ] = None,
    max_memory: Annotated[
        float | None,
        typer.Option(
            help="With --checkpoint: memory limit per exact law, GiB (default "
            f"{CHECKPOINT_MEMORY_GIB:g}, or the available memory shared by twice the workers, the smaller)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="With --checkpoint: exact laws computed at once (default: 2, or 1 on one core)."),
    ] = None,
) -> None:
    """Run every sampler over a grid of step counts on exact targets and compare with the truth.

    For each cell it reports the NFE budget and the NFE used, TV and KL(target || sampler) from the
    sampler's exact output law, leakage and the path-KL bound; for each sampler and target it fits
    the convergence order and prints it next to the theory's prediction. Writes bench.json, a
    figure (bench.png, needs matplotlib) and report.md to --out; existing ones are replaced only
    with --force.

    With --checkpoint: the exact target the checkpoint was trained on (its data description),
    the model's own law and each sampler's law driven by the model; TV and KL of the total error,
    the model's part and the sampler's part, with the NFE; a table on stdout, split.json and
    split.md in --out. A sampler whose exact law is refused or passes the time or memory limit is
    listed with the reason.
    """
    if checkpoint is not None:
        refuse_with_checkpoint(
            {"--targets": targets is not None, "--samples": samples is not None, "--seed": seed is not None,
             "--quick": quick, "--process": process not in (None, "masked")}
        )  # fmt: skip
        _bench_checkpoint(
            checkpoint, samplers, steps, out, json_only, force, device, max_seconds, max_memory, workers
        )
        return
    only_with_checkpoint = {
        "--device": device, "--max-seconds": max_seconds, "--max-memory": max_memory, "--workers": workers,
    }  # fmt: skip
    for option, given in only_with_checkpoint.items():
        if given is not None:
            raise fail(option, "applies with --checkpoint only")
    seed = 0 if seed is None else seed
    process = "both" if process is None else process
    config = build_config(targets, samplers, steps, samples, seed, quick, process)
    if is_stdout(out):
        raise fail("--out", "names a folder for bench.json, report.md and bench.png; --json-only prints")
    check_destination_folder("--out", out)
    names = ("bench.json",) if json_only else OUTPUT_FILES
    for name in names:
        check_destination("--out", out / name, force)
    # The exact laws work on many small tensors; intra-op threads only fight over the cores there.
    torch.set_num_threads(1)
    console = Console(stderr=True)  # progress never goes into a redirected standard output
    cells_to_run = plan(config)
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]bench"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=console, disable=json_only, transient=False,
    ) as progress:  # fmt: skip
        task = progress.add_task("", total=len(cells_to_run))
        try:
            cells = run_bench(config, lambda label: progress.update(task, advance=1, description=label))
        except ValueError as error:
            raise fail("--targets", str(error)) from None
        certified = per_call = None
        if any(spec.name == "certified" for spec in config.samplers):
            progress.update(task, description="certified sampling against EB")
            certified = certified_comparison(config)
        if config.per_call:
            progress.update(task, description="accuracy per call on random chains")
            per_call = run_per_call()
    fits = fit_orders(cells)
    record = bench_record(config, cells, fits, time.perf_counter() - started, certified, per_call)
    try:
        write_json(out / "bench.json", record, force=force)
        if json_only:
            write_destination("--out", "-", json.dumps(record, indent=2) + "\n", force)
            return
        figure = "bench.png" if write_figure(out / "bench.png", cells, force=force) else None
        write_report(out / "report.md", record, figure, force=force)
    except OSError as error:
        raise fail("--out", output_message(error)) from None
    tables = Console()
    tables.print(orders_table(fits))
    tables.print(best_table(record["best_per_budget"]))
    written = ["bench.json", "report.md"] + ([figure] if figure else [])
    tables.print(f"Wrote {', '.join(str(out / name) for name in written)}")
    if figure is None:
        tables.print("No figure: install matplotlib (pip install 'unmask[plot]').")


def _available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def checkpoint_limits(max_seconds: float | None, max_memory: float | None, workers: int | None) -> Limits:
    """The per-law limits of a --checkpoint run, from the options or their defaults."""
    if max_seconds is not None and not (max_seconds > 0 and max_seconds < float("inf")):
        raise fail("--max-seconds", f"must be a positive number of seconds, got {max_seconds}")
    if max_memory is not None and not (max_memory > 0 and max_memory < float("inf")):
        raise fail("--max-memory", f"must be a positive number of GiB, got {max_memory}")
    if workers is not None and workers < 1:
        raise fail("--workers", f"must be a positive integer, got {workers}")
    if max_memory is None:
        available = _available_memory()
        memory = int(CHECKPOINT_MEMORY_GIB * 2**30)
        chosen_workers = workers or min(2, os.cpu_count() or 1)
        memory_bytes = memory if available is None else min(memory, available // (2 * chosen_workers))
    else:
        memory_bytes = int(max_memory * 2**30)
    return Limits(
        seconds=CHECKPOINT_SECONDS if max_seconds is None else max_seconds,
        memory_bytes=max(memory_bytes, 1),
        workers=workers or min(2, os.cpu_count() or 1),
    )


def split_table(record: dict) -> Table:
    """The split's computed rows as a console table (:func:`refusal_lines` lists the others)."""
    table = Table(
        title=f"Model and sampler error, checkpoint step {record['checkpoint_step']} "
        f"(model part: KL {_short(record['model_kl'])}, TV {_short(record['model_tv'])}); "
        "total TV ≤ model TV + sampler TV"
    )
    for column in ("sampler", "steps", "NFE", "total TV", "sampler TV", "total KL", "sampler KL", "s"):
        table.add_column(column, justify="left" if column == "sampler" else "right")
    for row in record["rows"]:
        if row["refusal"] is None:
            table.add_row(
                row["sampler"], "—" if row["steps"] is None else str(row["steps"]), f"{row['nfe']:.2f}",
                _short(row["total_tv"]), _short(row["sampler_tv"]), _short(row["total_kl"]),
                _short(row["sampler_kl"]), f"{row['seconds']:.1f}",
            )  # fmt: skip
    return table


def refusal_lines(record: dict, width: int = 100) -> list[str]:
    """One line per sampler and step count whose exact law was not computed, with the start of the
    reason (at most ``width`` characters of it; split.md has it whole)."""
    lines = []
    for row in record["rows"]:
        if row["refusal"] is not None:
            steps = "" if row["steps"] is None else f" at {row['steps']} steps"
            reason = row["refusal"] if len(row["refusal"]) <= width else row["refusal"][: width - 1] + "…"
            lines.append(f"no exact law for {row['sampler']}{steps}: {reason}")
    return lines


def _short(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:.4g}"


def _checkpoint_samplers(text: str | None) -> tuple[SamplerSpec, ...]:
    if text is None:
        return tuple(SamplerSpec(name, "masked") for name in registry.names("masked"))
    try:
        return parse_samplers(split_list(text), ("masked",))
    except ValueError as error:
        raise fail("--samplers", str(error)) from None


def _bench_checkpoint(
    checkpoint, samplers, steps, out, json_only, force, device, max_seconds, max_memory, workers
):
    sampler_specs = _checkpoint_samplers(samplers)
    try:
        step_grid = parse_steps(steps) if steps else CHECKPOINT_STEPS
    except ValueError as error:
        raise fail("--steps", str(error)) from None
    limits = checkpoint_limits(max_seconds, max_memory, workers)
    if is_stdout(out):
        raise fail("--out", "names a folder for split.json and split.md; --json-only prints")
    check_destination_folder("--out", out)
    names = SPLIT_FILES[:1] if json_only else SPLIT_FILES
    for name in names:
        check_destination("--out", out / name, force)
    ctx = job_context(device)
    if ctx.is_distributed:
        raise fail("--checkpoint", "bench --checkpoint runs as one process; launch it without torchrun")
    trained = open_checkpoint(checkpoint, ctx.device)
    if trained.scores_exactly:
        raise fail(
            "--checkpoint",
            "holds an autoregressive model, which has no samplers to compare: its samples follow its "
            "own law exactly; score it with unmask likelihood --checkpoint",
        )
    try:
        target = trained.exact_target()
    except ValueError as error:
        raise fail("--checkpoint", str(error)) from None
    if target is None:
        kind = trained.checkpoint.data.get("kind")
        raise fail(
            "--checkpoint",
            f"was trained on text ({kind!r} data), which has no exact target to compare laws with; "
            "the split needs a checkpoint trained on an exact target (data 'hmm'); sample it with "
            "unmask sample --checkpoint or score it with unmask likelihood --checkpoint --input FILE",
        )
    labels = [spec.label for spec in sampler_specs]
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]split"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=console, disable=json_only, transient=False,
    ) as progress:  # fmt: skip
        task = progress.add_task("the model's own law", total=None)
        try:
            split = error_split(
                target, trained.model, sampler_specs, step_grid, process=trained.process, limits=limits,
                progress=lambda done, total, label: progress.update(task, completed=done, total=total,
                                                                     description=label),
            )  # fmt: skip
        except ValueError as error:
            raise fail("--checkpoint", str(error)) from None
    record = split_record(trained, target, split, labels, step_grid, limits)
    try:
        write_json(out / "split.json", record, force=force)
        if json_only:
            write_destination("--out", "-", json.dumps(record, indent=2) + "\n", force)
            return
        write_output_text(out / "split.md", split_markdown(record), force)
    except OSError as error:
        raise fail("--out", output_message(error)) from None
    tables = Console()
    tables.print(split_table(record))
    for line in refusal_lines(record):
        tables.print(line, overflow="fold", highlight=False)
    tables.print(f"Wrote {out / 'split.json'}, {out / 'split.md'}")


def write_output_text(path: Path, text: str, force: bool) -> None:
    """``text`` to ``path`` by the file rules of :func:`unmask.files.write_output`."""
    write_output(path, text, force=force)
