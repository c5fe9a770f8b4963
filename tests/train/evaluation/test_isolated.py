"""``run_tasks``: tasks in forked workers with time and memory limits, or in this process."""

from __future__ import annotations

import time

import pytest
import torch

from unmask.train.evaluation import Limits, run_tasks


def _work(task):
    """The task kinds of the tests: a value, a refusal, a bug, a long sleep, a huge allocation."""
    kind, value = task
    if kind == "value":
        return {"square": value * value, "tensor": torch.arange(value).numpy()}
    if kind == "refuse":
        raise ValueError(f"no law for {value}")
    if kind == "bug":
        raise KeyError(value)
    if kind == "sleep":
        time.sleep(value)
        return "woke up"
    return torch.ones(value, dtype=torch.uint8).sum()  # "allocate": value bytes


@pytest.mark.parametrize("limits", [None, Limits(seconds=30, workers=2)])
def test_values_and_refusals_come_back_in_order(limits):
    """Values come back in the order of the tasks (in this process and from two workers); a
    ValueError is a refusal with its message, and done() sees every task once."""
    seen = []
    tasks = [("value", 3), ("refuse", "euler"), ("value", 5), ("value", 2)]
    outcomes = run_tasks(_work, tasks, limits, done=lambda index, outcome: seen.append(index))
    assert sorted(seen) == [0, 1, 2, 3]
    assert [o.value["square"] if o.value else None for o in outcomes] == [9, None, 25, 4]
    assert outcomes[1].refusal == "no law for euler" and outcomes[1].value is None
    assert list(outcomes[2].value["tensor"]) == [0, 1, 2, 3, 4]


def test_limits_stop_a_task_and_the_others_go_on():
    """A task past its time limit is killed and reported with the limit; one that allocates past
    its memory limit is reported as out of memory; the task after them still runs."""
    limits = Limits(seconds=2, memory_bytes=256 * 2**20, workers=2)
    tasks = [("sleep", 60), ("allocate", 4 * 2**30), ("value", 4)]
    started = time.perf_counter()
    outcomes = run_tasks(_work, tasks, limits)
    assert time.perf_counter() - started < 30
    assert outcomes[0].refusal == "stopped after the time limit of 2 s"
    assert "memory" in outcomes[1].refusal
    assert outcomes[2].value["square"] == 16


@pytest.mark.parametrize("limits", [None, Limits(workers=2)])
def test_a_bug_is_raised_not_reported(limits):
    """An exception that is not a refusal is raised in the caller (with the worker's traceback)."""
    with pytest.raises((KeyError, RuntimeError), match="oops"):
        run_tasks(_work, [("value", 1), ("bug", "oops")], limits)


def test_bad_limits():
    """Limits are checked when made."""
    with pytest.raises(ValueError, match="seconds"):
        Limits(seconds=0)
    with pytest.raises(ValueError, match="workers"):
        Limits(workers=0)
    with pytest.raises(TypeError, match="Limits"):
        run_tasks(_work, [], limits=3)
