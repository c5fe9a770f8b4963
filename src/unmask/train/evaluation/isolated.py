"""Run tasks in forked worker processes, each with a time and a memory limit.

Some exact output laws are far larger than others: with a model of full support on
``V^L = 65,536`` sequences, a two-stage sampler's dynamic program enumerates hundreds of millions
of outcomes and can need more memory than the machine has (the kernel then kills the whole
process, with no message). :func:`run_tasks` runs each task in a child process forked from this
one (it inherits the model's table without a copy), with

* a memory limit: the child's address space may grow by at most ``memory_bytes`` (``RLIMIT_AS``),
  so an allocation past it fails inside the child, which reports it;
* a time limit: a child still running after ``seconds`` is killed;
* ``workers`` children at a time (one intra-op thread each).

A task that hits a limit, or raises ``ValueError`` (a refusal: no exact law for this sampler, a
step count it does not take, a state space above the dynamic program's limit) or ``MemoryError``,
becomes an :class:`Outcome` with the reason and no value; any other exception is a bug and is
raised again in the parent with the child's traceback.

Where ``fork`` is not available (Windows, macOS by default), or when no limit is set and
``workers == 1``, the tasks run in this process one after the other, without limits.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import re
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ... import checks

#: Words in an allocation failure of torch's CPU or CUDA allocator (raised as ``RuntimeError``).
_ALLOCATION_FAILURES = ("can't allocate memory", "out of memory", "DefaultCPUAllocator")


@dataclass(frozen=True)
class Limits:
    """How to run tasks: at most ``workers`` at a time, each for at most ``seconds`` and with at
    most ``memory_bytes`` more address space than this process (None: no limit)."""

    seconds: float | None = None
    memory_bytes: int | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        if self.seconds is not None:
            checks.positive_float("seconds", self.seconds)
        if self.memory_bytes is not None:
            checks.positive_int("memory_bytes", self.memory_bytes)
        checks.positive_int("workers", self.workers)

    @property
    def isolated(self) -> bool:
        """Whether the tasks run in child processes (a limit or several workers, and ``fork``)."""
        wanted = self.seconds is not None or self.memory_bytes is not None or self.workers > 1
        return wanted and "fork" in multiprocessing.get_all_start_methods()


@dataclass(frozen=True)
class Outcome:
    """What one task gave: its ``value``, or the ``refusal`` that stopped it (then ``value`` is
    None), and the ``seconds`` it ran."""

    value: Any
    refusal: str | None
    seconds: float


def is_refusal(error: BaseException) -> bool:
    """Whether ``error`` says the task cannot be done here (rather than that the code is wrong)."""
    if isinstance(error, ValueError | MemoryError):
        return True
    return isinstance(error, RuntimeError) and any(words in str(error) for words in _ALLOCATION_FAILURES)


def _refusal_text(error: BaseException, memory_bytes: int | None = None) -> str:
    """The reason a refused task gives: the error's message, or for a failed allocation the limit
    it passed and the size asked for."""
    if isinstance(error, ValueError):
        return str(error)
    asked = re.search(r"allocate (\d+) bytes", str(error))
    size = f" (an allocation of {int(asked.group(1)) / 2**30:.2f} GiB failed)" if asked else ""
    if memory_bytes is None:
        return f"ran out of memory{size}"
    return f"needs more memory than the limit of {memory_bytes / 2**30:.1f} GiB per law{size}"


def _run_here(function: Callable[[Any], Any], task: Any) -> Outcome:
    started = time.perf_counter()
    try:
        value = function(task)
    except Exception as error:
        if not is_refusal(error):
            raise
        return Outcome(None, _refusal_text(error), time.perf_counter() - started)
    return Outcome(value, None, time.perf_counter() - started)


def _address_space() -> int | None:
    """This process's virtual memory size in bytes (Linux), or None."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _limit_memory(memory_bytes: int | None) -> None:
    """Let this (child) process's address space grow by at most ``memory_bytes``."""
    if memory_bytes is None:
        return
    try:
        import resource
    except ImportError:  # not a POSIX system: no limit
        return
    current = _address_space()
    if current is None:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = current + memory_bytes
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _child(connection, function: Callable[[Any], Any], task: Any, memory_bytes: int | None) -> None:
    torch.set_num_threads(1)
    started = time.perf_counter()
    try:
        _limit_memory(memory_bytes)
        message: tuple = ("value", function(task))
    except BaseException as error:  # everything goes back to the parent
        if isinstance(error, Exception) and is_refusal(error):
            message = ("refused", _refusal_text(error, memory_bytes))
        else:
            message = ("error", traceback.format_exc())
    try:
        connection.send((*message, time.perf_counter() - started))
    finally:
        connection.close()


