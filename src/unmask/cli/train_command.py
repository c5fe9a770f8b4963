"""``unmask train``: train a denoiser (or a baseline) on a built-in target, the Python standard
library's source, or text files, with checkpoints that resume, and say what it reached.

Under ``torchrun`` every process takes its share of each batch (gloo on CPUs, NCCL on GPUs);
process 0 writes the files and prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..files import OutputExists
from .errors import check_destination_folder, check_seed, fail, output_message, write_destination

KINDS = ("denoiser", "hollow", "autoregressive")
PRESETS = ("tiny", "small", "gpt2-small", "gpt2-medium")
#: Defaults of the built-in target: a run of about a minute on two cores that comes within 5% of
#: the target's entropy; text defaults: a longer context and more steps.
TARGET_DEFAULTS = {"length": 8, "steps": 600, "batch_size": 64, "learning_rate": 3e-3}
TEXT_DEFAULTS = {"length": 128, "steps": 1000, "batch_size": 32, "learning_rate": 1e-3}
SUMMARY = "summary.json"

DATA_HELP = (
    "What to train on: 'hmm' (the built-in exact target, V = 4, L = 8), 'python-stdlib' (this "
    "interpreter's standard library source, bytes, split by file) or a text FILE (repeat --data for "
    "several files; bytes, or tokens with --tokenizer)."
)


def _defaults(data: list[str]) -> dict[str, Any]:
    return TARGET_DEFAULTS if data == ["hmm"] else TEXT_DEFAULTS


def train_command(
    data: Annotated[list[str] | None, typer.Option(help=DATA_HELP)] = None,
    out: Annotated[
        Path, typer.Option(help="The run's folder: checkpoints, log.jsonl, loss.png, summary.json.")
    ] = Path("train-out"),
    steps: Annotated[
        int | None, typer.Option(help="Optimizer steps (default 600 on hmm, 1000 on text).")
    ] = None,
    model: Annotated[str, typer.Option(help=f"Model size preset: {', '.join(PRESETS)}.")] = "tiny",
    kind: Annotated[
        str,
        typer.Option(
            help="denoiser (masked diffusion), hollow (with leave-one-out output) or autoregressive."
        ),
    ] = "denoiser",
    length: Annotated[
        int | None, typer.Option(help="Sequence length (default 8 on hmm, 128 on text).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Sequences per step over all processes.")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of every draw (weights, batches, masks).")] = 0,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the latest checkpoint in --out.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Start afresh over an earlier run in --out.")
    ] = False,
    device: Annotated[
        str | None, typer.Option(help="cpu, cuda or cuda:N (default: cuda when present).")
    ] = None,
    precision: Annotated[
        str, typer.Option(help="auto (bf16 on a GPU that has it), float32 or bfloat16.")
    ] = "auto",
    eval_every: Annotated[
        int | None, typer.Option(help="Validate every N steps (default: 5 times a run).")
    ] = None,
    tokenizer: Annotated[
        Path | None, typer.Option(help="A tokenizer.json (tokenizers) for text data.")
    ] = None,
    compare_autoregressive: Annotated[
        bool,
        typer.Option(
            "--compare-autoregressive",
            help="Also train an autoregressive model of the same size and steps; report both.",
        ),
    ] = False,
    score_sequences: Annotated[
        int, typer.Option(help="Validation sequences scored at the end (exact NELBO when L <= 16).")
    ] = 1024,
    split: Annotated[
        bool,
        typer.Option(
            "--split/--no-split",
            help="On the built-in target: the exact KL of the model's samples to the target, and the "
            "model/sampler split of a few samplers at 4 steps (unmask bench --checkpoint does all).",
        ),
    ] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Train a model, checkpoint it (safetensors and JSON) and report its validation bits per token;
    on the built-in target, also how close it came to the target's exact entropy."""
    data = data or ["hmm"]
    defaults = _defaults(data)
    steps = defaults["steps"] if steps is None else steps
    length = defaults["length"] if length is None else length
    batch_size = defaults["batch_size"] if batch_size is None else batch_size
    lr = defaults["learning_rate"] if lr is None else lr
    if kind not in KINDS:
        raise fail("--kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    if model not in PRESETS:
        raise fail("--model", f"must be one of {', '.join(PRESETS)}, got {model!r}")
    if compare_autoregressive and kind != "denoiser":
        raise fail(
            "--compare-autoregressive", "compares a denoiser with the baseline: leave --kind at denoiser"
        )
    if resume and force:
        raise fail("--force", "--resume continues the run in --out and --force starts it afresh: pick one")
    if score_sequences < 1:
        raise fail("--score-sequences", f"must be a positive integer, got {score_sequences}")
    check_seed(seed)
    check_destination_folder("--out", out)
    from ..train.data import data_from_spec
    from ..train.models import ModelConfig
    from ..train.trainer import DistributedContext
    from ..train.trainer.config import TrainConfig

    try:
        config = TrainConfig(
            steps=steps, batch_size=batch_size, learning_rate=lr, seed=seed, precision=precision,
            eval_every=eval_every or max(1, steps // 5), checkpoint_every=max(1, steps // 5),
            log_every=max(1, min(50, steps // 20)),
        )  # fmt: skip
    except (TypeError, ValueError) as error:
        raise fail("--steps/--batch-size/--lr/--precision", str(error)) from None
    try:
        ctx = DistributedContext.from_environment(device=device)
    except ValueError as error:
        raise fail("--device", str(error)) from None
    try:
        spec = data[0] if len(data) == 1 else data
        source = data_from_spec(spec, length, tokenizer_path=tokenizer)
    except (TypeError, ValueError) as error:
        raise fail("--data", str(error)) from None
    try:
        model_config = ModelConfig.preset(
            model, vocab_size=source.vocab_size, length=source.length, kind=kind
        )
    except (TypeError, ValueError) as error:
        raise fail("--model", str(error)) from None
    if ctx.is_distributed:
        ctx.init()
    try:
        if compare_autoregressive:
            summary = _compare(source, out, model, config, ctx, force)
        else:
            summary = _train_one(
                model_config, source, out, config, ctx, resume, force, score_sequences, split
            )
    finally:
        if ctx.is_distributed:
            ctx.destroy()
    if not ctx.is_main:
        return
    text = json.dumps(summary, indent=2, sort_keys=True) + "\n"
    write_destination("--out", out / SUMMARY, text, force=True)
    if json_output:
        sys.stdout.write(text)
    else:
        _print_summary(summary)


def _progress(console: Console, label: str):
    return Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal,
    )  # fmt: skip


def _run(model_config, source, out: Path, config, ctx, resume: bool, force: bool, label: str):
    """One training run with a progress bar on standard error (process 0)."""
    from ..train.trainer.loop import train

    console = Console(stderr=True)
    with _progress(console, label) as progress:
        task = progress.add_task("", total=config.steps, loss="")
        shown: dict[str, str] = {"loss": ""}

        def advance(step: int, total: int, record: dict[str, Any]) -> None:
            if "train_loss" in record:
                shown["loss"] = f"loss {record['train_loss']:.4f}"
            if "val_bits_per_token" in record:
                shown["loss"] += f"  val {record['val_bits_per_token']:.4f} bits/token"
            progress.update(task, completed=step, loss=shown["loss"])

        try:
            return train(
                model_config, source, out, config, resume=resume, force=force, ctx=ctx,
                callback=advance if ctx.is_main else None,
            )  # fmt: skip
        except OutputExists as error:
            raise fail("--out", output_message(error) + " (or --resume to continue that run)") from None
        except OSError as error:
            raise fail("--out", output_message(error)) from None
        except ValueError as error:
            raise fail("--resume" if resume else "--data", str(error)) from None


def _train_one(
    model_config, source, out: Path, config, ctx, resume: bool, force: bool, score_sequences: int, split: bool
) -> dict[str, Any]:
    from ..train.data import TargetData
    from ..train.summary import entropy_comparison, score, validation_tokens

    result = _run(model_config, source, out, config, ctx, resume, force, "train")
    summary: dict[str, Any] = {
        "out": str(out),
        "data": source.describe(),
        "model": model_config.to_dict(),
        "train": config.to_dict(),
        "steps": result.step,
        "resumed_from": result.resumed_from,
        "seconds": result.seconds,
        "tokens_per_second": result.tokens_per_second,
        "validation": result.validation,
        "checkpoint": str(result.checkpoint),
        "figure": None if result.figure is None else str(result.figure),
    }
    if not ctx.is_main:
        return summary
    x = validation_tokens(source, score_sequences)
    reference = -source.target.log_prob(x) if isinstance(source, TargetData) else None
    scored = score(result.model, x, seed=config.seed, reference=reference)
    summary["score"] = scored
    if isinstance(source, TargetData):
        summary["entropy"] = entropy_comparison(scored, source.true_entropy_per_token())
        if split and model_config.kind == "denoiser" and result.model.time_agnostic:
            summary["split"] = _split(source.target, result.model)
    return summary


#: Samplers whose error the end of a run on the built-in target splits (``unmask bench
#: --checkpoint`` does every registered one), at :data:`SPLIT_STEPS` steps.
SPLIT_SAMPLERS = ("euler", "tweedie", "k-random", "top-k", "eb", "bisection")
SPLIT_STEPS = (4,)


def _split(target, model) -> dict[str, Any]:
    """The exact KL and TV of the model's own samples to the target (first-hitting with the model)
    and the model/sampler split of :data:`SPLIT_SAMPLERS` (:func:`unmask.train.evaluation.error_split`)."""
    from ..train.evaluation import error_split

    done = error_split(target, model, SPLIT_SAMPLERS, SPLIT_STEPS)
    return {
        "model_kl": done.model_kl,
        "model_tv": done.model_tv,
        "rows": [
            {
                "sampler": row.sampler,
                "steps": row.steps,
                "nfe": row.nfe,
                "total_kl": row.total_kl,
                "total_tv": row.total_tv,
                "sampler_kl": row.sampler_kl,
                "sampler_tv": row.sampler_tv,
                "refusal": row.refusal,
            }
            for row in done.rows
        ],
    }


def _compare(source, out: Path, preset: str, config, ctx, force: bool) -> dict[str, Any]:
    """A diffusion model and the autoregressive baseline of the same size and steps on ``source``
    (:func:`unmask.train.comparison.compare_on_text`); one process only."""
    from ..train.comparison import compare_on_text

    if ctx.is_distributed:
        raise fail("--compare-autoregressive", "runs in one process; launch it without torchrun")
    if not hasattr(source, "decode"):
        raise fail("--compare-autoregressive", "compares on text data: give --data python-stdlib or a FILE")
    try:
        result = compare_on_text(
            source, out, preset=preset, steps=config.steps, batch_size=config.batch_size, seed=config.seed,
            learning_rate=config.learning_rate, eval_every=config.eval_every, device=ctx.device, force=force,
        )  # fmt: skip
    except OSError as error:
        raise fail("--out", output_message(error)) from None
    summary = json.loads(result.json.read_text())
    summary["report"] = str(result.table)
    return summary


def _print_summary(summary: dict[str, Any]) -> None:
    """The end of a run, in a few lines on standard error (the data is on stdout with --json)."""
    lines = []
    validation = summary.get("validation") or {}
    if "steps" in summary:
        lines.append(
            f"trained {summary['steps']} steps in {summary['seconds']:.1f} s "
            f"({summary['tokens_per_second']:.0f} tokens/s); checkpoint {summary['checkpoint']}"
        )
    if "val_bits_per_token" in validation:
        lines.append(f"validation (one draw per sequence): {validation['val_bits_per_token']:.4f} bits/token")
    scored = summary.get("score")
    if scored:
        lines.append(
            f"{scored['method']} over {scored['sequences']} validation sequences: "
            f"{scored['nats_per_token']:.4f} nats/token ({scored['bits_per_token']:.4f} bits) "
            f"+- {scored['stderr']:.4f}"
        )
    entropy = summary.get("entropy")
    if entropy:
        verdict = "within" if entropy["within_tolerance"] else "NOT within"
        lines.append(
            f"target entropy {entropy['entropy_per_token']:.4f} nats/token; NELBO / entropy = "
            f"{entropy['ratio']:.4f} (95% upper {entropy['ratio_upper_95']:.4f}): {verdict} "
            f"{entropy['tolerance']:.0%} of the target's true entropy"
        )
    split = summary.get("split")
    if split:
        lines.append(
            f"the model's own samples (first-hitting) vs the target, exactly: KL {split['model_kl']:.4f}, "
            f"TV {split['model_tv']:.4f}"
        )
        lines.append(
            "sampler at 4 steps: total KL / TV, the sampler's part KL / TV (against the model's law)"
        )
        for row in split["rows"]:
            if row["refusal"]:
                lines.append(f"  {row['sampler']}: no exact law ({row['refusal']})")
            else:
                lines.append(
                    f"  {row['sampler']:<10} NFE {row['nfe']:.2f}: total {row['total_kl']:.4f} / "
                    f"{row['total_tv']:.4f}, sampler {row['sampler_kl']:.4f} / {row['sampler_tv']:.4f}"
                )
    for line in lines:
        print(line, file=sys.stderr)
    if summary.get("report"):
        print(f"diffusion against the autoregressive baseline: {summary['report']}", file=sys.stderr)
    elif summary.get("figure"):
        print(f"loss curve: {summary['figure']}", file=sys.stderr)
