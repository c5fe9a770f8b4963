"""The training loop: it learns, it resumes exactly, it runs data-parallel exactly, and it refuses
what it cannot do before any work."""

from __future__ import annotations

import json
import math
import socket
import time
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from unmask.train.data import TargetData, default_target
from unmask.train.from_checkpoint import load_model
from unmask.train.models import ModelConfig
from unmask.train.trainer import read_log
from unmask.train.trainer.config import TrainConfig
from unmask.train.trainer.loop import train

from .workers import CONFIG, data, model_config, rank_worker


class Crash(Exception):
    """Raised by a callback to stop a run as a crash would."""


def _crash_after(step: int):
    def callback(done, total, record):
        if done == step:
            raise Crash

    return callback


@pytest.mark.parametrize("kind", ["denoiser", "hollow", "autoregressive"])
def test_a_resumed_run_ends_with_the_uninterrupted_weights(tmp_path, kind) -> None:
    """A run killed after step 4 (its last checkpoint at step 3) and resumed ends with the same
    weights, EMA weights and metrics log as a run never interrupted (same seed), bit for bit."""
    whole = train(model_config(kind), data(), tmp_path / "whole", CONFIG)
    with pytest.raises(Crash):
        train(model_config(kind), data(), tmp_path / "cut", CONFIG, callback=_crash_after(4))
    resumed = train(model_config(kind), data(), tmp_path / "cut", CONFIG, resume=True)
    assert resumed.resumed_from == 3 and resumed.step == whole.step == 6
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    assert read_log(whole.log) == read_log(resumed.log)
    assert [r["step"] for r in read_log(whole.log)] == [1, 2, 3, 4, 5, 6]
    assert resumed.validation == whole.validation


def test_resuming_a_finished_run_does_nothing_and_a_longer_one_continues(tmp_path) -> None:
    """Resuming a finished run takes no step and returns its validation; raising ``steps`` on
    resume continues from the last checkpoint (the one change of config a resume accepts)."""
    train(model_config(), data(), tmp_path / "run", CONFIG)
    again = train(model_config(), data(), tmp_path / "run", CONFIG, resume=True)
    assert again.resumed_from == 6 and again.step == 6 and "val_nelbo" in again.validation
    longer = train(model_config(), data(), tmp_path / "run", replace(CONFIG, steps=8), resume=True)
    assert longer.resumed_from == 6 and longer.step == 8
    assert [r["step"] for r in read_log(longer.log)][-2:] == [7, 8]


def test_resume_refuses_another_config_or_model(tmp_path) -> None:
    """A run resumes only under its own config and model: another learning rate or width is
    refused with the fields named."""
    train(model_config(), data(), tmp_path / "run", CONFIG)
    with pytest.raises(ValueError, match="learning_rate"):
        train(model_config(), data(), tmp_path / "run", replace(CONFIG, learning_rate=1e-2), resume=True)
    wider = replace(model_config(), d_model=64, n_heads=2)
    with pytest.raises(ValueError, match="model config"):
        train(wider, data(), tmp_path / "run", CONFIG, resume=True)


def test_a_new_run_refuses_an_old_log_unless_forced(tmp_path) -> None:
    """A second run into the same folder is refused (resume it or force it); with ``force`` it
    starts afresh and its log holds only its own records."""
    train(model_config(), data(), tmp_path / "run", CONFIG)
    with pytest.raises(OSError, match="exists"):
        train(model_config(), data(), tmp_path / "run", CONFIG)
    again = train(model_config(), data(), tmp_path / "run", replace(CONFIG, steps=3), force=True)
    assert [r["step"] for r in read_log(again.log)] == [1, 2, 3]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("kind", ["denoiser", "autoregressive"])
def test_two_gloo_processes_train_as_one(tmp_path, kind) -> None:
    """Two processes (gloo, launched as torchrun would), each with half of every batch, give the
    loss curve, the validation and the final weights of one process with the whole batch (up to
    the summation order of the gradient all-reduce)."""
    one = train(model_config(kind), data(), tmp_path / "one", CONFIG)
    context = torch.multiprocessing.start_processes(
        rank_worker, args=(tmp_path, _free_port(), kind), nprocs=2, join=False, start_method="fork"
    )
    deadline = time.monotonic() + 120
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the gloo workers did not finish within 120 s")
    curve_one = [r["train_loss"] for r in read_log(one.log)]
    curve_two = [r["train_loss"] for r in read_log(tmp_path / "run" / "log.jsonl")]
    assert curve_two == pytest.approx(curve_one, rel=1e-5, abs=1e-7)
    for rank in range(2):
        weights = load_file(str(tmp_path / f"weights{rank}.safetensors"))
        for name, value in one.model.state_dict().items():
            torch.testing.assert_close(weights[name], value, rtol=1e-4, atol=1e-6)
        validation = json.loads((tmp_path / f"validation{rank}.json").read_text())
        assert validation["val_nelbo"] == pytest.approx(one.validation["val_nelbo"], rel=1e-5)


def test_a_denoiser_learns_the_built_in_target(tmp_path) -> None:
    """Two hundred steps on the built-in HMM bring the validation NELBO from about log V (an
    untrained model) to within 15% of the target's exact entropy per token, and the checkpoint
    gives back the trained model (its validation again)."""
    source = TargetData(default_target(), validation_size=256)
    config = TrainConfig(
        steps=200, batch_size=32, learning_rate=3e-3, warmup_steps=20, eval_every=200,
        checkpoint_every=200, validation_batch_size=256,
    )  # fmt: skip
    result = train(ModelConfig.preset("tiny", vocab_size=4, length=8), source, tmp_path / "run", config)
    entropy = source.true_entropy_per_token()
    assert result.validation["val_nelbo"] < 1.15 * entropy < math.log(4)
    model, checkpoint = load_model(tmp_path / "run")
    assert checkpoint.step == 200 and checkpoint.metrics["val_nelbo"] == result.validation["val_nelbo"]
    x = source.validation_tokens()[:4]
    t = torch.full((4,), 0.5, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(model(x, t), result.model(x, t))


def test_bad_runs_are_refused_before_any_work(tmp_path) -> None:
    """A model config for other data, a batch the processes cannot share, a bad config value and
    a bad schedule are refused with the fields named, and nothing is written."""
    with pytest.raises(ValueError, match="vocab_size 4 and length 6, the data 4 and 8"):
        train(model_config(), TargetData(default_target(), validation_size=16), tmp_path / "a", CONFIG)
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainConfig(steps=5, warmup_steps=10)
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="sideways")
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    assert not (tmp_path / "a").exists()


def test_train_config_round_trips_through_json() -> None:
    """``to_dict`` / ``from_dict`` round-trip a config through JSON; unknown fields are refused."""
    config = TrainConfig(steps=7, betas=(0.8, 0.9))
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({"steps": 3, "colour": "red"})