@dataclass
class _Running:
    index: int
    process: Any
    connection: Any
    started: float


def _finish(running: _Running, limits: Limits) -> Outcome:
    """Read the finished (or killed) child's message and reap it."""
    elapsed = time.perf_counter() - running.started
    try:
        kind, payload, seconds = running.connection.recv()
    except (EOFError, OSError):
        running.process.join()
        code = running.process.exitcode
        limit = f" (limit {limits.memory_bytes / 2**30:.1f} GiB)" if limits.memory_bytes else ""
        return Outcome(None, f"the worker process died with exit code {code}: out of memory{limit}?", elapsed)
    finally:
        running.connection.close()
    running.process.join()
    if kind == "error":
        raise RuntimeError(f"a worker process failed:\n{payload}")
    if kind == "refused":
        return Outcome(None, payload, seconds)
    return Outcome(payload, None, seconds)


def run_tasks(
    function: Callable[[Any], Any],
    tasks: Sequence[Any],
    limits: Limits | None = None,
    done: Callable[[int, Outcome], None] | None = None,
) -> list[Outcome]:
    """``function(task)`` for every task, as :class:`Outcome` s in the order of ``tasks``
    (module docstring); ``done(index, outcome)`` is called as each one finishes. The values travel
    from the children by pickle (they are this process's own results, never read from a file)."""
    limits = Limits() if limits is None else limits
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be a Limits or None (no limits), got {type(limits).__name__}")
    outcomes: list[Outcome | None] = [None] * len(tasks)
    if not limits.isolated:
        for index, task in enumerate(tasks):
            outcomes[index] = _run_here(function, task)
            if done is not None:
                done(index, outcomes[index])
        return outcomes  # type: ignore[return-value]
    context = multiprocessing.get_context("fork")
    waiting = list(range(len(tasks)))
    running: list[_Running] = []
    try:
        while waiting or running:
            while waiting and len(running) < limits.workers:
                index = waiting.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(
                    target=_child, args=(send, function, tasks[index], limits.memory_bytes), daemon=True
                )
                process.start()
                send.close()
                running.append(_Running(index, process, receive, time.perf_counter()))
            timeout = None
            if limits.seconds is not None:
                now = time.perf_counter()
                timeout = max(0.0, min(r.started + limits.seconds - now for r in running))
            ready = multiprocessing.connection.wait([r.connection for r in running], timeout)
            for item in list(running):
                overdue = limits.seconds is not None and time.perf_counter() - item.started > limits.seconds
                if item.connection in ready:
                    outcomes[item.index] = _finish(item, limits)
                elif overdue:
                    item.process.kill()
                    item.process.join()
                    item.connection.close()
                    outcomes[item.index] = Outcome(
                        None, f"stopped after the time limit of {limits.seconds:g} s", limits.seconds
                    )
                else:
                    continue
                running.remove(item)
                if done is not None:
                    done(item.index, outcomes[item.index])
    finally:
        for item in running:  # an exception (or Ctrl-C) in the parent: stop the children it started
            item.process.kill()
            item.process.join()
    return outcomes  # type: ignore[return-value]
