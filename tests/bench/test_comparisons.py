"""The bench's comparisons: the gap to the limit, EB against top-k, certified sampling against EB."""

from dataclasses import replace

import pytest

from unmask.bench.comparisons import (
    CERTIFIED_BUDGETS,
    certified_comparison,
    eb_against_top_k,
    limit_gaps,
    matched_gamma,
)
from unmask.bench.config import BenchConfig, TargetSpec
from unmask.bench.run import limit_tv, run_cell
from unmask.bench.specs import parse_sampler_spec
from unmask.bench.suite import SUITE
from unmask.exact import best_plan
from unmask.exact.planner_bound import planner_bound
from unmask.samplers.planned import EntropyBounded

ISLANDS = TargetSpec("islands")
CONFIG = BenchConfig(targets=(ISLANDS,), samples=20)


def cells_for(target: TargetSpec, texts: list[str], steps: list[int | None]):
    config = replace(CONFIG, targets=(target,))
    return [
        run_cell(target, parse_sampler_spec(text, "masked"), step, config)
        for text in texts
        for step in steps
        if (step is None) == (text.partition(":")[0] in ("eb", "first-hitting"))
    ]


@pytest.fixture(scope="module")
def island_cells():
    texts = ["top-k", "k-random", "dilated", "first-hitting", "eb:gamma=0.01", "eb:gamma=0.1", "eb:gamma=1.0"]
    return cells_for(ISLANDS, texts, [None, 2, 3, 4])


def test_limit_is_the_best_plan_and_zero_from_length_calls():
    """Cell limits are best_plan's TV below L calls and 0 from L calls on."""
    target = SUITE["mild"].at("masked")
    assert limit_tv(TargetSpec("mild"), 2) == pytest.approx(best_plan(target, 2, "tv").tv, abs=0)
    assert limit_tv(TargetSpec("mild"), target.length) == 0.0
    assert limit_tv(TargetSpec("mild"), 64) == 0.0


def test_no_fixed_plan_sampler_goes_below_the_limit(island_cells):
    """Top-k and dilated follow one plan per state sequence with exact conditionals; on islands
    the limit (the best fixed plan) is at most their TV at every budget, and every gap row is
    the lowest TV within the budget minus the limit."""
    for cell in island_cells:
        if cell.sampler in ("top-k", "dilated") and cell.limit_tv is not None:
            assert cell.limit_tv <= cell.tv + 1e-12, cell
    rows = limit_gaps(island_cells)
    assert rows
    for row in rows:
        within = [c.tv for c in island_cells if c.nfe_budget <= row["budget"]]
        assert row["best_tv"] == min(within)
        assert row["gap"] == pytest.approx(row["best_tv"] - row["limit_tv"], abs=1e-15)


def test_eb_beats_top_k_at_matched_calls_on_islands(island_cells):
    """Spec §4.7 (d): on a target with heterogeneous entropies, at every top-k budget K below L
    where an EB run expects at most K calls, EB's TV is lower."""
    rows = eb_against_top_k(island_cells)
    compared = [row for row in rows if row["eb_lower"] is not None]
    assert compared, rows
    assert all(row["eb_lower"] for row in compared), compared
    assert all(row["eb_expected_calls"] <= row["calls"] + 1e-9 for row in compared)


def test_certified_meets_its_budget_on_every_bench_target():
    """For every bench target and eps in {0.01, 0.05, 0.2}: exact KL <= its certified bound <= eps,
    and the matched EB gamma meets gamma E_model[#steps] <= eps."""
    config = BenchConfig(targets=tuple(TargetSpec(name) for name in SUITE), samples=20)
    rows = certified_comparison(config)
    assert {(row.target, row.kl_budget) for row in rows} == {
        (name, eps) for name in SUITE for eps in CERTIFIED_BUDGETS
    }
    for row in rows:
        assert row.certified_kl <= row.certified_bound + 1e-12 <= row.kl_budget + 1e-12, row
        assert row.eb_kl >= -1e-12 and row.certified_calls >= 1
        target = SUITE[row.target].at("masked")
        steps = planner_bound(target, EntropyBounded(gamma=row.eb_gamma)).expected_steps
        assert row.eb_gamma * steps <= row.kl_budget + 1e-12
    assert any(row.certified_calls < SUITE[row.target].at("masked").length for row in rows)


def test_matched_gamma_starts_from_the_a_priori_choice():
    """The matched gamma is at least eps / L, whose bound holds because #steps <= L."""
    target = SUITE["mild"].at("masked")
    assert matched_gamma(target, 0.05) >= 0.05 / target.length


def test_default_command_line_run_includes_the_per_call_study_and_quick_runs_do_not():
    """The default `unmask bench` runs the accuracy-per-call study; --quick, --targets,
    --samplers and --steps runs do not (they are about the cells asked for)."""
    from unmask.cli.bench_command import build_config

    assert build_config(None, None, None, None, 0, False).per_call
    assert not build_config(None, None, None, None, 0, True).per_call
    assert not build_config("mild", None, None, None, 0, False).per_call
    assert not build_config(None, "euler", None, None, 0, False).per_call
    assert not build_config(None, None, "4", None, 0, False).per_call
    assert not build_config(None, None, None, None, 0, False, "uniform").per_call


def test_report_shows_every_comparison_it_was_given(island_cells):
    """The record and report carry the limit gaps, EB against top-k, the certified rows and the
    per-call study (as JSON with finite numbers or strings, and as report sections)."""
    import json

    from unmask.bench.fit import fit_orders
    from unmask.bench.per_call import run_per_call
    from unmask.bench.report import bench_record, markdown_report

    config = replace(CONFIG, per_call=True)
    certified = certified_comparison(config)
    study = run_per_call(vocab_sizes=(2,), lengths=(4,), seeds=(0,), calls=(2,))
    record = bench_record(config, island_cells, fit_orders(island_cells), 1.0, certified, study)
    json.dumps(record, allow_nan=False)
    assert record["limit_gaps"] and record["eb_against_top_k"] and record["certified"]
    assert len(record["per_call"]["rows"]) == 1
    report = markdown_report(record, None)
    headings = ("## Gap to the limit", "## EB-Sampler against", "## Certified sampling", "## Accuracy per")
    assert all(heading in report for heading in headings)
