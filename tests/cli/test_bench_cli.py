"""`unmask bench` and `unmask sample`, driven in-process through typer's runner."""

import json
import os

import pytest
from typer.testing import CliRunner

from unmask.cli.app import build_app

runner = CliRunner()
app = build_app()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = invoke("bench", "--quick", "--out", out)
    return result, out


def test_quick_run_writes_every_output(quick_run):
    """The quick smoke run exits 0, prints the tables and writes JSON, figure and report."""
    result, out = quick_run
    assert result.exit_code == 0, result.output
    assert "Convergence order" in result.output and "Best sampler" in result.output
    for name in ("bench.json", "bench.png", "report.md"):
        assert (out / name).stat().st_size > 0, name
    report = (out / "report.md").read_text()
    assert "![TV against NFE](bench.png)" in report and "## Best sampler" in report


def test_quick_run_json_has_exact_first_hitting_and_the_resolved_config(quick_run):
    """bench.json holds every number: first-hitting TV at the float64 floor, every cell's exact
    TV, the resolved configuration and the seed."""
    _, out = quick_run
    record = json.loads((out / "bench.json").read_text())
    assert record["config"]["seed"] == 0 and record["config"]["steps"] == [4, 8, 16]
    fhs = [c for c in record["cells"] if c["sampler"] == "first-hitting"]
    assert fhs and all(c["tv"] < 1e-12 and c["method"] == "exact" for c in fhs)
    euler = [c for c in record["cells"] if c["sampler"] == "euler" and c["process"] == "masked"]
    assert [c["steps"] for c in euler] == [4, 8, 16]
    assert all(0 < c["tv"] < 1 and c["kl"] >= 0 for c in euler)


def test_orders_against_theory(tmp_path):
    """On the mild target the fitted orders are near 1 for Euler, tau-leaping and Tweedie, and
    clearly above 1 for the trapezoid (exact laws, steps 16..64)."""
    result = invoke(
        "bench", "--targets", "mild", "--samplers", "euler,tau-leaping,tweedie,trapezoidal",
        "--steps", "16:64", "--samples", "50", "--out", tmp_path, "--json-only",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "bench.json").read_text())
    orders = {(f["process"], f["sampler"]): f["measured"] for f in record["orders"]}
    for name in ("euler", "tau-leaping", "tweedie"):
        assert 0.8 <= orders[("masked", name)] <= 1.2, (name, orders)
    assert orders[("masked", "trapezoidal")] >= 1.4, orders


def test_json_only_prints_the_record(tmp_path):
    """--json-only prints the JSON record on stdout and writes only bench.json."""
    result = invoke(
        "bench", "--targets", "mild", "--samplers", "first-hitting", "--samples", "20", "--out", tmp_path,
        "--json-only",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["cells"][0]["sampler"] == "first-hitting"
    assert sorted(os.listdir(tmp_path)) == ["bench.json"]


def test_sampler_hyperparameters(tmp_path):
    """name:key=value reaches the sampler and is recorded."""
    result = invoke(
        "bench", "--targets", "mild", "--samplers", "trapezoidal:theta=0.4", "--steps", "4",
        "--samples", "20", "--out", tmp_path, "--json-only",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "bench.json").read_text())
    assert {c["sampler"] for c in record["cells"]} == {"trapezoidal:theta=0.4"}


@pytest.mark.parametrize(
    ("args", "option", "fragment"),
    [
        (["--targets", "nope"], "--targets", "unknown target 'nope'"),
        (["--targets", "mild:length=x"], "--targets", "length must be an integer"),
        (["--samplers", "warp-drive"], "--samplers", "unknown sampler 'warp-drive'"),
        (["--samplers", "trapezoidal:theta"], "--samplers", "malformed hyperparameter"),
        (["--samplers", "trapezoidal:theta=2"], "--samplers", "theta must lie in (0, 1)"),
        (["--samplers", "euler:warp=3"], "--samplers", "no hyperparameter 'warp'"),
        (["--steps", "0,4"], "--steps", "positive integers, got 0"),
        (["--steps", "4,-8"], "--steps", "positive integers, got -8"),
        (["--steps", "four"], "--steps", "invalid literal"),
        (["--samples", "0"], "--samples", "positive integer"),
    ],
)
def test_bad_options_fail_with_one_line_before_any_work(tmp_path, args, option, fragment):
    """A bad option ends with one line naming it, exit status 2, and no output written."""
    out = tmp_path / "out"
    result = invoke("bench", *args, "--out", out)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {option}:") and fragment in lines[0], lines
    assert not out.exists()


