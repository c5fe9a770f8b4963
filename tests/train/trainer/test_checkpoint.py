"""Checkpoints: exact resume, crash safety, validation of what is loaded, no pickle, umask, pruning."""

from __future__ import annotations

import json
import os
import pickle
import stat

import pytest
import torch

from unmask.train.trainer import (
    FORMAT_VERSION,
    ExponentialMovingAverage,
    find_latest,
    list_checkpoints,
    load_checkpoint,
    load_weights,
    read_checkpoint,
    save_checkpoint,
    tensor_file,
)
from unmask.train.trainer import checkpoint as checkpoint_module

from .conftest import Tiny, make_run, train_steps

CONFIG = {"model": {"vocab_size": 7, "width": 8}, "train": {"lr": 0.05}}


def _params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def _saved_run(tmp_path, steps: int = 3, **options):
    """A run trained ``steps`` steps and saved; returns (model, optimizer, ema, data, folder)."""
    model, optimizer, ema = make_run(0)
    data = torch.Generator().manual_seed(5)
    train_steps(model, optimizer, ema, data, steps)
    folder = save_checkpoint(
        tmp_path / "run",
        steps,
        model,
        optimizer=optimizer,
        ema=ema,
        config=CONFIG,
        seed=0,
        metrics={"train_loss": 1.25},
        generators={"data": data},
        **options,
    )
    return model, optimizer, ema, data, folder


def test_resume_is_bit_identical_to_the_uninterrupted_run(tmp_path):
    """Model, EMA, AdamW (amsgrad) state, the data generator and the dropout RNG come back exactly:
    two more steps after loading into a fresh run give bit-identical weights, averages and
    optimizer moments to the run that never stopped."""
    model, optimizer, ema, data, folder = _saved_run(tmp_path)
    train_steps(model, optimizer, ema, data, 2)

    torch.manual_seed(123)  # another dropout stream and another initialisation
    fresh, fresh_optimizer, fresh_ema = make_run(99)
    fresh_data = torch.Generator().manual_seed(77)
    state = load_checkpoint(
        tmp_path / "run", fresh, optimizer=fresh_optimizer, ema=fresh_ema, generators={"data": fresh_data}
    )
    assert state.path == folder and state.step == 3 and state.config == CONFIG and state.seed == 0
    assert state.metrics == {"train_loss": 1.25}
    train_steps(fresh, fresh_optimizer, fresh_ema, fresh_data, 2)

    _assert_same(_params(model), _params(fresh))
    _assert_same(ema.state_dict()["shadow"], fresh_ema.state_dict()["shadow"])
    assert fresh_ema.updates == ema.updates == 5
    live, resumed = optimizer.state_dict(), fresh_optimizer.state_dict()
    assert live["param_groups"] == resumed["param_groups"]  # betas still a tuple
    for index, entries in live["state"].items():
        _assert_same(entries, resumed["state"][index])


def test_resume_without_the_rng_state_differs(tmp_path):
    """The previous test can fail: without restoring the random states, dropout draws other masks
    and the weights after two more steps differ."""
    model, optimizer, ema, data, _ = _saved_run(tmp_path)
    train_steps(model, optimizer, ema, data, 2)
    torch.manual_seed(123)
    fresh, fresh_optimizer, fresh_ema = make_run(99)
    fresh_data = torch.Generator().manual_seed(77)
    load_checkpoint(
        tmp_path / "run",
        fresh,
        optimizer=fresh_optimizer,
        ema=fresh_ema,
        generators={"data": fresh_data},
        restore_rng=False,
    )
    train_steps(fresh, fresh_optimizer, fresh_ema, fresh_data, 2)
    assert not torch.equal(model.out.weight, fresh.out.weight)


def test_files_and_layout(tmp_path):
    """The folder holds the four safetensors files and state.json; `latest` names it; the state
    records versions, the EMA counters and the optimizer hyperparameters as JSON."""
    _, _, _, _, folder = _saved_run(tmp_path)
    assert folder.name == "checkpoint-000003"
    assert sorted(p.name for p in folder.iterdir()) == [
        "ema.safetensors",
        "model.safetensors",
        "optimizer.safetensors",
        "rng.safetensors",
        "state.json",
    ]
    assert json.loads((tmp_path / "run" / "latest").read_text()) == {"checkpoint": folder.name, "step": 3}
    state = json.loads((folder / "state.json").read_text())
    assert state["format_version"] == FORMAT_VERSION and state["step"] == 3
    assert state["ema"] == {"decay": 0.9, "warmup": True, "updates": 3}
    group = state["optimizer"]["param_groups"][0]["values"]
    assert state["optimizer"]["class"] == "AdamW" and group["betas"] == [0.9, 0.999] and group["amsgrad"]
    assert state["rng"]["generators"] == ["data"]


