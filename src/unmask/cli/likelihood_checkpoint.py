"""``unmask likelihood --checkpoint``: a trained model's NELBO (a denoiser) or exact
log-likelihood (an autoregressive model) for the sequences of ``--input`` or exact samples of
its target, data-parallel under torchrun (rank 0 writes)."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from .. import __version__
from ..files import is_stdout
from ..train.evaluation.scoring import ScoredRows, score_rows
from ..train.evaluation.sharding import gather_json, rows_of
from ..train.evaluation.trained import TrainedModel
from .checkpoint_options import job_context, joined, open_checkpoint, progress_bar
from .errors import check_destination, fail
from .likelihood_inputs import Options, check_exact_size, finite, read_sequences, write_record


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


def likelihood_checkpoint(checkpoint: Path, device: str | None, options: Options, method_given: bool) -> None:
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
    if write_record(record, options):
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
            key: finite(value) if isinstance(value, float) else value for key, value in summary.items()
        },
        "sequences": [
            {
                "tokens": [int(v) for v in x[b]],
                "nll": finite(merged["nll"][b]),
                "stderr": finite(merged["stderr"][b]),
                "bits_per_token": finite(merged["nll"][b] * bits),
                "exact_nll": None if exact is None else finite(exact[b]),
                "samples": merged["samples"][b],
                "ci95_low": finite(merged["low"][b]),
                "ci95_high": finite(merged["high"][b]),
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
