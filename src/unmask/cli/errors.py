"""One-line option errors (exit status 2) and checks that run before any work."""

from __future__ import annotations

import os
import sys

import typer

from .. import checks
from ..files import OutputError, OutputExists, check_folder, check_output, write_output


def fail(option: str, message: str) -> typer.Exit:
    """Print ``Error: OPTION: message`` on one line and return the exit (status 2) to raise."""
    print(f"Error: {option}: {message}", file=sys.stderr)
    return typer.Exit(code=2)


def check_seed(seed: int, option: str = "--seed") -> None:
    """The library's seed rule (:func:`unmask.checks.seed`: a non-negative integer), with its
    message, as a one-line error naming ``option``."""
    try:
        checks.seed("seed", seed)
    except (TypeError, ValueError) as error:
        raise fail(option, str(error).removeprefix("seed ")) from None


def output_message(error: OSError, path: str | os.PathLike | None = None) -> str:
    """The one-line reason for a failed or refused write of ``path`` (default: the error's own)."""
    if isinstance(error, OutputExists):
        return f"{error.path!r} exists; pass --force to overwrite it"
    if isinstance(error, OutputError):
        return str(error)
    shown = os.fspath(path) if path is not None else error.filename
    return f"cannot write {str(shown)!r}: {error.strerror or error}"


def check_destination(option: str, path: str | os.PathLike, force: bool) -> None:
    """:func:`unmask.files.check_output`, as a one-line error naming ``option`` (exit 2)."""
    try:
        check_output(path, force=force)
    except OSError as error:
        raise fail(option, output_message(error, path)) from None


def check_destination_folder(option: str, folder: str | os.PathLike) -> None:
    """:func:`unmask.files.check_folder`, as a one-line error naming ``option`` (exit 2)."""
    try:
        check_folder(folder)
    except OSError as error:
        raise fail(option, output_message(error, folder)) from None


def write_destination(option: str, path: str | os.PathLike, data: bytes | str, force: bool) -> None:
    """:func:`unmask.files.write_output`; a failure is a one-line error naming ``option`` (exit 2)."""
    try:
        write_output(path, data, force=force)
    except OSError as error:
        raise fail(option, output_message(error, path)) from None
