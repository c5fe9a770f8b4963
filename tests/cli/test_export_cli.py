"""`unmask export`: a trained checkpoint becomes a transformers folder that `unmask generate
--model` reads; bad options are one-line errors (exit 2) that name the option."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from train.evaluation.checkpoints import save_tiny_checkpoint
from unmask.cli.app import build_app

pytest.importorskip("transformers", reason="the hf extra is not installed")
runner = CliRunner()


def invoke(*args):
    return runner.invoke(build_app(), [str(a) for a in args])


def error_line(result, option: str) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and lines[0].startswith(f"Error: {option}: "), result.output
    return lines[0]


def test_export_then_generate_with_the_folder(tmp_path) -> None:
    run = save_tiny_checkpoint(tmp_path / "run", length=12, data="bytes")
    result = invoke("export", "--checkpoint", run, "--out", tmp_path / "hf", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout[result.stdout.index("{") :])
    assert record["vocab_size"] == 256 and record["step"] == 0
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(record["files"])
    generated = invoke(
        "generate", "--model", tmp_path / "hf", "--prompt", "hello", "--max-new-tokens", "5", "--json"
    )
    assert generated.exit_code == 0, generated.output
    out = json.loads(generated.stdout[generated.stdout.index("{") :])
    assert out["records"][0]["prompt"] == "hello" and out["records"][0]["length"] == 5


def test_bad_exports_name_the_option(tmp_path) -> None:
    run = save_tiny_checkpoint(tmp_path / "run")
    assert "only a denoiser" in error_line(
        invoke("export", "--checkpoint", save_tiny_checkpoint(tmp_path / "ar", kind="autoregressive"),
               "--out", tmp_path / "a"),
        "--checkpoint",
    )  # fmt: skip
    error_line(
        invoke("export", "--checkpoint", tmp_path / "missing", "--out", tmp_path / "b"), "--checkpoint"
    )
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("mine")
    assert "--force" in error_line(
        invoke("export", "--checkpoint", run, "--out", tmp_path / "taken"), "--out"
    )
    assert (tmp_path / "taken" / "file").read_text() == "mine"
    error_line(
        invoke("export", "--checkpoint", run, "--out", tmp_path / "c", "--tokenizer", tmp_path / "nothing"),
        "--tokenizer",
    )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and not (tmp_path / "c").exists()
