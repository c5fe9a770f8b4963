"""Monte Carlo cells among exact ones: a sampler without an exact law (ReMDM-conf) is measured by
pair TV and leakage with intervals on any bench target, chains and tables alike (exact pair
marginals of a table summed from it, equal to the chain formula on a chain); exact cells carry their
exact pair TV beside; the record, the report and the figure take a target with both kinds."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from unmask.bench.config import EXTRA_DEFAULT_SAMPLERS, BenchConfig, TargetSpec
from unmask.bench.estimates import MAX_TABLE_STATES, law_pair_marginals, pair_marginals, pair_tv_value
from unmask.bench.figure import write_figure
from unmask.bench.fit import best_per_budget, fit_orders
from unmask.bench.report import bench_record, markdown_report
from unmask.bench.run import run_cell
from unmask.bench.specs import parse_sampler_spec
from unmask.bench.suite import SUITE
from unmask.exact import output_law
from unmask.targets import MarkovChain, Table

CONFIG = BenchConfig(targets=(TargetSpec("copies"),), samples=400, steps=(4, 8))
CONFIDENCE = "remdm:variant=confidence"


def test_pair_marginals_of_a_table_equal_the_chain_formula() -> None:
    """The same law as a chain (closed form) and as a Table (summed from the table): equal pair
    marginals to 1e-12; every bench target's pair marginals are distributions (sum 1 per pair)."""
    chain = MarkovChain.random(vocab_size=3, length=5, concentration=0.5, seed=3)
    assert torch.allclose(pair_marginals(Table(chain.probs())), pair_marginals(chain), rtol=0, atol=1e-12)
    for name, bench_target in SUITE.items():
        pairs = pair_marginals(bench_target.at("masked"))
        assert pairs.shape == (4, 3, 3), name
        assert torch.allclose(pairs.sum(dim=(1, 2)), torch.ones(4, dtype=torch.float64), atol=1e-12), name


def test_pair_marginals_refuse_a_large_table_target() -> None:
    """A non-chain target whose table would exceed MAX_TABLE_STATES entries raises before building
    it, naming its size."""
    big = SimpleNamespace(vocab_size=2, length=21)
    assert MAX_TABLE_STATES < 2**21
    with pytest.raises(ValueError, match=r"no closed-form pair marginals.*V\^L = 2,097,152"):
        pair_marginals(big)


@pytest.mark.parametrize("target", ["copies", "islands"])
def test_confidence_cells_are_monte_carlo_with_intervals(target: str) -> None:
    """ReMDM-conf on copies (a chain) and islands (a Table), 4 steps, 400 samples: a monte-carlo
    cell (no TV or KL) whose 95% pair-TV interval lies in [0, 1] and contains the estimate, with a
    leakage interval around its leakage; ReMDM-cap on the same target stays exact, and its pair TV
    is the exact one, from its exact law."""
    spec = TargetSpec(target)
    config = replace(CONFIG, targets=(spec,))
    cell = run_cell(spec, parse_sampler_spec(CONFIDENCE, "masked"), 4, config)
    assert cell.method == "monte-carlo" and cell.tv is None and cell.kl is None
    low, high = cell.pair_tv_interval
    assert 0 <= low <= cell.pair_tv <= high <= 1 and high > low
    leak_low, leak_high = cell.leakage_interval
    assert leak_low <= cell.leakage <= leak_high
    assert cell.predicted == "none"
    cap = run_cell(spec, parse_sampler_spec("remdm", "masked"), 4, config)
    assert cap.method == "exact" and cap.pair_tv_interval is None
    bench_target = SUITE[target].at("masked")
    law = output_law(bench_target, "remdm", 4)
    expected = pair_tv_value(law_pair_marginals(law), pair_marginals(bench_target))
    assert abs(cap.pair_tv - expected) < 1e-12


def test_report_and_figure_take_mixed_cells(tmp_path) -> None:
    """copies at 4 and 8 steps with Tweedie (exact) and ReMDM-conf (Monte Carlo): the record keeps
    both methods, orders are fitted for exact cells only, the report says pair TV and lists the
    Monte Carlo cells, and the figure is written; ReMDM-conf is among the bench's default extras."""
    assert CONFIDENCE in EXTRA_DEFAULT_SAMPLERS
    spec = TargetSpec("copies")
    cells = [
        run_cell(spec, parse_sampler_spec(text, "masked"), steps, CONFIG)
        for text in ("tweedie", CONFIDENCE)
        for steps in CONFIG.steps
    ]
    assert [c.method for c in cells] == ["exact", "exact", "monte-carlo", "monte-carlo"]
    fits = fit_orders(cells)
    assert {fit.sampler for fit in fits} == {"tweedie"}
    # A pair TV (a lower bound on TV) is never ranked against exact TVs: every best is exact.
    best = best_per_budget(cells)
    assert best and all(row["samplers"] == ["tweedie"] and row["metric"] == "tv" for row in best)
    record = bench_record(CONFIG, cells, fits, 1.0)
    report = markdown_report(record, "figure.png")
    assert "pair TV" in report and f"| {CONFIDENCE} | 4 |" in report and "monte-carlo" in report
    assert write_figure(tmp_path / "figure.png", cells) in (True, False)  # False without matplotlib
