"""Files written by `unmask sample`, `unmask likelihood` and `unmask bench`: special files, links,
--force, modes, stdout, pre-flight errors and where progress goes."""

import json
import os
import stat
import threading

import pytest
from typer.testing import CliRunner

from unmask.cli import bench_command, likelihood_command, sample_command
from unmask.cli.app import build_app
from unmask.targets import MarkovChain

runner = CliRunner()
app = build_app()

SAMPLE = ["sample", "--target", "copies:length=3", "-n", "2"]
LIKELIHOOD = ["likelihood", "--target", "mild:length=3", "-n", "2", "--samples", "8"]
BENCH = ["bench", "--targets", "mild:length=3", "--samplers", "first-hitting", "--samples", "10"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def no_work(monkeypatch):
    """Make the work of every command raise, so a test passes only if it stopped before it."""

    def refuse(*args, **kwargs):
        raise AssertionError("the command started its work")

    monkeypatch.setattr(sample_command, "sample", refuse)
    monkeypatch.setattr(likelihood_command, "nelbo", refuse)
    monkeypatch.setattr(bench_command, "run_bench", refuse)


def one_error_line(result, option):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith(f"Error: {option}: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "command,option", [(SAMPLE, "--output"), (LIKELIHOOD, "--output"), (BENCH[:1], "--out")]
)
def test_existing_file_needs_force_before_any_work(tmp_path, no_work, command, option):
    """An existing file is refused without --force with one line, exit 2, before any work, and is
    left unchanged (for bench: a bench file already in the --out folder)."""
    if command == BENCH[:1]:
        existing, where = tmp_path / "bench.json", tmp_path
    else:
        existing = where = tmp_path / "out.txt"
    existing.write_text("keep me")
    line = one_error_line(invoke(*command, option, where), option)
    assert line.endswith("exists; pass --force to overwrite it") and str(existing) in line
    assert existing.read_text() == "keep me"


def test_force_replaces_and_keeps_the_mode(tmp_path):
    """With --force an existing file is replaced, keeping its mode: sample, likelihood and a
    --json-only bench whose bench.json already exists."""
    path = tmp_path / "seqs.txt"
    path.write_text("old")
    path.chmod(0o640)
    result = invoke(*SAMPLE, "--output", path, "--force")
    assert result.exit_code == 0, result.output
    assert len(path.read_text().splitlines()) == 2 and stat.S_IMODE(path.stat().st_mode) == 0o640
    scores = tmp_path / "scores.json"
    scores.write_text("old")
    result = invoke(*LIKELIHOOD, "--output", scores, "--force")
    assert result.exit_code == 0, result.output
    assert json.loads(scores.read_text())["target"] == "mild:length=3"
    (tmp_path / "bench.json").write_text("old")
    result = invoke(*BENCH, "--out", tmp_path, "--json-only", "--force")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "bench.json").read_text())["cells"]


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_created_files_follow_the_umask(tmp_path, mask):
    """Every created file has mode 0o666 & ~umask (sample, likelihood, and bench's three files)."""
    previous = os.umask(mask)
    try:
        assert invoke(*SAMPLE, "--output", tmp_path / "s.txt").exit_code == 0
        assert invoke(*LIKELIHOOD, "--output", tmp_path / "l.json").exit_code == 0
        result = invoke(*BENCH, "--out", tmp_path / "bench")
        assert result.exit_code == 0, result.output
    finally:
        os.umask(previous)
    files = [tmp_path / "s.txt", tmp_path / "l.json", *(tmp_path / "bench").iterdir()]
    assert len(files) >= 4  # bench.json, report.md (+ bench.png with matplotlib)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path


def test_dev_null_and_fifo_are_written_in_place(tmp_path):
    """--output /dev/null stays a character device; a FIFO receives the sequences and stays a
    FIFO; neither needs --force."""
    assert invoke(*SAMPLE, "--output", "/dev/null").exit_code == 0
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    result = invoke(*LIKELIHOOD, "--output", fifo)
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert json.loads(received[0])["target"] == "mild:length=3"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_symlink_keeps_the_link_and_writes_its_target(tmp_path):
    """--output through a symlink writes the link's target; the link stays a link."""
    target = tmp_path / "real.txt"
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    result = invoke(*SAMPLE, "--output", link)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and len(target.read_text().splitlines()) == 2


def test_dash_is_standard_output():
    """--output - writes only the intended output on stdout: the sequences (sample) or the JSON
    record (likelihood, whose table then goes to stderr)."""
    result = invoke(*SAMPLE, "--output", "-")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    assert len(rows) == 2 and all(len(row) == 3 for row in rows)
    result = invoke(*LIKELIHOOD, "--output", "-")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["sequences"]) == 2
    assert not os.path.exists("-")


@pytest.mark.parametrize(
    "command,option", [(SAMPLE, "--output"), (LIKELIHOOD, "--output"), (BENCH[:1], "--out")]
)
def test_unwritable_destinations_fail_before_any_work(tmp_path, no_work, command, option):
    """A folder given as a file, or a place under a regular file, fails with one line naming the
    option, exit 2, before any work (bench: a file or "-" given as the folder, or bench.json a
    folder)."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    if command == BENCH[:1]:
        (tmp_path / "out" / "bench.json").mkdir(parents=True)
        places = [blocker, blocker / "sub", tmp_path / "out", "-"]
    else:
        places = [tmp_path, blocker / "sub" / "out.txt"]
    for place in places:
        one_error_line(invoke(*command, option, place), option)


def test_progress_goes_to_stderr(tmp_path):
    """Progress bars are drawn on stderr: stdout holds only the table (likelihood, bench) or the
    sequences (sample)."""
    result = invoke(*LIKELIHOOD)
    assert result.exit_code == 0, result.output
    assert "likelihood" in result.stderr and "likelihood" not in result.stdout
    assert "NFE" in result.stdout
    result = invoke(*BENCH, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert any(line.startswith("bench ") for line in result.stderr.splitlines())
    assert not any(line.startswith("bench ") for line in result.stdout.splitlines())
    assert "Convergence order" in result.stdout
    result = invoke(*SAMPLE)
    assert result.exit_code == 0 and all(len(line.split()) == 3 for line in result.stdout.splitlines())


@pytest.mark.parametrize("command", [SAMPLE, LIKELIHOOD, BENCH])
def test_negative_seed_has_the_library_rule(no_work, command):
    """--seed -1 fails like the library's seed check (same words), exit 2, before any work."""
    line = one_error_line(invoke(*command, "--seed", "-1"), "--seed")
    with pytest.raises(ValueError) as library:
        MarkovChain.random(vocab_size=3, length=5, seed=-1)
    assert line == "Error: --seed: must be a non-negative integer, got -1"
    assert str(library.value) == "seed " + line.removeprefix("Error: --seed: ")


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["--target", "mild:length=17"], ["L <= 16", "time-free"]),
        (["--target", "mild:length=8", "--process", "uniform"], ["at most 4096", "discrete"]),
    ],
)
def test_exact_method_above_its_limit(no_work, args, fragments):
    """--method exact on a target above the exact method's limit is one line naming --method, the
    limit and what to use instead, before any work."""
    line = one_error_line(invoke("likelihood", "--method", "exact", *args), "--method")
    assert all(fragment in line for fragment in fragments), line
