"""One-line option errors (exit status 2) and checks that run before any work."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import typer


def fail(option: str, message: str) -> typer.Exit:
    """Print ``Error: OPTION: message`` on one line and return the exit (status 2) to raise."""
    print(f"Error: {option}: {message}", file=sys.stderr)
    return typer.Exit(code=2)


def check_writable_folder(folder: Path) -> None:
    """Create ``folder`` and prove it is writable, or raise ``ValueError`` saying why."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".unmask-write-test"):
            pass
    except OSError as error:
        raise ValueError(f"cannot write to {str(folder)!r}: {error.strerror or error}") from None