def test_pointer_is_written_last(tmp_path, monkeypatch):
    """Every file of the checkpoint is written before `latest` (the last write of a save)."""
    written = []
    for module in (checkpoint_module, tensor_file):
        original = module.write_output

        def recording(path, data, force=False, original=original):
            written.append(os.fspath(path))
            original(path, data, force=force)

        monkeypatch.setattr(module, "write_output", recording)
    _saved_run(tmp_path)
    assert os.path.basename(written[-1]) == "latest"
    assert len(written) == 6 and os.path.basename(written[-2]) == "state.json"


def test_crash_before_the_pointer_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """A save that dies after its weight files and state but before `latest` leaves `latest` on the
    previous checkpoint, which loads with its own weights."""
    model, optimizer, ema, data, first = _saved_run(tmp_path, keep_last=1)
    saved_weights = _params(model)
    train_steps(model, optimizer, ema, data, 1)

    def crash(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(checkpoint_module, "_write_pointer", crash)
    with pytest.raises(RuntimeError, match="killed"):
        save_checkpoint(tmp_path / "run", 4, model, optimizer=optimizer, ema=ema, config=CONFIG, keep_last=1)
    assert (tmp_path / "run" / "checkpoint-000004" / "state.json").is_file()  # complete, not yet latest
    assert find_latest(tmp_path / "run") == first  # and the previous one was not pruned
    fresh, fresh_optimizer, fresh_ema = make_run(1)
    assert load_checkpoint(tmp_path / "run", fresh, optimizer=fresh_optimizer, ema=fresh_ema).step == 3
    _assert_same(saved_weights, _params(fresh))


def test_crash_while_writing_files_leaves_no_checkpoint_folder(tmp_path, monkeypatch):
    """A save that dies while writing its files leaves no checkpoint-<step> folder, `latest` on the
    previous checkpoint; a hidden partial folder of a killed save is removed by the next save."""
    model, optimizer, ema, _, first = _saved_run(tmp_path)

    def crash(path, data, force=False):
        raise OSError("disk full")

    monkeypatch.setattr(tensor_file, "write_output", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "run", 4, model, optimizer=optimizer, config=CONFIG)
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint-000003", "latest"]
    assert find_latest(tmp_path / "run") == first
    killed = tmp_path / "run" / ".checkpoint-000004.partial-1234-abcd"
    killed.mkdir()
    (killed / "model.safetensors").write_bytes(b"half")
    assert find_latest(tmp_path / "run") == first
    save_checkpoint(tmp_path / "run", 4, model, config=CONFIG)
    assert not killed.exists()


def test_saving_a_step_again_replaces_it_crash_safely(tmp_path, monkeypatch):
    """Saving a step that has a folder replaces it. Killed between removing the old folder and
    renaming the new one into place, `latest` names the complete new (hidden) folder, which loads."""
    model, optimizer, ema, data, folder = _saved_run(tmp_path)
    train_steps(model, optimizer, ema, data, 1)
    new_weights = _params(model)
    save_checkpoint(tmp_path / "run", 3, model, config=CONFIG)
    fresh = Tiny()
    load_weights(tmp_path / "run", fresh)
    _assert_same(new_weights, _params(fresh))

    with torch.no_grad():
        model.out.bias.add_(1.0)
    newer = _params(model)

    def crash(source, target):
        raise OSError("killed")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError, match="killed"):
        save_checkpoint(tmp_path / "run", 3, model, config=CONFIG)
    monkeypatch.undo()
    assert not folder.exists()
    latest = find_latest(tmp_path / "run")
    assert latest.name.startswith(".checkpoint-000003.partial-")
    load_weights(tmp_path / "run", fresh)
    _assert_same(newer, _params(fresh))


