"""`unmask train`, driven in-process through typer's runner."""

import json

from typer.testing import CliRunner

from unmask.cli.app import build_app
from unmask.train.trainer import read_log

runner = CliRunner()
app = build_app()


def invoke(*args):
    return runner.invoke(app, ["train", *[str(a) for a in args]])


def test_a_short_run_writes_its_folder_and_a_summary(tmp_path):
    """A short run on the built-in target writes a checkpoint, the log, the summary (JSON on
    stdout with --json, the same in summary.json) with the exact NELBO of the scored validation
    sequences beside the target's entropy; --resume of the finished run takes no step."""
    out = tmp_path / "run"
    result = invoke("--out", out, "--steps", "12", "--batch-size", "16", "--score-sequences", "32", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["data"]["name"] == "hmm"
    assert summary["score"]["method"] == "NELBO (exact)" and summary["score"]["sequences"] == 32
    entropy = summary["entropy"]
    assert entropy["entropy_per_token"] > 0 and entropy["ratio"] > 0.9
    split = summary["split"]  # exact laws: the model's own KL, and every listed sampler's parts
    assert split["model_kl"] >= 0 and 0 <= split["model_tv"] <= 1
    for row in split["rows"]:
        assert row["refusal"] or row["total_tv"] <= split["model_tv"] + row["sampler_tv"] + 1e-12
    assert (out / "checkpoints" / "latest").is_file()
    assert [r["step"] for r in read_log(out / "log.jsonl")][-1] == 12
    again = invoke(
        "--out", out, "--steps", "12", "--batch-size", "16", "--score-sequences", "8", "--resume", "--json"
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["resumed_from"] == 12


def test_an_autoregressive_baseline_trains_and_is_scored_exactly(tmp_path):
    """--kind autoregressive trains the baseline and scores it by its exact log-likelihood."""
    result = invoke(
        "--out", tmp_path / "ar", "--kind", "autoregressive", "--steps", "4", "--batch-size", "8",
        "--score-sequences", "16", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["score"]["method"] == "exact log-likelihood"


def test_bad_options_end_with_one_line_errors(tmp_path):
    """Bad options exit 2 with a one-line error naming the option, before any file is written;
    a second run into a used folder is refused with the way out."""
    cases = [
        (["--kind", "sideways"], "--kind"),
        (["--model", "huge"], "--model"),
        (["--steps", "0"], "--steps"),
        (["--data", str(tmp_path / "missing.txt")], "--data"),
        (["--resume", "--force"], "--force"),
        (["--score-sequences", "0"], "--score-sequences"),
    ]
    for args, option in cases:
        result = invoke("--out", tmp_path / "bad", *args)
        assert result.exit_code == 2, (args, result.output)
        assert f"Error: {option}" in result.output, (args, result.output)
    assert not (tmp_path / "bad").exists()
    first = invoke(
        "--out",
        tmp_path / "used",
        "--steps",
        "2",
        "--batch-size",
        "8",
        "--score-sequences",
        "8",
        "--no-split",
    )
    assert first.exit_code == 0, first.output
    second = invoke("--out", tmp_path / "used", "--steps", "2", "--batch-size", "8")
    assert second.exit_code == 2 and "--resume" in second.output


def test_compare_autoregressive_reports_both_models(tmp_path):
    """--compare-autoregressive on a text file trains both models and writes one report naming
    both, with its JSON as the summary; on the built-in target it is refused."""
    text = tmp_path / "code.py"
    text.write_text("def f(x):\n    return x + 1\n\n" * 40)
    out = tmp_path / "cmp"
    result = invoke(
        "--data", text, "--out", out, "--compare-autoregressive", "--steps", "3", "--length", "16",
        "--batch-size", "4", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = (out / "comparison.md").read_text()
    assert "autoregressive" in report and "diffusion" in report
    assert json.loads(result.stdout)["report"] == str(out / "comparison.md")
    refused = invoke("--out", tmp_path / "hmm", "--compare-autoregressive", "--steps", "2")
    assert refused.exit_code == 2 and "text data" in refused.output
