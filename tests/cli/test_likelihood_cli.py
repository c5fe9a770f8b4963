"""`unmask likelihood`, driven in-process through typer's runner."""

import json

import pytest
from typer.testing import CliRunner

from unmask.cli.app import build_app

runner = CliRunner()
app = build_app()


def invoke(*args):
    return runner.invoke(app, ["likelihood", *[str(a) for a in args]])


def test_scores_target_samples_and_writes_json(tmp_path):
    """The default run prints the table and writes a JSON record whose estimates sit within 4
    standard errors of the exact -log pi(x) it also records (time-free, 512 draws)."""
    out = tmp_path / "scores.json"
    result = invoke("--target", "mild", "--num", "4", "--samples", "512", "--output", out)
    assert result.exit_code == 0, result.output
    assert "exact" in result.stdout and "NFE" in result.stdout
    record = json.loads(out.read_text())
    assert record["method"] == "time-free" and record["target"] == "mild" and record["nfe"] >= 1
    assert len(record["sequences"]) == 4
    for row in record["sequences"]:
        assert abs(row["nll"] - row["exact_nll"]) <= 4 * row["stderr"], row
        assert (
            row["samples"] == 512 and row["scored_tokens"] == len(row["tokens"]) and row["bits_per_token"] > 0
        )


def test_json_only_input_file_and_exact_method(tmp_path):
    """--input scores the file's sequences; --json-only prints only the record; the exact method
    reproduces -log pi(x) with zero standard error."""
    data = tmp_path / "seqs.txt"
    data.write_text("0 1 2 1\n\n2 2 2 2\n")
    result = invoke("--target", "dirichlet:length=4", "--input", data, "--method", "exact", "--json-only")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert [row["tokens"] for row in record["sequences"]] == [[0, 1, 2, 1], [2, 2, 2, 2]]
    for row in record["sequences"]:
        assert abs(row["nll"] - row["exact_nll"]) < 1e-10 and row["stderr"] == 0


def test_conditional_target_stderr_and_uniform_process():
    """--prompt-length scores the response only; --target-stderr stops at the target or the cap;
    the uniform process runs its discrete bound."""
    result = invoke(
        "--target", "strong", "--num", "3", "--prompt-length", "2", "--target-stderr", "0.2",
        "--max-samples", "4000", "--json-only",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for row in json.loads(result.stdout)["sequences"]:
        assert row["scored_tokens"] == len(row["tokens"]) - 2
        assert row["stderr"] <= 0.2 or row["samples"] == 4000
    result = invoke(
        "--process", "uniform", "--method", "discrete", "--steps", "4", "--num", "2", "--json-only"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["process"] == "uniform"


@pytest.mark.parametrize(
    "args,option",
    [
        (["--samples", "0"], "--samples"),
        (["--method", "bogus"], "--method"),
        (["--process", "uniform", "--method", "time-free"], "--method"),
        (["--method", "discrete"], "--steps"),
        (["--variant", "antithetic"], "--variant"),
        (["--eps", "2"], "--eps"),
        (["--target-stderr", "0"], "--target-stderr"),
        (["--max-samples", "10"], "--max-samples"),
        (["--target", "nope"], "--target"),
        (["--prompt-length", "9"], "--prompt-length"),
        (["--num", "0"], "--num"),
    ],
)
def test_bad_options_fail_before_any_work(args, option):
    """A bad option ends with one line 'Error: OPTION: ...' and exit status 2."""
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"Error: {option}:"), result.stderr


@pytest.mark.parametrize(
    "content,message",
    [
        ("0 1 3 1\n", "mask id"),
        ("0 1 7 1\n", "outside the vocabulary"),
        ("0 1 2\n", "3 tokens"),
        ("0 a 2 1\n", "integers"),
        ("\n\n", "no sequence"),
    ],
)
def test_bad_input_files(tmp_path, content, message):
    """Mask ids, out-of-vocabulary tokens, wrong lengths, non-integers and empty files are refused,
    naming the line."""
    data = tmp_path / "seqs.txt"
    data.write_text(content)
    result = invoke("--target", "mild:length=4", "--input", data)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --input:") and message in result.stderr, result.stderr


def test_unreached_target_stderr_and_unreliable_error_bars_are_reported(tmp_path):
    """A --target-stderr that --max-samples cannot reach gets a warning line naming both and a
    per-sequence reached_target false in the JSON; the time-integral run says its error bars are
    unreliable (heavy tail), in the record and on standard error."""
    out = tmp_path / "scores.json"
    result = invoke(
        "--target", "mild", "--num", "3", "--method", "time-integral", "--samples", "16",
        "--target-stderr", "0.001", "--max-samples", "64", "--output", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        "3 of 3 sequences (stderr marked *) stopped at --max-samples 64 before reaching --target-stderr 0.001"
        in (result.stderr)
    )
    assert "error bars are unreliable: heavy-tailed" in result.stderr
    record = json.loads(out.read_text())
    assert (
        record["reliable"] is False and "heavy-tailed" in record["caveat"] and record["unreached_target"] == 3
    )
    for row in record["sequences"]:
        assert row["reached_target"] is False and row["samples"] == 64 and row["units"] == 64
        assert row["ci95_low"] < row["nll"] < row["ci95_high"]


def test_reliable_run_has_no_warning_and_reached_targets():
    """time-free with a reachable --target-stderr: no warning, reached_target true everywhere."""
    result = invoke("--target", "mild", "--num", "2", "--target-stderr", "2.0", "--json-only")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    record = json.loads(result.stdout)
    assert record["reliable"] is True and record["caveat"] is None and record["warnings"] == []
    assert all(row["reached_target"] is True for row in record["sequences"])
