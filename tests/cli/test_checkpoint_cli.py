"""``unmask sample``, ``likelihood`` and ``bench`` with ``--checkpoint``, driven through typer's
runner; and the same commands in two gloo processes launched like torchrun."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from train.evaluation.checkpoints import save_tiny_checkpoint
from unmask.cli.app import build_app

runner = CliRunner()
app = build_app()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Run folders of tiny untrained models: a denoiser of the built-in target at L = 8 and at
    L = 4, an autoregressive model, and a denoiser of byte text."""
    root = tmp_path_factory.mktemp("runs")
    return {
        "denoiser": save_tiny_checkpoint(root / "denoiser"),
        "short": save_tiny_checkpoint(root / "short", length=4),
        "autoregressive": save_tiny_checkpoint(root / "ar", kind="autoregressive"),
        "bytes": save_tiny_checkpoint(root / "bytes", length=12, data="bytes"),
    }


def error_line(result, option: str) -> str:
    """The one line of a failed command, checked to be ``Error: OPTION: ...`` with exit status 2."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"Error: {option}:"), result.output
    return lines[0]


def test_sample_prints_token_ids_and_json(runs, tmp_path):
    """Token ids, one sequence per line, in the vocabulary; --json gives rows, NFE, seconds and the
    checkpoint step; the rows do not depend on --batch-size."""
    result = invoke("sample", "--checkpoint", runs["denoiser"], "-n", "5", "--seed", "3")
    assert result.exit_code == 0, result.output
    rows = [[int(v) for v in line.split()] for line in result.stdout.splitlines() if line.strip()]
    assert len(rows) == 5 and all(len(row) == 8 and all(0 <= v < 4 for v in row) for row in rows)
    out = tmp_path / "rows.json"
    result = invoke(
        "sample", "--checkpoint", runs["denoiser"], "-n", "5", "--seed", "3", "--json", "--batch-size", "2",
        "--output", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert [row["tokens"] for row in record["rows"]] == rows
    assert record["checkpoint_step"] == 0 and record["nfe"] >= 8 and record["seconds"] > 0
    assert record["sampler"] == "first-hitting" and record["processes"] == 1
    euler = invoke(
        "sample", "--checkpoint", runs["denoiser"], "-n", "3", "--sampler", "euler", "--steps", "2", "--json"
    )
    assert euler.exit_code == 0 and json.loads(euler.stdout)["nfe_per_sequence"] <= 2


def test_sample_text_and_autoregressive_checkpoints(runs):
    """A byte-level checkpoint prints decoded text (ids with --ids, text in the JSON); an
    autoregressive one samples itself and refuses a sampler."""
    text = invoke("sample", "--checkpoint", runs["bytes"], "-n", "2")
    assert text.exit_code == 0 and text.stdout.count("--- row ") == 2, text.output
    ids = invoke("sample", "--checkpoint", runs["bytes"], "-n", "2", "--ids")
    rows = [line.split() for line in ids.stdout.splitlines() if line.strip()]
    assert len(rows) == 2 and all(len(row) == 12 for row in rows)
    record = json.loads(invoke("sample", "--checkpoint", runs["bytes"], "-n", "2", "--json").stdout)
    decoded = bytes(record["rows"][0]["tokens"]).decode("utf-8", errors="replace")
    assert record["rows"][0]["text"] == decoded
    ar = invoke("sample", "--checkpoint", runs["autoregressive"], "-n", "3", "--json")
    assert ar.exit_code == 0 and len(json.loads(ar.stdout)["rows"]) == 3
    error_line(invoke("sample", "--checkpoint", runs["autoregressive"], "--sampler", "euler"), "--sampler")


def test_bad_checkpoints_and_options_are_one_line_errors(runs, tmp_path):
    """A wrong path, a truncated weights file and a garbled state.json end with one line naming
    --checkpoint and exit status 2 (no traceback); options that do not fit are named too."""
    assert "no checkpoint at" in error_line(
        invoke("sample", "--checkpoint", tmp_path / "nowhere"), "--checkpoint"
    )
    broken = tmp_path / "broken"
    save_tiny_checkpoint(broken)
    folder = next((broken / "checkpoints").glob("checkpoint-*"))
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    for command in ("sample", "likelihood"):
        error_line(invoke(command, "--checkpoint", broken), "--checkpoint")
    (folder / "state.json").write_text("{not json")
    assert "corrupt" in error_line(invoke("sample", "--checkpoint", broken), "--checkpoint")
    checkpoint = runs["denoiser"]
    error_line(invoke("sample", "--checkpoint", checkpoint, "--target", "mild"), "--target")
    error_line(invoke("sample", "--checkpoint", checkpoint, "--sampler", "euler"), "--steps")
    error_line(invoke("sample", "--checkpoint", checkpoint, "--sampler", "warp"), "--sampler")
    error_line(invoke("sample", "--checkpoint", checkpoint, "--device", "warp"), "--device")
    if not torch.cuda.is_available():
        error_line(invoke("sample", "--checkpoint", checkpoint, "--device", "cuda"), "--device")
    error_line(invoke("sample", "--device", "cpu"), "--device")
    error_line(invoke("likelihood", "--checkpoint", checkpoint, "--prompt-length", "2"), "--prompt-length")
    error_line(invoke("likelihood", "--checkpoint", runs["autoregressive"], "--method", "exact"), "--method")
    assert "has no exact law" in error_line(invoke("likelihood", "--checkpoint", runs["bytes"]), "--num")


def test_likelihood_of_target_samples_and_of_a_file(runs, tmp_path):
    """--num scores exact target samples with the exact -log pi(x) beside, and a summary in nats
    and bits per token; --input scores the file's sequences; the JSON parses."""
    result = invoke("likelihood", "--checkpoint", runs["denoiser"], "-n", "3", "--samples", "16", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert len(record["sequences"]) == 3 and record["source"] == "exact target samples"
    for row in record["sequences"]:
        assert row["exact_nll"] > 0 and row["stderr"] > 0 and row["samples"] == 16
    summary = record["summary"]
    assert summary["bits_per_token"] == pytest.approx(summary["mean_nll"] / 8 / 0.6931471805599453)
    assert summary["exact_bits_per_token"] is not None and summary["entropy_bits_per_token"] > 0
    table = invoke("likelihood", "--checkpoint", runs["denoiser"], "-n", "2", "--samples", "16")
    assert table.exit_code == 0 and "bits per token" in table.stdout and "exact" in table.stdout
    data = tmp_path / "bytes.txt"
    data.write_text(" ".join(str(b) for b in b"hello world!") + "\n")
    scored = invoke("likelihood", "--checkpoint", runs["bytes"], "--input", data, "--samples", "8", "--json")
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["sequences"][0]["exact_nll"] is None
    ar = json.loads(invoke("likelihood", "--checkpoint", runs["autoregressive"], "-n", "2", "--json").stdout)
    assert all(row["stderr"] == 0 for row in ar["sequences"])


def test_bench_splits_the_error_and_refuses_text(runs, tmp_path):
    """bench --checkpoint writes split.json and split.md and prints the table; refused samplers
    are listed with their reason; the TV triangle inequality holds on every computed row; a text
    checkpoint and an autoregressive one are refused with one line."""
    out = tmp_path / "split"
    result = invoke(
        "bench", "--checkpoint", runs["short"], "--samplers", "euler,first-hitting,remdm:variant=confidence",
        "--steps", "2,4", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Model and sampler error" in result.stdout
    record = json.loads((out / "split.json").read_text())
    assert record["checkpoint_step"] == 0 and record["model_tv"] > 0
    rows = record["rows"]
    assert [(row["sampler"], row["steps"]) for row in rows] == [
        ("euler", 2), ("euler", 4), ("first-hitting", None),
        ("remdm:variant=confidence", 2), ("remdm:variant=confidence", 4),
    ]  # fmt: skip
    for row in rows[:3]:
        assert row["refusal"] is None and row["total_tv"] <= row["model_tv"] + row["sampler_tv"] + 1e-12
    assert all("per-token memory" in row["refusal"] for row in rows[3:])
    report = (out / "split.md").read_text()
    assert "total TV ≤ model TV + sampler TV" in report and "No exact law" in report
    again = invoke("bench", "--checkpoint", runs["short"], "--samplers", "euler", "--out", out, "--json-only")
    assert again.exit_code == 2 and "--force" in again.output
    printed = invoke(
        "bench", "--checkpoint", runs["short"], "--samplers", "euler", "--out", out, "--json-only", "--force"
    )
    assert printed.exit_code == 0 and json.loads(printed.stdout)["steps"] == [2, 4]
    assert "text" in error_line(
        invoke("bench", "--checkpoint", runs["bytes"], "--out", tmp_path / "b"), "--checkpoint"
    )
    error_line(
        invoke("bench", "--checkpoint", runs["autoregressive"], "--out", tmp_path / "c"), "--checkpoint"
    )
    error_line(
        invoke("bench", "--checkpoint", runs["short"], "--targets", "mild", "--out", tmp_path / "d"),
        "--targets",
    )
    error_line(
        invoke("bench", "--checkpoint", runs["short"], "--max-seconds", "0", "--out", tmp_path / "e"),
        "--max-seconds",
    )
    error_line(invoke("bench", "--workers", "2", "--out", tmp_path / "f"), "--workers")


# -- two processes ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rank(rank: int, port: int, commands: list[list[str]]) -> None:
    """One process of a two-process job (the variables torchrun sets), running each command."""
    os.environ.update(
        {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank), "LOCAL_RANK": str(rank),
         "WORLD_SIZE": "2"}
    )  # fmt: skip
    torch.set_num_threads(1)
    for index, args in enumerate(commands):
        os.environ["MASTER_PORT"] = str(port + index)
        try:
            build_app()(args=args, standalone_mode=False)
        except SystemExit as exit:
            if exit.code:
                raise


def test_two_processes_give_the_rows_and_scores_of_one(runs, tmp_path):
    """Under two gloo processes (torchrun's variables), sample --checkpoint and likelihood
    --checkpoint write, from rank 0 only, the same rows and the same per-sequence estimates as one
    process (7 rows: the processes take 4 and 3)."""
    checkpoint = str(runs["denoiser"])
    common = ["--checkpoint", checkpoint, "-n", "7", "--json", "--device", "cpu"]
    sample = ["sample", *common, "--seed", "2", "--sampler", "euler", "--steps", "3"]
    likelihood = ["likelihood", *common, "--samples", "16", "--seed", "4"]
    port = _free_port()
    commands = [
        [*sample, "--output", str(tmp_path / "sample-2.json")],
        [*likelihood, "--output", str(tmp_path / "likelihood-2.json")],
    ]
    context = torch.multiprocessing.start_processes(
        _rank, args=(port, commands), nprocs=2, join=False, start_method="fork"
    )
    deadline = time.monotonic() + 120
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the two processes did not finish within 120 s")
    one_sample = invoke(*sample, "--output", tmp_path / "sample-1.json")
    one_likelihood = invoke(*likelihood, "--output", tmp_path / "likelihood-1.json")
    assert one_sample.exit_code == 0 and one_likelihood.exit_code == 0, (
        one_sample.output + one_likelihood.output
    )
    two, one = (json.loads((tmp_path / f"sample-{n}.json").read_text()) for n in (2, 1))
    assert two["processes"] == 2 and one["processes"] == 1
    assert two["rows"] == one["rows"] and len(one["rows"]) == 7
    two, one = (json.loads((tmp_path / f"likelihood-{n}.json").read_text()) for n in (2, 1))
    assert two["sequences"] == one["sequences"] and two["summary"] == one["summary"]
    assert len({tuple(row["tokens"]) for row in one["sequences"]}) > 1
