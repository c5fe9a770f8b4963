"""``unmask likelihood``: score sequences with a likelihood estimator and its error bars.

The built-in target (``--target``) supplies the exact denoiser, the vocabulary and the length, and
the exact ``-log pi(x)`` printed next to each estimate. The sequences are ``--num`` exact samples
from the target, or the lines of ``--input`` (token ids separated by spaces, one sequence per
line, each of the target's length).

With ``--checkpoint`` a trained model is scored instead (:func:`_likelihood_checkpoint`): its NELBO
(a denoiser) or its exact log-likelihood (an autoregressive model), data-parallel under torchrun.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

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
from ..train.evaluation.scoring import ScoredRows, score_rows
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
)
from .errors import check_destination, check_seed, fail, write_destination

DEFAULT_TARGET = "mild"
DEFAULT_METHOD = "time-free"


def read_sequences(path: Path, vocab_size: int, length: int, what: str = "the target's") -> torch.Tensor:
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
            raise ValueError(f"line {number}: {len(tokens)} tokens, but {what} sequences have {length}")
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
        str | None,
        typer.Option(
            help="Built-in target NAME or NAME:length=N (supplies the exact denoiser). "
            f"Known: {', '.join(SUITE)}. Default {DEFAULT_TARGET}."
        ),
    ] = None,
    input: Annotated[
        Path | None,
        typer.Option(
            "--input", help="Score the sequences of this file (one per line, token ids separated by spaces)."
        ),
    ] = None,
    num: Annotated[
        int,
        typer.Option(
            "--num", "-n", help="Without --input: score this many exact samples of the (checkpoint's) target."
        ),
    ] = 8,
    method: Annotated[
        str | None,
        typer.Option(
            help=f"Estimator: {', '.join(METHODS)} (uniform process: {', '.join(UNIFORM_METHODS)}). "
            f"Default {DEFAULT_METHOD}."
        ),
    ] = None,
    process: Annotated[str | None, typer.Option(help="masked or uniform (default masked).")] = None,
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
    json_only: Annotated[
        bool, typer.Option("--json-only", "--json", help="Print only the JSON record on stdout.")
    ] = False,
    checkpoint: Annotated[Path | None, typer.Option(help=CHECKPOINT_HELP)] = None,
    device: Annotated[str | None, typer.Option(help=DEVICE_HELP)] = None,
) -> None:
    """Estimate -log p(x) of sequences under a built-in target's exact denoiser, or under a trained
    model (--checkpoint: its NELBO, or its exact log-likelihood if autoregressive), with standard
    errors, the number of denoiser calls and bits per token; print a table and write JSON. With
    --checkpoint under torchrun, the processes share the sequences and rank 0 writes the record:
    the same numbers as one process."""
    options = Options(
        method=method or DEFAULT_METHOD, process=process or "masked", samples=samples,
        target_stderr=target_stderr, max_samples=max_samples, eps=eps, variant=variant, steps=steps,
        num=num, seed=seed, input=input, output=output, force=force, json_only=json_only,
    )  # fmt: skip
    check_options(
        options.method, options.process, samples, target_stderr, max_samples, eps, variant, steps, num
    )
    check_seed(seed)
    if checkpoint is not None:
        refuse_with_checkpoint(
            {"--target": target is not None, "--process": process not in (None, "masked"),
             "--prompt-length": prompt_length != 0}
        )  # fmt: skip
        _likelihood_checkpoint(checkpoint, device, options, method_given=method is not None)
        return
    if device is not None:
        raise fail("--device", "applies with --checkpoint only (built-in targets run on the CPU)")
    _likelihood_target(target or DEFAULT_TARGET, prompt_length, options)


@dataclass(frozen=True)
class Options:
    """The options both paths of the command read (checked by :func:`check_options`)."""

    method: str
    process: str
    samples: int
    target_stderr: float | None
    max_samples: int | None
    eps: float | None
    variant: str
    steps: int | None
    num: int
    seed: int
    input: Path | None
    output: Path | None
    force: bool
    json_only: bool

    def estimator(self) -> dict[str, Any]:
        """The keyword options of :func:`unmask.likelihood.nelbo` beyond method and samples."""
        return {
            "eps": self.eps,
            "variant": self.variant,
            "steps": self.steps,
            "target_stderr": self.target_stderr,
            "max_samples": self.max_samples,
        }


def _write_record(record: dict[str, Any], options: Options) -> bool:
    """Write the JSON record to --output and, with --json-only, print it; True when done (nothing
    more to print)."""
    text = json.dumps(record, indent=2) + "\n"
    if options.output is not None:
        write_destination("--output", options.output, text, options.force)
    if options.json_only:
        if not (options.output is not None and is_stdout(options.output)):
            write_destination("--output", "-", text, options.force)
        for line in record["warnings"]:
            print(line, file=sys.stderr)
        return True
    return False


def _likelihood_target(target: str, prompt_length: int, options: Options) -> None:
    method, process, samples = options.method, options.process, options.samples
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
    if options.output is not None:
        check_destination("--output", options.output, options.force)
    if options.input is not None:
        try:
            x = read_sequences(options.input, built.vocab_size, built.length)
        except ValueError as error:
            raise fail("--input", str(error)) from None
    else:
        x = built.sample(options.num, generator=torch.Generator().manual_seed(options.seed))

    chosen = bench_process(process)
    denoiser = built.denoiser() if process == "masked" else built.uniform_denoiser(chosen)
    response = torch.arange(built.length) >= prompt_length if prompt_length else None
    to_stdout = options.output is not None and is_stdout(options.output)
    console = Console(stderr=True)  # progress never goes into a redirected standard output
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]likelihood"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, disable=options.json_only, transient=False,
    ) as bar:  # fmt: skip
        task = bar.add_task("", total=None)
        result = nelbo(
            denoiser, x, built.vocab_size, method=method, samples=samples,
            generator=torch.Generator().manual_seed(options.seed), process=chosen, response=response,
            progress=lambda done, planned: bar.update(task, completed=done, total=planned),
            **options.estimator(),
        )  # fmt: skip
    seconds = time.perf_counter() - started
    exact = exact_reference(built, x, prompt_length) if built.vocab_size**built.length <= 2**22 else None
    low, high = result.interval()
    warnings = warnings_of(result, samples, options.max_samples)
    record = {
        "unmask_version": __version__,
        "target": spec.label,
        "process": process,
        "method": method,
        "variant": options.variant,
        "eps": options.eps,
        "steps": options.steps,
        "samples": samples,
        "target_stderr": options.target_stderr,
        "max_samples": options.max_samples,
        "prompt_length": prompt_length,
        "seed": options.seed,
        "source": str(options.input) if options.input is not None else "target samples",
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
    if _write_record(record, options):
        return
    out = Console(stderr=to_stdout)
    out.print(results_table(x, result, exact))
    out.print(
        f"NFE: {result.nfe} batched denoiser calls"
        + (f"; wrote {options.output}" if options.output is not None else "")
    )
    for line in warnings:
        print(line, file=sys.stderr)


def _checkpoint_sequences(trained: TrainedModel, options: Options) -> tuple[torch.Tensor, Any, str]:
    """The sequences to score ``[N, L]``, the exact target (or None) and where the sequences came
    from; one-line errors for a bad ``--input`` or ``--num`` without an exact target."""
    try:
        target = trained.exact_target()
    except ValueError as error:
        if options.input is None:
            raise fail("--checkpoint", f"{error} (or give --input FILE to score)") from None
        target = None
    if options.input is not None:
        try:
            x = read_sequences(options.input, trained.vocab_size, trained.length, "the model's")
        except ValueError as error:
            raise fail("--input", str(error)) from None
        return x, target, str(options.input)
    if target is None:
        kind = trained.checkpoint.data.get("kind")
        raise fail(
            "--num",
            f"the checkpoint was trained on {kind!r} data, which has no exact law to draw sequences "
            "from; give --input FILE (token ids, one sequence per line)",
        )
    generator = torch.Generator().manual_seed(options.seed)
    return target.sample(options.num, generator=generator).cpu().long(), target, "exact target samples"


def _likelihood_checkpoint(
    checkpoint: Path, device: str | None, options: Options, method_given: bool
) -> None:
    ctx = job_context(device)
    trained = open_checkpoint(checkpoint, ctx.device)
    if trained.scores_exactly and method_given:
        raise fail(
            "--method", "an autoregressive checkpoint is scored exactly by its own log_prob; drop --method"
        )
    check_exact_size(options.method, "masked", trained.vocab_size, trained.length)
    x, target, source = _checkpoint_sequences(trained, options)
    if options.output is not None:  # every process checks, so that a refusal stops them all
        check_destination("--output", options.output, options.force)
    started = time.perf_counter()
    with joined(ctx):
        rows = rows_of(len(x), ctx.rank, ctx.world_size)
        with progress_bar("likelihood", ctx, enabled=not options.json_only) as bar:
            task = bar.add_task("", total=len(rows))
            try:
                mine = torch.arange(rows.start, rows.stop)
                scored = score_rows(
                    trained, x[rows.start : rows.stop], mine, seed=options.seed,
                    method=options.method, samples=options.samples,
                    progress=lambda done, total: bar.update(task, completed=done), **options.estimator(),
                )  # fmt: skip
            except ValueError as error:  # an option the estimator refuses for this model
                raise fail("--method", str(error)) from None
        parts = gather_json(_scored_json(scored), ctx)
    if not ctx.is_main:
        return
    merged = {key: [value for part in parts for value in part[key]] for key in parts[0] if key != "scalars"}
    exact = None if target is None else (-target.log_prob(x)).tolist()
    record = _checkpoint_record(
        trained, options, source, x, merged, exact, parts, time.perf_counter() - started
    )
    record["processes"] = ctx.world_size
    if _write_record(record, options):
        return
    out = Console(stderr=options.output is not None and is_stdout(options.output))
    out.print(_checkpoint_table(record))
    out.print(_summary_line(record))
    for line in record["warnings"]:
        print(line, file=sys.stderr)


def _scored_json(scored: ScoredRows) -> dict[str, Any]:
    """One process's scores as JSON lists (and the scalars every process shares)."""
    return {
        "nll": scored.nll.tolist(),
        "stderr": scored.stderr.tolist(),
        "low": scored.low.tolist(),
        "high": scored.high.tolist(),
        "samples": scored.samples.tolist(),
        "nfe_per_row": scored.nfe_per_row.tolist(),
        "reached": [] if scored.reached_target is None else scored.reached_target.tolist(),
        "scalars": [{"nfe": scored.nfe, "method": scored.method, "caveat": scored.caveat}],
    }


