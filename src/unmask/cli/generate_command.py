"""``unmask generate``: text continuations of prompts from a Hugging Face model (``unmask[hf]``),
data-parallel under ``torchrun``.

Every option is checked before the model is read. Under ``torchrun`` every process loads the
model, generates its contiguous block of the prompts (:func:`unmask.train.evaluation.sharding.rows_of`)
with their global row ids, and rank 0 gathers the records and writes them: the output equals one
process's output.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from ..files import is_stdout
from ..samplers import registry
from ..train.evaluation.sharding import gather_json, rows_of
from ..train.trainer import DistributedContext
from .checkpoint_options import job_context, joined, progress_bar
from .errors import check_destination, check_seed, fail, write_destination

DTYPES = ("bfloat16", "float16", "float32")
DEFAULT_SAMPLER = "low-confidence-remasking"


def read_prompts(prompt: list[str] | None, prompts_file: Path | None) -> list[str]:
    """The prompts of ``--prompt`` then ``--prompts-file`` (one per non-empty line)."""
    prompts = list(prompt or [])
    if prompts_file is not None:
        try:
            lines = prompts_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise fail("--prompts-file", f"cannot read {str(prompts_file)!r}: {error}") from None
        prompts.extend(line for line in lines if line.strip())
    if not prompts:
        raise fail("--prompt", "give at least one --prompt TEXT or a --prompts-file with one prompt per line")
    return prompts


def check_options(
    max_new_tokens: int, steps: int | None, block_length: int | None, guidance: float, sampler: str,
    dtype: str | None, batch_size: int | None,
) -> None:  # fmt: skip
    """One-line errors (exit 2) for bad numeric and named options, before any work."""
    for option, value in (("--max-new-tokens", max_new_tokens), ("--steps", steps),
                          ("--block-length", block_length), ("--batch-size", batch_size)):  # fmt: skip
        if value is not None and value < 1:
            raise fail(option, f"must be a positive integer, got {value}")
    if not math.isfinite(guidance) or guidance < 0:
        raise fail("--guidance", f"must be a finite number >= 0 (0: no guidance), got {guidance}")
    if sampler not in registry.names("masked"):
        raise fail("--sampler", f"unknown sampler {sampler!r}; known: {', '.join(registry.names('masked'))}")
    if registry.get(sampler, "masked").takes_steps is False and steps is not None:
        raise fail("--steps", f"{sampler} sets its own number of calls; drop --steps or pick another sampler")
    if dtype is not None and dtype not in DTYPES:
        raise fail("--dtype", f"must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if steps is not None:
        blocks = math.ceil(max_new_tokens / (block_length or max_new_tokens))
        if steps < blocks:
            raise fail("--steps", f"must be at least the number of blocks ({blocks}), got {steps}")


def run_generation(
    model: str, prompts: list[str], ctx: DistributedContext, *, seed: int = 0, batch_size: int | None = None,
    dtype: str | None = None, trust_remote_code: bool = False, show_progress: bool = True,
    **options: Any,
) -> dict[str, Any]:  # fmt: skip
    """Generate this process's share of ``prompts`` and gather every share: the JSON-ready
    record of the whole job (on every rank). ``options`` go to :func:`unmask.hf.generation.generate`."""
    import torch

    from ..hf import load
    from ..hf.generation import generate

    try:
        denoiser = load(
            model, dtype=None if dtype is None else getattr(torch, dtype), device=ctx.device,
            trust_remote_code=trust_remote_code, allow_eos=True,
        )  # fmt: skip
    except (OSError, ValueError, TypeError, ImportError) as error:
        raise fail("--model", f"cannot load {model!r}: {str(error).splitlines()[0]}") from None
    mine = rows_of(len(prompts), ctx.rank, ctx.world_size)
    records: list[dict[str, Any]] = []
    if len(mine):
        with progress_bar("generate", ctx, show_progress) as bar:
            task = bar.add_task("", total=len(mine))
            out = generate(
                denoiser, None, [prompts[r] for r in mine], generator=seed, batch_size=batch_size,
                row_ids=list(mine), progress=lambda done, total: bar.update(task, completed=done), **options,
            )  # fmt: skip
        model_ids = denoiser.vocabulary.to_model(out.tokens)
        for j, row in enumerate(mine):
            length = int(out.lengths[j])
            records.append(
                {
                    "prompt": prompts[row],
                    "text": out.texts[j],
                    "tokens": model_ids[j, :length].tolist(),
                    "nfe": int(out.nfe_per_row[j]),
                    "finished": bool(out.finished[j]),
                    "length": length,
                }
            )
        totals = {"nfe": out.nfe, "model_calls": out.model_calls, "seconds": out.seconds}
    else:
        totals = {"nfe": 0, "model_calls": 0, "seconds": 0.0}
    shares = gather_json({"records": records, **totals}, ctx)
    return {
        "model": model,
        "seed": seed,
        "records": [record for share in shares for record in share["records"]],
        "nfe": sum(share["nfe"] for share in shares),
        "model_calls": sum(share["model_calls"] for share in shares),
        "seconds": max(share["seconds"] for share in shares),
    }


def as_text(record: dict[str, Any]) -> str:
    """One generation per line: the text with backslashes and newlines escaped."""
    lines = [r["text"].replace("\\", "\\\\").replace("\n", "\\n") for r in record["records"]]
    return "".join(line + "\n" for line in lines)


def generate_command(
    model: Annotated[str, typer.Option(help="A Hugging Face model name or a save_pretrained folder.")],
    prompt: Annotated[list[str] | None, typer.Option(help="A prompt (repeat for several).")] = None,
    prompts_file: Annotated[Path | None, typer.Option(help="A text file of prompts, one per line.")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens to generate per prompt.")] = 32,
    sampler: Annotated[str, typer.Option(help=f"A masked sampler name (default {DEFAULT_SAMPLER}).")] = (
        DEFAULT_SAMPLER
    ),
    steps: Annotated[int | None, typer.Option(help="Denoiser calls per row, split over the blocks.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (a non-negative integer).")] = 0,
    block_length: Annotated[
        int | None, typer.Option(help="Semi-autoregressive blocks of N positions; rows stop after EOS.")
    ] = None,
    guidance: Annotated[float, typer.Option(help="Classifier-free guidance scale w >= 0.")] = 0.0,
    batch_size: Annotated[int | None, typer.Option(help="Prompts per batch (default: all).")] = None,
    device: Annotated[
        str | None, typer.Option(help="cpu, cuda or cuda:N (torchrun: cuda:LOCAL_RANK).")
    ] = None,
    dtype: Annotated[str | None, typer.Option(help="Weights' dtype: bfloat16, float16 or float32.")] = None,
    trust_remote_code: Annotated[
        bool, typer.Option("--trust-remote-code", help="Run code shipped with the checkpoint (LLaDA).")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="A JSON record: prompt, text, tokens, nfe per prompt.")
    ] = False,
    output: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --output file.")] = False,
) -> None:
    """Generate text after each prompt with a diffusion LM or a masked LM (needs the hf extra)."""
    prompts = read_prompts(prompt, prompts_file)
    check_seed(seed)
    check_options(max_new_tokens, steps, block_length, guidance, sampler, dtype, batch_size)
    if output is not None and not is_stdout(output):
        check_destination("--output", output, force)
    ctx = job_context(device)
    with joined(ctx):
        record = run_generation(
            model, prompts, ctx, seed=seed, batch_size=batch_size, dtype=dtype,
            trust_remote_code=trust_remote_code, max_new_tokens=max_new_tokens, sampler=sampler,
            steps=steps, block_length=block_length, guidance=guidance,
        )  # fmt: skip
    if not ctx.is_main:
        return
    text = json.dumps(record, indent=2) + "\n" if json_output else as_text(record)
    if output is None or is_stdout(output):
        typer.echo(text, nl=False)
    else:
        write_destination("--output", output, text, force)
