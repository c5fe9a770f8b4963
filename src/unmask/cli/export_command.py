"""``unmask export``: a model trained by ``unmask train`` saved as a Hugging Face ``transformers``
folder (:func:`unmask.hf.export_checkpoint`), which ``unmask generate --model FOLDER`` and
``unmask.hf.load(FOLDER)`` read like any other model. Needs the ``hf`` extra."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..files import check_output_folder
from .errors import fail, output_message


def export_command(
    checkpoint: Annotated[
        Path, typer.Option(help="A checkpoint folder, or a run folder (its latest checkpoint).")
    ],
    out: Annotated[Path, typer.Option(help="The transformers folder to write (new or empty).")],
    tokenizer: Annotated[
        Path | None,
        typer.Option(help="The run's tokenizer folder (default: rebuilt from the checkpoint's data)."),
    ] = None,
    raw_weights: Annotated[
        bool, typer.Option("--raw-weights", help="Save the raw weights, not the EMA weights.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty --out folder.")] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="A JSON record: folder, files, step, vocabulary.")
    ] = False,
) -> None:
    """Save a trained denoiser as a transformers model folder (config.json, model.safetensors,
    tokenizer) for `unmask generate --model FOLDER` (needs the hf extra)."""
    try:
        from ..hf.export import TokenizerError, export_checkpoint
    except ImportError as error:
        raise fail("--out", str(error)) from None
    try:
        check_output_folder(out, force)
    except OSError as error:
        raise fail("--out", output_message(error, out)) from None
    try:
        folder = export_checkpoint(
            checkpoint, out, tokenizer=tokenizer, use_ema=False if raw_weights else None, force=force
        )
    except TokenizerError as error:
        raise fail("--tokenizer", str(error)) from None
    except ImportError as error:
        raise fail("--out", str(error)) from None
    except OSError as error:
        raise fail("--out", output_message(error, out)) from None
    except (ValueError, TypeError) as error:
        raise fail("--checkpoint", str(error).splitlines()[0]) from None
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    record = {
        "folder": str(folder),
        "files": sorted(path.name for path in folder.iterdir()),
        "step": config["unmask_training"]["step"],
        "vocab_size": config["mask_token_id"],
        "mask_token_id": config["mask_token_id"],
        "weights": "raw" if raw_weights else "ema when saved",
    }
    if json_output:
        typer.echo(json.dumps(record, indent=2))
    else:
        typer.echo(
            f"wrote {folder} (step {record['step']}, {record['vocab_size']} tokens and the mask): "
            f"unmask generate --model {folder} --prompt TEXT"
        )