def _checkpoint_record(trained, options, source, x, merged, exact, parts, seconds) -> dict[str, Any]:
    length, count = trained.length, len(x)
    scalars = [part["scalars"][0] for part in parts]
    caveat = next((item["caveat"] for item in scalars if item["caveat"] is not None), None)
    nll = torch.tensor(merged["nll"], dtype=torch.float64)
    stderr = torch.tensor(merged["stderr"], dtype=torch.float64)
    mean, mean_stderr = float(nll.mean()), float(stderr.pow(2).sum().sqrt() / count)
    per_token = 1.0 / length
    bits = per_token / math.log(2)
    reached = merged["reached"]
    unreached = sum(1 for value in reached if not value)
    warnings = []
    if caveat is not None:
        warnings.append(f"warning: the {options.method} error bars are unreliable: {caveat}")
    if unreached:
        cap = options.max_samples if options.max_samples is not None else 32 * options.samples
        warnings.append(
            f"warning: {unreached} of {count} sequences stopped at {cap} draws before reaching "
            f"--target-stderr {options.target_stderr:g}"
        )
    summary = {
        "sequences": count,
        "mean_nll": mean,
        "mean_nll_stderr": mean_stderr,
        "nats_per_token": mean * per_token,
        "bits_per_token": mean * bits,
        "bits_per_token_stderr": mean_stderr * bits,
        "exact_mean_nll": None if exact is None else sum(exact) / count,
        "exact_bits_per_token": None if exact is None else sum(exact) / count * bits,
        "entropy_bits_per_token": _entropy_bits(trained),
    }
    return {
        "unmask_version": __version__,
        "checkpoint": str(trained.checkpoint.path),
        "checkpoint_step": trained.checkpoint.step,
        "model": trained.config.to_dict(),
        "method": scalars[0]["method"],
        "variant": options.variant,
        "eps": options.eps,
        "steps": options.steps,
        "samples": options.samples,
        "target_stderr": options.target_stderr,
        "max_samples": options.max_samples,
        "seed": options.seed,
        "source": source,
        "nfe": sum(item["nfe"] for item in scalars),
        "seconds": seconds,
        "summary": {
            key: _finite(value) if isinstance(value, float) else value for key, value in summary.items()
        },
        "sequences": [
            {
                "tokens": [int(v) for v in x[b]],
                "nll": _finite(merged["nll"][b]),
                "stderr": _finite(merged["stderr"][b]),
                "bits_per_token": _finite(merged["nll"][b] * bits),
                "exact_nll": None if exact is None else _finite(exact[b]),
                "samples": merged["samples"][b],
                "ci95_low": _finite(merged["low"][b]),
                "ci95_high": _finite(merged["high"][b]),
                "reached_target": reached[b] if reached else None,
                "nfe_per_row": merged["nfe_per_row"][b],
                "scored_tokens": length,
            }
            for b in range(count)
        ],
        "reliable": caveat is None,
        "caveat": caveat,
        "unreached_target": unreached,
        "warnings": warnings,
    }


