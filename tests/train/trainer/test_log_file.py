"""The JSON-lines metrics log: append, read, truncation on resume."""

from __future__ import annotations

import stat

import numpy as np
import pytest
import torch

from unmask.files import OutputExists
from unmask.train.trainer import MetricsLog, read_log, truncate_log


def _run(log: MetricsLog, steps: range) -> None:
    for step in steps:
        log.append({"step": step, "train_loss": 1.0 / (step + 1)})
        if step % 3 == 0:
            log.append({"step": step, "val_bits_per_token": 2.0 - step / 100})


def test_resumed_log_equals_the_uninterrupted_log(tmp_path):
    """A run that logs to step 9, is resumed from its checkpoint at step 5 and logs steps 6..9
    again writes the same bytes as a run that never stopped."""
    _run(MetricsLog(tmp_path / "straight.jsonl"), range(10))
    crashed = MetricsLog(tmp_path / "resumed.jsonl")
    _run(crashed, range(9))  # died after step 8; its last checkpoint was step 5
    resumed = MetricsLog(tmp_path / "resumed.jsonl", resume_step=5)
    assert [r["step"] for r in read_log(resumed.path)][-1] == 5
    _run(resumed, range(6, 10))
    assert (tmp_path / "resumed.jsonl").read_bytes() == (tmp_path / "straight.jsonl").read_bytes()
    assert len(read_log(tmp_path / "straight.jsonl")) == 14


def test_a_line_cut_by_a_crash_is_dropped(tmp_path):
    """A last line without newline that is not valid JSON (a crash mid-write) is ignored by
    read_log and removed by truncation; a bad line in the middle is an error naming it."""
    path = tmp_path / "log.jsonl"
    path.write_text('{"step": 1, "loss": 2.5}\n{"step": 2, "lo')
    assert read_log(path) == [{"step": 1, "loss": 2.5}]
    assert truncate_log(path, 10) == 0
    assert path.read_text() == '{"step": 1, "loss": 2.5}\n'
    path.write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        read_log(path)


def test_new_log_refuses_to_overwrite(tmp_path):
    """A new run does not silently overwrite a log with records; force starts it afresh."""
    path = tmp_path / "log.jsonl"
    MetricsLog(path).append({"step": 0, "loss": 1.0})
    with pytest.raises(OutputExists):
        MetricsLog(path)
    MetricsLog(path, force=True)
    assert read_log(path) == []


def test_records_need_a_step_and_json_values(tmp_path):
    """Records without an integer step or with a non-JSON value are refused; numpy and 0-d torch
    scalars are written as numbers; NaN survives the round trip."""
    log = MetricsLog(tmp_path / "log.jsonl")
    with pytest.raises(ValueError, match="record must have an integer 'step'"):
        log.append({"loss": 1.0})
    with pytest.raises(TypeError, match="record\\['step'\\] must be an integer >= 0"):
        log.append({"step": 1.5})
    with pytest.raises(TypeError, match="must be JSON-serialisable"):
        log.append({"step": 1, "loss": object()})
    log.append({"step": 1, "a": np.float32(0.5), "b": torch.tensor(2.0), "c": float("nan")})
    (record,) = read_log(log.path)
    assert record["a"] == 0.5 and record["b"] == 2.0 and record["c"] != record["c"]


def test_log_follows_the_umask(tmp_path, umask):
    """A new log, and a log rewritten on resume, have mode 0o666 & ~umask."""
    umask(0o077)
    log = MetricsLog(tmp_path / "log.jsonl")
    _run(log, range(4))
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    umask(0o022)
    MetricsLog(tmp_path / "new.jsonl")
    assert stat.S_IMODE((tmp_path / "new.jsonl").stat().st_mode) == 0o644
