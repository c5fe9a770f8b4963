"""Fixtures of the evaluation tests: tiny untrained checkpoints, opened."""

from __future__ import annotations

import pytest

from unmask.train.evaluation.trained import TrainedModel, open_trained

from .checkpoints import save_tiny_checkpoint


@pytest.fixture(scope="package")
def denoiser_run(tmp_path_factory) -> TrainedModel:
    """An untrained tiny denoiser of the built-in target at L = 8."""
    return open_trained(save_tiny_checkpoint(tmp_path_factory.mktemp("denoiser")))


@pytest.fixture(scope="package")
def autoregressive_run(tmp_path_factory) -> TrainedModel:
    """An untrained tiny autoregressive model of the built-in target at L = 3."""
    return open_trained(save_tiny_checkpoint(tmp_path_factory.mktemp("ar"), length=3, kind="autoregressive"))