def test_unwritable_output_folder(tmp_path):
    """An output folder that cannot be created (a file is in the way) fails on --out, exit 2."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke("bench", "--quick", "--out", blocker / "sub")
    assert result.exit_code == 2
    assert result.output.startswith("Error: --out: cannot write to") and len(result.output.splitlines()) == 1


@pytest.mark.parametrize("command", [[], ["bench"], ["sample"]])
def test_help_explains(command):
    """--help works for the tool and every command."""
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "Usage" in result.output


def test_sample_prints_sequences_and_nfe(tmp_path):
    """`unmask sample` writes one sequence per line and reports the NFE used."""
    path = tmp_path / "seqs.txt"
    result = invoke(
        "sample", "--target", "copies:length=4", "--sampler", "first-hitting", "-n", "5", "--output", path
    )
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in path.read_text().splitlines()]
    assert len(rows) == 5 and all(len(set(row)) == 1 and len(row) == 4 for row in rows)  # copies
    assert "NFE:" in result.output
    printed = invoke("sample", "--sampler", "tweedie", "--steps", "4", "-n", "3", "--process", "uniform")
    assert printed.exit_code == 0 and len([ln for ln in printed.stdout.splitlines() if ln]) == 3


def test_sample_bad_options():
    """Bad sample options fail with one line naming the option, exit 2."""
    for args, option in (
        (["--target", "nope"], "--target"),
        (["--sampler", "nope"], "--sampler"),
        (["--process", "gaussian"], "--process"),
        (["-n", "0"], "--num"),
        (["--sampler", "euler", "--steps", "0"], "--steps"),
    ):
        result = invoke("sample", *args)
        assert result.exit_code == 2 and result.output.startswith(f"Error: {option}:"), (args, result.output)


def test_large_target_gets_monte_carlo_estimates_with_intervals(tmp_path):
    """A target too large for an exact law ((V+1)^L = 4^12 partial states) is measured by Monte
    Carlo under its own name: pair TV (a lower bound on TV, never labelled TV) and leakage, with
    95% intervals that contain their estimates; the exact sampler's pair-TV interval contains 0;
    the report and the console say pair TV, and unseparated samplers are reported as a tie."""
    result = invoke(
        "bench", "--targets", "copies:length=12", "--samplers", "euler,first-hitting", "--process",
        "masked", "--steps", "4,8", "--samples", "400", "--out", tmp_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "bench.json").read_text())
    cells = record["cells"]
    assert [c["method"] for c in cells] == ["monte-carlo"] * 3
    for cell in cells:
        assert cell["tv"] is None and cell["kl"] is None and "tv_interval" not in cell
        low, high = cell["pair_tv_interval"]
        assert 0 <= low <= cell["pair_tv"] <= high <= 1
        assert cell["pair_tv"] <= cell["pair_tv_plugin"] and cell["pair_tv_null_bias"] > 0
        leak_low, leak_high = cell["leakage_interval"]
        assert leak_low <= cell["leakage"] <= leak_high
    euler = [c for c in cells if c["sampler"] == "euler"]
    assert all(c["leakage"] > 0 for c in euler)  # parallel Euler steps on copies leak at these step counts
    (fhs,) = [c for c in cells if c["sampler"] == "first-hitting"]
    assert fhs["pair_tv_interval"][0] == 0 and fhs["leakage"] == 0
    assert all(row["metric"] == "pair_tv" and row["tv"] is None for row in record["best_per_budget"])
    report = (tmp_path / "report.md").read_text()
    assert "pair TV" in report and "lower bound on the TV" in report
    assert "pair TV" in result.output


def test_process_option():
    """--process restricts the run to one process; a bad value is a one-line error."""
    result = invoke("bench", "--process", "gaussian")
    assert result.exit_code == 2 and result.output.startswith("Error: --process:")