@pytest.mark.parametrize("role", ["model", "ema", "optimizer", "rng"])
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_file_is_rejected_by_name(tmp_path, role, damage):
    """A truncated or garbled safetensors file raises ValueError naming the file, and the model
    is left untouched."""
    _, _, _, _, folder = _saved_run(tmp_path)
    path = folder / f"{role}.safetensors"
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2] if damage == "truncated" else b"\x10\x00" + content[2:])
    fresh, fresh_optimizer, fresh_ema = make_run(1)
    before = _params(fresh)
    with pytest.raises(ValueError, match=rf"{role}\.safetensors.*truncated or corrupt"):
        load_checkpoint(folder, fresh, optimizer=fresh_optimizer, ema=fresh_ema, generators={})
    _assert_same(before, _params(fresh))


def test_missing_file_and_wrong_format_version_are_rejected(tmp_path):
    """A file that state.json lists but the folder lacks, and a state of another format version,
    raise ValueError naming the file and the fix."""
    _, _, _, _, folder = _saved_run(tmp_path)
    (folder / "optimizer.safetensors").unlink()
    with pytest.raises(ValueError, match=r"optimizer\.safetensors.*missing"):
        read_checkpoint(folder)
    state = json.loads((folder / "state.json").read_text())
    state["format_version"] = FORMAT_VERSION + 1
    (folder / "state.json").write_text(json.dumps(state))
    with pytest.raises(
        ValueError, match=rf"state\.json.*format_version {FORMAT_VERSION + 1}.*upgrade unmask"
    ):
        load_weights(folder, Tiny())
    (folder / "state.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"state\.json.*cannot be read as JSON"):
        read_checkpoint(folder)


def test_files_of_another_save_are_rejected(tmp_path):
    """A weight file copied from another save (another step) is refused: the files must match."""
    _saved_run(tmp_path, keep_last=None)
    model, _, _ = make_run(0)
    other = save_checkpoint(tmp_path / "run", 8, model, config=CONFIG)
    first = tmp_path / "run" / "checkpoint-000003"
    (first / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(ValueError, match="different saves"):
        load_checkpoint(first, Tiny())


def test_wrong_architecture_is_rejected(tmp_path):
    """Another width (shapes differ) and another layout (names differ) raise ValueError listing the
    differences; the model is not changed."""
    _, _, _, _, folder = _saved_run(tmp_path)
    wider = Tiny(width=16)
    wider.config = {}  # no vocab_size to compare: the shapes speak
    before = _params(wider)
    with pytest.raises(
        ValueError, match=r"another architecture.*hidden\.weight: checkpoint \(8, 8\), model \(16, 16\)"
    ):
        load_checkpoint(folder, wider)
    _assert_same(before, _params(wider))
    tied = Tiny(tied=True)
    with pytest.raises(ValueError, match=r"missing from the checkpoint: head\.bias, head\.weight"):
        load_weights(folder, tied)


def test_wrong_vocabulary_is_rejected_with_the_sizes(tmp_path):
    """A model whose config says another vocab_size is refused with "checkpoint has vocab_size 7,
    model expects 9", by load_checkpoint and load_weights, before anything changes."""
    _, _, _, _, folder = _saved_run(tmp_path)
    model = Tiny(vocab_size=9)
    before = _params(model)
    with pytest.raises(ValueError, match="checkpoint has vocab_size 7, model expects 9"):
        load_checkpoint(folder, model)
    with pytest.raises(ValueError, match="checkpoint has vocab_size 7, model expects 9"):
        load_weights(tmp_path / "run", model)
    _assert_same(before, _params(model))


def test_optimizer_and_ema_must_match(tmp_path):
    """An optimizer of another class, or an EMA asked of a checkpoint saved without one, is refused."""
    _, _, _, _, folder = _saved_run(tmp_path)
    model = Tiny()
    with pytest.raises(ValueError, match="AdamW optimizer, not of a SGD"):
        load_checkpoint(folder, model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    bare = save_checkpoint(tmp_path / "bare", 1, model, config=CONFIG)
    with pytest.raises(ValueError, match=r"has no EMA weights \(it was saved without ema=\)"):
        load_checkpoint(bare, model, ema=ExponentialMovingAverage(model))
    with pytest.raises(ValueError, match="no EMA weights"):
        load_weights(bare, model, use_ema=True)


def test_nothing_is_unpickled(tmp_path, monkeypatch):
    """Loading a full checkpoint and loading weights never call torch.load or pickle."""
    _saved_run(tmp_path)

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle was used")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    fresh, fresh_optimizer, fresh_ema = make_run(1)
    load_checkpoint(tmp_path / "run", fresh, optimizer=fresh_optimizer, ema=fresh_ema, generators={})
    load_weights(tmp_path / "run", Tiny())
    load_weights(tmp_path / "run" / "checkpoint-000003" / "model.safetensors", Tiny())


def test_load_weights_prefers_the_ema(tmp_path):
    """load_weights takes the EMA weights by default, the model weights with use_ema=False, and a
    .safetensors file as it is; buffers come from the model either way."""
    model, _, ema, _, folder = _saved_run(tmp_path)
    sampler = Tiny()
    assert load_weights(tmp_path / "run", sampler) == folder / "ema.safetensors"
    for name, average in ema.state_dict()["shadow"].items():
        assert torch.equal(sampler.state_dict()[name], average)
    assert torch.equal(sampler.scale, model.scale)
    assert not torch.equal(sampler.out.weight, model.out.weight)
    assert load_weights(folder, sampler, use_ema=False) == folder / "model.safetensors"
    _assert_same(_params(model), _params(sampler))
    with pytest.raises(ValueError, match="already a file"):
        load_weights(folder / "model.safetensors", sampler, use_ema=True)


def test_tied_weights_are_saved_and_loaded(tmp_path):
    """A model with two names for one parameter saves (safetensors refuses shared memory) and loads
    back with the tie intact."""
    torch.manual_seed(0)
    model = Tiny(tied=True)
    ema = ExponentialMovingAverage(model)
    save_checkpoint(tmp_path, 0, model, ema=ema, config=CONFIG)
    fresh = Tiny(tied=True)
    load_weights(tmp_path, fresh)
    assert fresh.head.weight is fresh.out.weight and torch.equal(fresh.out.weight, model.out.weight)


def test_files_follow_the_umask(tmp_path, umask):
    """Every file and folder a save creates has the mode the user's umask gives (0o640 and 0o750
    under umask 027), not the 0o600/0o700 of temporary files."""
    umask(0o027)
    _, _, _, _, folder = _saved_run(tmp_path)
    for path in [*folder.iterdir(), tmp_path / "run" / "latest"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
    for path in (folder, tmp_path / "run"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o750, path


def test_keep_last_prunes_older_checkpoints(tmp_path):
    """keep_last=2 leaves the two newest checkpoints; keep_last=None keeps all; a checkpoint of a
    later step (an abandoned run resumed from earlier) is left alone."""
    model = Tiny()
    for step in range(1, 6):
        save_checkpoint(tmp_path / "a", step, model, keep_last=2)
    assert [step for step, _ in list_checkpoints(tmp_path / "a")] == [4, 5]
    assert find_latest(tmp_path / "a").name == "checkpoint-000005"
    for step in range(1, 4):
        save_checkpoint(tmp_path / "b", step, model, keep_last=None)
    assert [step for step, _ in list_checkpoints(tmp_path / "b")] == [1, 2, 3]
    save_checkpoint(tmp_path / "c", 10, model, keep_last=1)
    save_checkpoint(tmp_path / "c", 2, model, keep_last=1)
    save_checkpoint(tmp_path / "c", 3, model, keep_last=1)
    assert [step for step, _ in list_checkpoints(tmp_path / "c")] == [3, 10]
    assert find_latest(tmp_path / "c").name == "checkpoint-000003"


def test_bad_arguments_fail_before_writing(tmp_path):
    """Bad arguments raise TypeError/ValueError naming them, and nothing is written."""
    model = Tiny()
    with pytest.raises(ValueError, match="step must be an integer >= 0, got -1"):
        save_checkpoint(tmp_path / "x", -1, model)
    with pytest.raises(TypeError, match="config must hold JSON values"):
        save_checkpoint(tmp_path / "x", 1, model, config={"f": object()})
    with pytest.raises(ValueError, match="keep_last must be an integer >= 1, got 0"):
        save_checkpoint(tmp_path / "x", 1, model, keep_last=0)
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        save_checkpoint(tmp_path / "x", 1, model, optimizer="adam")
    assert not (tmp_path / "x").exists()
    assert find_latest(tmp_path / "x") is None
    with pytest.raises(ValueError, match="no checkpoint at"):
        read_checkpoint(tmp_path)
