"""``data_from_spec``: the training source named by a short text (the command line's ``--data``).

==========================  ===================================================================
spec                        source
==========================  ===================================================================
``"hmm"``                   :class:`TargetData` of :func:`default_target` ``(length)``
``"python-stdlib"``         :func:`python_stdlib_corpus` (bytes, or tokens with a tokenizer)
file paths (a list, or one  :class:`ByteText` of the files, or :class:`TokenizedText` with a
path that exists)           tokenizer; the last 5% of the stream is held out for validation
==========================  ===================================================================

The names live in the plain dict :data:`NAMED_SOURCES`; nothing else dispatches on them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ... import checks
from .bytes_text import SEPARATOR, ByteText
from .default_target import default_target
from .packed_text import VALIDATION_BLOCKS, VALIDATION_FRACTION, check_validation_options
from .source import TokenSource
from .stdlib_corpus import python_stdlib_corpus
from .target_data import TargetData
from .tokenized import TokenizedText


def _hmm(length: int, options: dict[str, Any]) -> TargetData:
    if options["tokenizer_path"] is not None:
        raise ValueError("tokenizer_path applies to text data only, not to spec 'hmm' (an exact target)")
    if options["separator"] is not None:
        raise ValueError("separator applies to text data only, not to spec 'hmm' (an exact target)")
    return TargetData(default_target(length), validation_size=options["validation_size"], name="hmm")


def _python_stdlib(length: int, options: dict[str, Any]) -> TokenSource:
    return python_stdlib_corpus(
        length,
        tokenizer_path=options["tokenizer_path"],
        separator=options["separator"],
        include_tests=options["include_tests"],
        validation_fraction=options["validation_fraction"],
        max_files=options["max_files"],
        validation_blocks=options["validation_blocks"],
    )


#: Named sources: name -> builder ``(length, options) -> source``.
NAMED_SOURCES: dict[str, Callable[[int, dict[str, Any]], TokenSource]] = {
    "hmm": _hmm,
    "python-stdlib": _python_stdlib,
}


def _files(paths: Sequence[str | os.PathLike], length: int, options: dict[str, Any]) -> TokenSource:
    common = {
        "length": length,
        "files": paths,
        "validation_fraction": options["validation_fraction"],
        "validation_blocks": options["validation_blocks"],
    }
    separator = options["separator"]
    if options["tokenizer_path"] is None:
        if separator is not None and not isinstance(separator, (bytes, bytearray)):
            raise TypeError(f"separator must be bytes for byte-level text, got {separator!r}")
        return ByteText(separator=SEPARATOR if separator is None else bytes(separator), **common)
    return TokenizedText(tokenizer_path=options["tokenizer_path"], separator=separator, **common)


def data_from_spec(
    spec: str | os.PathLike | Sequence[str | os.PathLike],
    length: int,
    *,
    tokenizer_path: str | os.PathLike | None = None,
    separator: bytes | str | None = None,
    validation_size: int = 1024,
    validation_fraction: float = VALIDATION_FRACTION,
    validation_blocks: int | None = VALIDATION_BLOCKS,
    include_tests: bool = False,
    max_files: int | None = None,
) -> TokenSource:
    """The source named by ``spec`` (module docstring), with rows of ``length`` tokens.

    Args:
        spec: ``"hmm"``, ``"python-stdlib"``, or text file paths.
        length: ``L``.
        tokenizer_path: a local ``tokenizer.json`` to tokenise text (default: bytes, ``V = 256``).
        separator: bytes after each document for byte text (``None``: ``b"\\x00"``), a token string
            for tokenised text (``None``: none).
        validation_size: fixed validation sequences of ``"hmm"``.
        validation_fraction: the share held out for validation (default 0.05): the tail of the stream
            of file data, the share of files of ``"python-stdlib"`` (split by file).
        validation_blocks: how many validation blocks of text to keep at most (``None``: all).
        include_tests, max_files: options of ``"python-stdlib"``.

    Raises ``ValueError`` for an unknown name, naming the accepted ones.
    """
    length = checks.positive_int("length", length)
    check_validation_options(validation_fraction, validation_blocks)
    options = {
        "tokenizer_path": tokenizer_path,
        "separator": separator,
        "validation_size": checks.positive_int("validation_size", validation_size),
        "validation_fraction": validation_fraction,
        "validation_blocks": validation_blocks,
        "include_tests": include_tests,
        "max_files": max_files,
    }
    if isinstance(spec, str) and spec in NAMED_SOURCES:
        return NAMED_SOURCES[spec](length, options)
    if isinstance(spec, (str, os.PathLike)):
        if not Path(spec).is_file():
            names = ", ".join(repr(name) for name in NAMED_SOURCES)
            raise ValueError(
                f"spec must be one of {names} or the paths of text files, got {os.fspath(spec)!r} "
                "(not a known name, and no such file)"
            )
        return _files([spec], length, options)
    if isinstance(spec, Sequence) and not isinstance(spec, (bytes, bytearray)):
        return _files(spec, length, options)
    raise TypeError(f"spec must be a name (str) or a list of file paths, got {type(spec).__name__}")
