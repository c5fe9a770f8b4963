"""``compare_on_text``: both runs train on the same data and land in one report (markdown, JSON,
figure) with finite bits per token and decoded samples; bad arguments and outputs that would be
refused are refused before any training."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from unmask.files import OutputExists
from unmask.train.comparison import FIGURE, JSON, TABLE, ComparisonResult, compare_on_text
from unmask.train.data import ByteText, TargetData, default_target
from unmask.train.trainer import find_latest, read_checkpoint, read_log

TEXTS = [
    "def add(x, y):\n    return x + y\n" * 4,
    "class Point:\n    x: int = 0\n    y: int = 0\n" * 3,
    "import os\nprint(os.getcwd())\n" * 4,
    "for i in range(10):\n    print(i)\n" * 3,
]
#: A run of a few steps that validates twice (so each run has a curve of two points).
FAST = {"steps": 4, "batch_size": 4, "eval_every": 2, "samples": 2}
OPTIONS = {"validation_batch_size": 8}


def corpus() -> ByteText:
    return ByteText(texts=TEXTS, length=16, validation_fraction=0.2)


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> ComparisonResult:
    """One fast comparison, shared by the tests that read its outputs."""
    out = tmp_path_factory.mktemp("comparison")
    return compare_on_text(corpus(), out, train_options=OPTIONS, **FAST)


def test_every_file_is_written(compared: ComparisonResult) -> None:
    """The report's three files exist where the result says, and each run has its own folder with
    a metrics log and a checkpoint."""
    out = compared.table.parent
    assert compared.table == out / TABLE and compared.json == out / JSON and compared.figure == out / FIGURE
    assert compared.figure.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    for name in ("diffusion", "autoregressive"):
        assert read_log(out / name / "log.jsonl"), name
        assert (out / name / "checkpoints" / "latest").exists(), name


def test_json_holds_both_runs_with_finite_bits(compared: ComparisonResult) -> None:
    """The JSON report holds both runs, each with a finite positive final validation bits per token
    equal to its log's last validation, the curve of its validations, equal parameter counts (the
    same size), and the bound/exact flag: the diffusion figure is a bound, the AR one exact."""
    report = json.loads(compared.json.read_text(encoding="utf-8"))
    runs = report["runs"]
    assert set(runs) == {"diffusion", "autoregressive"}
    assert report["unit"] == "byte"
    for name, run in runs.items():
        assert math.isfinite(run["bits_per_token"]) and run["bits_per_token"] > 0, name
        assert [step for step, _ in run["curve"]] == [2, 4], name
        last = [r for r in read_log(Path(run["folder"]) / "log.jsonl") if "val_bits_per_token" in r][-1]
        assert run["bits_per_token"] == pytest.approx(last["val_bits_per_token"]), name
        assert run["steps"] == FAST["steps"] and run["tokens_per_second"] > 0, name
    assert runs["diffusion"]["exact"] is False and runs["autoregressive"]["exact"] is True
    assert runs["diffusion"]["parameters"] == runs["autoregressive"]["parameters"]
    assert runs["diffusion"]["model_config"]["kind"] == "denoiser"
    assert runs["autoregressive"]["model_config"]["kind"] == "autoregressive"


def test_both_runs_trained_under_one_config(compared: ComparisonResult) -> None:
    """Both runs' checkpoints hold the same training config (steps, batch, seed: the same batches)
    as the report states, and models that differ only in their kind."""
    report = json.loads(compared.json.read_text(encoding="utf-8"))
    saved = [read_checkpoint(find_latest(run.folder / "checkpoints")).config for run in compared.runs]
    assert saved[0]["train"] == saved[1]["train"] == report["settings"]["train"]
    assert (saved[0]["train"]["steps"], saved[0]["train"]["batch_size"], saved[0]["train"]["seed"]) == (
        4,
        4,
        0,
    )
    models = [dict(config["model"]) for config in saved]
    assert [model.pop("kind") for model in models] == ["denoiser", "autoregressive"]
    assert models[0] == models[1]


def test_samples_are_decoded_text(compared: ComparisonResult) -> None:
    """Each run drew the asked number of samples of L bytes, decoded to text (at most L characters:
    invalid UTF-8 becomes one U+FFFD per bad byte or sequence), and the markdown shows them."""
    table = compared.table.read_text(encoding="utf-8")
    for run in compared.runs:
        assert len(run.samples) == FAST["samples"]
        for text in run.samples:
            assert isinstance(text, str) and 0 < len(text) <= 16
            shown = text.translate({code: 0x2400 + code for code in range(32) if code not in (9, 10)})
            assert shown in table, (run.name, text)
    assert table.count("Sample 1:") == 2


def test_table_lists_both_models_with_their_numbers(compared: ComparisonResult) -> None:
    """The markdown table has one row per model, with its bits per byte as in the JSON, says which
    number is a bound and which is exact, and links the figure."""
    rows = [line for line in compared.table.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| model | validation bits per byte")
    by_model = {row.split("|")[1].strip(): row for row in rows[1:]}
    assert set(by_model) == {"masked diffusion", "autoregressive"}
    for run in compared.runs:
        assert f"| {run.bits_per_token:.3f} |" in by_model[run.label]
    assert "upper bound" in by_model["masked diffusion"] and "exact NLL" in by_model["autoregressive"]
    assert f"]({FIGURE})" in compared.table.read_text(encoding="utf-8")


def test_an_existing_report_is_refused_before_training(tmp_path: Path) -> None:
    """A second comparison into the same folder raises OutputExists before any run starts (the
    logs stay as they were); with force it replaces everything."""
    compare_on_text(corpus(), tmp_path, train_options=OPTIONS, **FAST)
    log = (tmp_path / "diffusion" / "log.jsonl").read_bytes()
    with pytest.raises(OutputExists):
        compare_on_text(corpus(), tmp_path, train_options=OPTIONS, **FAST)
    assert (tmp_path / "diffusion" / "log.jsonl").read_bytes() == log
    (tmp_path / TABLE).unlink()
    (tmp_path / JSON).unlink()
    (tmp_path / FIGURE).unlink()
    with pytest.raises(OutputExists, match="log.jsonl"):  # the runs' logs are checked too
        compare_on_text(corpus(), tmp_path, train_options=OPTIONS, **FAST)
    again = compare_on_text(corpus(), tmp_path, train_options=OPTIONS, force=True, **FAST)
    assert again.table.exists() and again.json.exists()
    for name in ("diffusion", "autoregressive"):  # started afresh: no record appended to the old log
        assert [r["step"] for r in read_log(tmp_path / name / "log.jsonl")] == [2, 4], name


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"steps": 0}, ValueError, "steps"),
        ({"batch_size": -1}, ValueError, "batch_size"),
        ({"seed": -1}, ValueError, "seed"),
        ({"samples": -1}, ValueError, "samples"),
        ({"eval_every": 0}, ValueError, "eval_every"),
        ({"preset": "huge"}, ValueError, "preset"),
        ({"preset": 3}, TypeError, "preset"),
        ({"learning_rate": -1.0}, ValueError, "learning_rate"),
        ({"model_options": {"kind": "hollow"}}, ValueError, "model_options"),
        ({"model_options": {"width": 3}}, ValueError, "width"),
        ({"train_options": {"steps": 3}}, ValueError, "train_options"),
        ({"train_options": {"epochs": 3}}, ValueError, "epochs"),
        ({"train_options": ["ema_decay"]}, TypeError, "train_options"),
        ({"force": "yes"}, TypeError, "force"),
        ({"callback": 3}, TypeError, "callback"),
    ],
)
def test_bad_arguments_raise_before_any_work(
    tmp_path: Path, arguments: dict, error: type, match: str
) -> None:
    """Each bad argument raises an error naming it, and nothing is written."""
    with pytest.raises(error, match=match):
        compare_on_text(corpus(), tmp_path / "out", **{**FAST, **arguments})
    assert not (tmp_path / "out").exists()


def test_data_without_text_or_not_a_source_is_refused(tmp_path: Path) -> None:
    """Data that cannot decode its tokens (an exact target) or is no token source is refused."""
    with pytest.raises(TypeError, match="decode"):
        compare_on_text(TargetData(default_target(8), validation_size=16), tmp_path, **FAST)
    with pytest.raises(TypeError, match="token source"):
        compare_on_text(torch.zeros(4, 16, dtype=torch.long), tmp_path, **FAST)
    with pytest.raises(TypeError, match="out"):
        compare_on_text(corpus(), 3, **FAST)


def test_a_file_as_the_output_folder_is_refused(tmp_path: Path) -> None:
    """``out`` naming an existing file is refused before any training."""
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(OSError, match="not a folder"):
        compare_on_text(corpus(), path, **FAST)