def _entropy_bits(trained: TrainedModel) -> float | None:
    """The data's exact entropy in bits per token when its description has it (the floor of any
    model's expected bits per token)."""
    value = trained.checkpoint.data.get("entropy_per_token")
    return value / math.log(2) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _checkpoint_table(record: dict[str, Any]) -> Table:
    known = record["sequences"] and record["sequences"][0]["exact_nll"] is not None
    table = Table(
        title=f"-log p(x) by {record['method']}, nats per sequence; "
        f"checkpoint step {record['checkpoint_step']}"
        + ("; exact = -log π(x) of the target" if known else "")
    )
    for column in ("#", "tokens", "estimate", "± stderr", "95% interval", "exact", "bits/token", "NFE/seq"):
        table.add_column(column, justify="left" if column == "tokens" else "right")
    for index, row in enumerate(record["sequences"]):
        tokens = row["tokens"]
        shown = " ".join(str(v) for v in tokens[:16]) + (" …" if len(tokens) > 16 else "")
        table.add_row(
            str(index), shown, _number(row["nll"]), _number(row["stderr"]),
            f"{_number(row['ci95_low'], 3)}–{_number(row['ci95_high'], 3)}",
            "—" if row["exact_nll"] is None else _number(row["exact_nll"]), _number(row["bits_per_token"]),
            str(row["nfe_per_row"]),
        )  # fmt: skip
    return table


def _number(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float | int) else str(value)


def _summary_line(record: dict[str, Any]) -> str:
    summary = record["summary"]
    text = (
        f"mean over {summary['sequences']} sequences: {_number(summary['mean_nll'])} ± "
        f"{_number(summary['mean_nll_stderr'])} nats per sequence, {_number(summary['nats_per_token'])} nats "
        f"= {_number(summary['bits_per_token'])} ± {_number(summary['bits_per_token_stderr'])} bits per token"
    )
    if summary["exact_bits_per_token"] is not None:
        text += f"; exact -log π(x): {_number(summary['exact_bits_per_token'])} bits per token"
    if summary["entropy_bits_per_token"] is not None:
        text += f" (entropy of the data: {_number(summary['entropy_bits_per_token'])})"
    return text + f"\nNFE: {record['nfe']} batched model calls over {record['processes']} process(es)"
