"""``unmask bench``: the sampler benchmark on exact targets."""

from __future__ import annotations

import json
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
from ..bench.suite import SUITE
from ..files import is_stdout
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
        int, typer.Option(help="Random seed, a non-negative integer (same seed, same numbers).")
    ] = 0,
    out: Annotated[
        Path,
        typer.Option(
            help="Output folder for bench.json, bench.png, report.md (created if missing). "
            "Existing bench files in it are replaced only with --force."
        ),
    ] = Path("bench-out"),
    process: Annotated[
        str,
        typer.Option(help="Which process to run: masked, uniform or both (names known to both run on both)."),
    ] = "both",
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
) -> None:
    """Run every sampler over a grid of step counts on exact targets and compare with the truth.

    For each cell it reports the NFE budget and the NFE used, TV and KL(target || sampler) from the
    sampler's exact output law, leakage and the path-KL bound; for each sampler and target it fits
    the convergence order and prints it next to the theory's prediction. Writes bench.json, a
    figure (bench.png, needs matplotlib) and report.md to --out; existing ones are replaced only
    with --force.
    """
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
