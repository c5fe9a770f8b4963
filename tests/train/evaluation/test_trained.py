"""``open_trained``: a checkpoint opened with its process, target and text decoder."""

from __future__ import annotations

import pytest

from unmask.train.data import default_target
from unmask.train.evaluation.trained import open_trained, training_process
from unmask.train.trainer import read_checkpoint, save_checkpoint

from .checkpoints import save_tiny_checkpoint


def test_run_folder_gives_the_latest_checkpoint_with_its_target(tmp_path):
    """A run folder opens its latest checkpoint: the model in eval mode, V and L from its config,
    the linear schedule when the config names none, and the exact target it was trained on."""
    trained = open_trained(save_tiny_checkpoint(tmp_path, length=5))
    assert (trained.vocab_size, trained.length, trained.checkpoint.step) == (4, 5, 0)
    assert not trained.model.training and not trained.scores_exactly
    assert trained.process.schedule.name == "linear"
    target = trained.exact_target()
    assert target is not None and target.probs().equal(default_target(5).probs())


def test_schedule_of_the_training_config(tmp_path):
    """The process follows config['train']['schedule']; an unknown schedule is a ValueError naming it."""
    run = save_tiny_checkpoint(tmp_path)
    checkpoint = read_checkpoint(run / "checkpoints")
    model = open_trained(run).model
    for step, name in ((1, "cosine"), (2, "warp")):
        config = {**checkpoint.config, "train": {"schedule": name}}
        save_checkpoint(run / "checkpoints", step, model, config=config, data=checkpoint.data)
    with pytest.raises(ValueError, match="unknown schedule 'warp'"):
        open_trained(run)
    assert (
        training_process(read_checkpoint(run / "checkpoints" / "checkpoint-000001")).schedule.name == "cosine"
    )


def test_text_checkpoint_has_no_target_and_decodes_bytes(tmp_path):
    """A checkpoint trained on bytes has no exact target and decodes its rows as text."""
    trained = open_trained(save_tiny_checkpoint(tmp_path, length=8, data="bytes"))
    assert trained.exact_target() is None and trained.vocab_size == 256
    assert trained.text_decoder().decode([104, 105]) == "hi"
