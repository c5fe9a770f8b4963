"""An optimizer's ``state_dict()`` split into named tensors (for safetensors) and JSON, and rebuilt exactly.

``torch.save`` would pickle the state dict; a checkpoint of ``unmask`` never holds pickle. Every
tensor of the per-parameter state (AdamW: ``step``, ``exp_avg``, ``exp_avg_sq``) becomes the
tensor ``"state.<index>.<key>"``; a tensor-valued hyperparameter (a capturable optimizer's
``lr``) becomes ``"param_groups.<group>.<key>"``. Everything else (the hyperparameters, non-tensor
state) goes to a JSON-safe description. :func:`rebuild_optimizer_state` inverts the split: a
tuple hyperparameter such as ``betas`` comes back as a tuple when the live optimizer holds a tuple
there, so that the rebuilt state dict equals the saved one value for value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import torch

STATE_PREFIX = "state."
GROUP_PREFIX = "param_groups."


def _json_value(value: Any, where: str) -> Any:
    """``value`` as JSON-safe data (tuples become lists), or ``TypeError`` naming ``where``."""
    if isinstance(value, tuple | list):
        return [_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        return value  # Python's json writes and reads NaN and Infinity
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"the optimizer state {where} is {value!r:.80} ({type(value).__name__}), neither a tensor nor "
            "JSON-serialisable; a checkpoint cannot hold it without pickle"
        ) from None
    return value


def split_optimizer_state(state_dict: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``optimizer.state_dict()`` as ``(tensors, description)``: named tensors and JSON-safe data."""
    tensors: dict[str, torch.Tensor] = {}
    groups = []
    for index, group in enumerate(state_dict["param_groups"]):
        values, tensor_keys = {}, []
        for key, value in group.items():
            if torch.is_tensor(value):
                tensors[f"{GROUP_PREFIX}{index}.{key}"] = value
                tensor_keys.append(key)
            else:
                values[key] = _json_value(value, f"param_groups[{index}][{key!r}]")
        groups.append({"values": values, "tensors": tensor_keys})
    state = {}
    for param, entries in state_dict["state"].items():
        values, tensor_keys = {}, []
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{STATE_PREFIX}{param}.{key}"] = value
                tensor_keys.append(key)
            else:
                values[key] = _json_value(value, f"state[{param}][{key!r}]")
        state[str(param)] = {"values": values, "tensors": tensor_keys}
    return tensors, {"param_groups": groups, "state": state}


def _like(value: Any, live: Any) -> Any:
    """A JSON list back as a tuple where the live optimizer holds a tuple."""
    if isinstance(live, tuple) and isinstance(value, list):
        return tuple(value)
    return value


def rebuild_optimizer_state(
    tensors: Mapping[str, torch.Tensor], description: Mapping[str, Any], optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """The state dict that :func:`split_optimizer_state` split, ready for
    ``optimizer.load_state_dict``. Raises ``ValueError`` when the description does not fit
    ``optimizer`` (other parameter groups) or names a tensor that ``tensors`` lacks."""
    live_groups = optimizer.param_groups
    try:
        saved_groups = description["param_groups"]
        saved_state = description["state"]
        if len(saved_groups) != len(live_groups):
            raise ValueError(
                f"the checkpoint's optimizer has {len(saved_groups)} parameter group(s), this optimizer "
                f"{len(live_groups)}; build the optimizer with the same groups as the run that saved it"
            )
        groups = []
        for index, (saved, live) in enumerate(zip(saved_groups, live_groups, strict=True)):
            group = {key: _like(value, live.get(key)) for key, value in saved["values"].items()}
            for key in saved["tensors"]:
                group[key] = tensors[f"{GROUP_PREFIX}{index}.{key}"]
            if len(group["params"]) != len(live["params"]):
                raise ValueError(
                    f"parameter group {index} of the checkpoint's optimizer has {len(group['params'])} "
                    f"parameters, this optimizer's {len(live['params'])}; build the optimizer over the "
                    "same model parameters, in the same order"
                )
            groups.append(group)
        state: dict[int, dict[str, Any]] = {}
        for param, entries in saved_state.items():
            entry = dict(entries["values"])
            for key in entries["tensors"]:
                entry[key] = tensors[f"{STATE_PREFIX}{param}.{key}"]
            state[int(param)] = entry
    except KeyError as error:
        raise ValueError(
            f"the optimizer state is incomplete: {error} is missing; save the checkpoint again"
        ) from None
    except (TypeError, AttributeError) as error:
        raise ValueError(f"the optimizer state is malformed ({error}); save the checkpoint again") from None
    expected = {f"{GROUP_PREFIX}{i}.{k}" for i, g in enumerate(saved_groups) for k in g["tensors"]}
    expected |= {f"{STATE_PREFIX}{p}.{k}" for p, e in saved_state.items() for k in e["tensors"]}
    unexpected = sorted(set(tensors) - expected)
    if unexpected:
        raise ValueError(
            f"the optimizer tensors include {unexpected[:3]} that the state description does not name; "
            "the files come from different saves: save the checkpoint again"
        )
    return {"state": state, "param_groups": groups}


def check_state_shapes(state_dict: Mapping[str, Any], optimizer: torch.optim.Optimizer) -> None:
    """Raise ``ValueError`` when a per-parameter state tensor with as many dimensions as its
    parameter (AdamW's moments) has another shape: the optimizer was saved for another model."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    indices = [i for group in state_dict["param_groups"] for i in group["params"]]
    by_index = dict(zip(indices, params, strict=False))
    for index, entries in state_dict["state"].items():
        param = by_index.get(index)
        if param is None:
            raise ValueError(f"the optimizer state names parameter {index}, which no group holds")
        for key, value in entries.items():
            if torch.is_tensor(value) and value.dim() == param.dim() and value.shape != param.shape:
                raise ValueError(
                    f"the optimizer state {key!r} of parameter {index} has shape {tuple(value.shape)}, "
                    f"the parameter {tuple(param.shape)}; load an optimizer saved for this architecture"
                )
