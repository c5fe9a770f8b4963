"""The loss-curve figure: a PNG of several runs, written atomically, matplotlib imported lazily."""

from __future__ import annotations

import sys

import pytest

from unmask.files import OutputExists
from unmask.train.trainer import MetricsLog, write_loss_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _records(scale: float) -> list[dict]:
    records = [{"step": s, "train_loss": scale * 3.0 / (1 + s)} for s in range(0, 200, 10)]
    records += [{"step": s, "val_bits_per_token": scale * (2.0 + 10 / (1 + s))} for s in range(0, 200, 50)]
    return records


def test_figure_of_two_runs_is_a_png(tmp_path):
    """Two runs (one from records, one from a log file) give a PNG file; without force an existing
    file is refused; matplotlib's backend and pyplot are left untouched."""
    pytest.importorskip("matplotlib")
    import matplotlib

    had_pyplot = "matplotlib.pyplot" in sys.modules
    backend = matplotlib.rcParams._get_backend_or_none()
    log = MetricsLog(tmp_path / "ar.jsonl")
    for record in _records(1.3):
        log.append(record)
    path = tmp_path / "figures" / "loss.png"
    write_loss_figure(path, {"masked diffusion": _records(1.0), "autoregressive": log.path}, title="tiny run")
    content = path.read_bytes()
    assert content.startswith(PNG_SIGNATURE) and len(content) > 10_000
    with pytest.raises(OutputExists):
        write_loss_figure(path, {"masked diffusion": _records(1.0)})
    write_loss_figure(path, {"only validation": [{"step": 1, "val_bits_per_token": 1.5}]}, force=True)
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert matplotlib.rcParams._get_backend_or_none() == backend
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot


def test_runs_without_the_keys_are_refused(tmp_path):
    """Runs whose records hold neither key raise ValueError naming the keys; bad runs are refused."""
    with pytest.raises(ValueError, match="no record of any run holds 'train_loss' or 'val_bits_per_token'"):
        write_loss_figure(tmp_path / "f.png", {"run": [{"step": 1, "loss": 2.0}]})
    with pytest.raises(TypeError, match="runs must be a non-empty mapping"):
        write_loss_figure(tmp_path / "f.png", {})
    with pytest.raises(ValueError, match="has 'train_loss' but no integer 'step'"):
        write_loss_figure(tmp_path / "f.png", {"run": [{"train_loss": 2.0}]})
    assert not (tmp_path / "f.png").exists()


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    """Without matplotlib the error says how to install it: pip install 'unmask[plot]'."""
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(ImportError, match=r"pip install 'unmask\[plot\]'"):
        write_loss_figure(tmp_path / "f.png", {"run": _records(1.0)})
    assert not (tmp_path / "f.png").exists()
