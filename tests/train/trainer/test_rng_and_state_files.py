"""Random states, the optimizer state split and safetensors files: exact round trips without pickle."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from unmask.train.trainer import (
    capture_rng_state,
    read_tensor_file,
    rebuild_optimizer_state,
    restore_rng_state,
    split_optimizer_state,
    write_tensor_file,
)


def _draws(generator: torch.Generator) -> tuple:
    return (
        torch.rand(3).tolist(),
        random.random(),
        np.random.rand(),  # noqa: NPY002 (the global state is what is restored)
        torch.rand(2, generator=generator).tolist(),
    )


def test_rng_state_round_trip():
    """After restoring a captured state, torch, Python, numpy and a named generator draw the same
    numbers again; without restoring they do not."""
    generator = torch.Generator().manual_seed(3)
    state = capture_rng_state({"data": generator})
    first = _draws(generator)
    assert _draws(generator) != first
    restore_rng_state(state, {"data": generator})
    assert _draws(generator) == first


def test_rng_restore_checks_before_setting():
    """Asking for a generator the state lacks raises ValueError naming it and changes nothing."""
    state = capture_rng_state()
    torch.manual_seed(11)
    expected = torch.rand(2)
    torch.manual_seed(11)
    with pytest.raises(ValueError, match="no saved state for generator\\(s\\) 'data'"):
        restore_rng_state(state, {"data": torch.Generator()})
    assert torch.equal(torch.rand(2), expected)


def test_optimizer_state_split_and_rebuild_is_exact():
    """AdamW's state dict, split into tensors and JSON, rebuilds equal value for value (tuple betas
    included), and the JSON part holds no tensor."""
    import json

    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, betas=(0.8, 0.95), amsgrad=True)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    saved = optimizer.state_dict()
    tensors, description = split_optimizer_state(saved)
    json.dumps(description)
    assert set(tensors) == {
        f"state.{i}.{k}" for i in (0, 1) for k in ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    }
    rebuilt = rebuild_optimizer_state(tensors, json.loads(json.dumps(description)), optimizer)
    assert rebuilt["param_groups"] == saved["param_groups"]
    assert isinstance(rebuilt["param_groups"][0]["betas"], tuple)
    for index, entries in saved["state"].items():
        for key, value in entries.items():
            assert torch.equal(rebuilt["state"][index][key], value)
    with pytest.raises(ValueError, match="1 parameter group\\(s\\), this optimizer 2"):
        two = torch.optim.AdamW([{"params": [model.weight]}, {"params": [model.bias]}])
        rebuild_optimizer_state(tensors, description, two)


def test_non_json_optimizer_state_is_refused():
    """A state value that is neither a tensor nor JSON raises TypeError naming where it is."""
    state = {"state": {0: {"helper": object()}}, "param_groups": [{"params": [0], "lr": 0.1}]}
    with pytest.raises(TypeError, match="state\\[0\\]\\['helper'\\].*neither a tensor nor JSON"):
        split_optimizer_state(state)


def test_tensor_file_round_trip_with_shared_and_strided_tensors(tmp_path):
    """Tensors that share memory, views and non-contiguous tensors are saved (copied where needed)
    and read back equal, with dtypes kept and the metadata as written."""
    base = torch.arange(12.0).reshape(3, 4)
    tensors = {
        "a": base,
        "alias": base,
        "column": base[:, 1],
        "transposed": base.t(),
        "half": torch.ones(2, dtype=torch.bfloat16),
        "bytes": torch.arange(5, dtype=torch.uint8),
        "scalar": torch.tensor(7.0),
    }
    write_tensor_file(tmp_path / "t.safetensors", tensors, {"note": "x"})
    loaded, metadata = read_tensor_file(tmp_path / "t.safetensors")
    assert metadata == {"note": "x"}
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype and torch.equal(loaded[name], tensor), name
    with pytest.raises(ValueError, match="is missing"):
        read_tensor_file(tmp_path / "none.safetensors")
