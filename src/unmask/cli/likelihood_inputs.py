"""What both paths of ``unmask likelihood`` share: the sequences of ``--input``, the size check of
the exact method, the options, the JSON record's writing and its numbers."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..files import is_stdout
from ..likelihood.exact import MAX_EXACT_LENGTH
from ..likelihood.uniform import MAX_EXACT_STATES
from .errors import fail, write_destination


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


def finite(value: float) -> float | str:
    """``value`` as JSON can hold it: itself when finite, else ``"inf"``, ``"-inf"`` or ``"nan"``."""
    return value if math.isfinite(value) else ("inf" if value > 0 else ("-inf" if value < 0 else "nan"))


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


def write_record(record: dict[str, Any], options: Options) -> bool:
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
