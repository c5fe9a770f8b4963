"""The metrics log: one JSON object per line (JSON lines), each with an integer ``"step"``.

:class:`MetricsLog` appends records. Opened with ``resume_step=k``, it first drops every record
with ``step > k`` (written after the checkpoint the run resumes from), rewriting the file
atomically with :func:`unmask.files.write_output`, and keeps the others byte for byte: the log of
an interrupted and resumed run then equals the log of an uninterrupted one. A new log is created
by :func:`~unmask.files.write_output` too (mode ``0o666 & ~umask``); appends open it in append
mode and write each line with one call, flushed but not synced.

:func:`read_log` reads the records back; a last line cut short by a crash (no newline, not valid
JSON) is ignored, any other bad line raises ``ValueError`` naming the file and the line.
In data-parallel training only the main rank writes the log.
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ... import checks
from ...files import OutputExists, write_output


def _plain(value: Any) -> Any:
    """``json.dumps`` fallback: numpy and torch scalars (``.item()``) become Python numbers."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        return item()
    raise TypeError(
        f"a log record value must be JSON-serialisable, got {value!r:.80} ({type(value).__name__})"
    )


def format_record(record: Mapping[str, Any]) -> str:
    """One record as its line (no newline). Raises ``TypeError``/``ValueError`` for a record that is
    not a mapping with str keys and an integer ``"step"`` >= 0, or holds a value JSON cannot take."""
    if not isinstance(record, Mapping):
        raise TypeError(
            f"record must be a mapping such as {{'step': 10, 'loss': 2.3}}, got {type(record).__name__}"
        )
    bad = [key for key in record if not isinstance(key, str)]
    if bad:
        raise TypeError(f"record keys must be str, got {bad[0]!r}")
    if "step" not in record:
        raise ValueError(f"record must have an integer 'step', got keys {sorted(record)}")
    checks.positive_int("record['step']", record["step"], minimum=0)
    return json.dumps(dict(record), default=_plain)


def _step_of(line: str, path: Path, number: int) -> int:
    record = json.loads(line)
    if not isinstance(record, dict) or not isinstance(record.get("step"), numbers.Integral):
        raise ValueError(f"{str(path)!r} line {number}: a record needs an integer 'step', got {line[:80]!r}")
    return int(record["step"])


def _lines(path: Path) -> list[tuple[str, int]]:
    """The complete lines of the log and their steps; a cut last line is left out."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    result = []
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        last = number == len(lines)  # no newline after it: possibly cut short by a crash
        try:
            result.append((line, _step_of(line, path, number)))
        except json.JSONDecodeError as error:
            if last:
                break
            raise ValueError(
                f"{str(path)!r} line {number} is not JSON ({error.msg}); it is not a metrics log, "
                "or it was edited: fix or remove that line"
            ) from None
    return result


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of the JSON-lines log ``path``, in file order."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is not a metrics log file (it is missing or not a regular file)")
    return [json.loads(line) for line, _ in _lines(path)]


def truncate_log(path: str | os.PathLike, step: int) -> int:
    """Drop the records of ``path`` with ``step`` greater than ``step`` (and a line cut short by a
    crash), rewriting the file atomically when anything goes; returns the number of records dropped."""
    step = checks.positive_int("step", step, minimum=0)
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is not a metrics log file (it is missing or not a regular file)")
    lines = _lines(path)
    kept = [line for line, record_step in lines if record_step <= step]
    original = path.read_bytes()
    text = "".join(line + "\n" for line in kept)
    if text.encode() != original:
        write_output(path, text, force=True)
    return len(lines) - len(kept)


class MetricsLog:
    """An append-only JSON-lines metrics log at ``path``.

    Args:
        path: the log file (parent folders are created).
        resume_step: ``None`` for a new run: the file must not exist, or hold no record (else
            :class:`~unmask.files.OutputExists`, unless ``force``, which starts it afresh). An integer
            ``k`` for a run resumed from step ``k``: records with ``step > k`` are dropped first
            (the file is created when missing).
        force: with ``resume_step=None``, replace an existing log.
    """

    def __init__(self, path: str | os.PathLike, resume_step: int | None = None, force: bool = False):
        self.path = Path(path)
        if resume_step is not None:
            resume_step = checks.positive_int("resume_step", resume_step, minimum=0)
        if self.path.exists() and not self.path.is_file():
            raise ValueError(f"{str(self.path)!r} exists and is not a regular file; give a log file name")
        if not self.path.exists():
            write_output(self.path, b"")
        elif resume_step is not None:
            truncate_log(self.path, resume_step)
        elif force:
            write_output(self.path, b"", force=True)
        elif self.path.stat().st_size:
            raise OutputExists(self.path)

    def append(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` (a mapping with an integer ``"step"``) as one line."""
        line = format_record(record) + "\n"
        with open(self.path, "a", encoding="utf-8") as stream:
            stream.write(line)
            stream.flush()

    def records(self) -> list[dict[str, Any]]:
        """The records written so far (:func:`read_log`)."""
        return read_log(self.path)
