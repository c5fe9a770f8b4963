"""Accuracy per call (``unmask.bench.per_call``) on a reduced grid: the limit bounds every
candidate that follows a single plan (a theorem, and the classification is checked against the
plan's own law), and only those; rows are deterministic; the report has one line per row; bad
input raises ValueError naming the argument."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unmask.bench import per_call
from unmask.bench.per_call import (
    PerCallRow,
    candidates,
    markdown,
    per_call_row,
    run_per_call,
    summary,
    summary_markdown,
)
from unmask.bench.per_call.tables import fmt
from unmask.exact import reference_law, run_law, tv
from unmask.exact.limit import best_plan, plan_law
from unmask.targets import MarkovChain, Table

#: Laws are float64 sums of a few hundred products; identities hold to this.
EXACT = 1e-12
GRID = {"vocab_sizes": (2, 3), "lengths": (5,), "seeds": (0, 1), "calls": (2, 4)}


@pytest.fixture(scope="module")
def rows() -> list[PerCallRow]:
    return run_per_call(**GRID)


def chain(row: PerCallRow) -> MarkovChain:
    return per_call.chain(row.vocab_size, row.length, row.seed)


def test_grid_order_and_budgets(rows):
    assert [(r.vocab_size, r.length, r.seed, r.calls) for r in rows] == [
        (v, n, s, k) for v in (2, 3) for n in (5,) for s in (0, 1) for k in (2, 4)
    ]
    for row in rows:
        for entry in row.entries:
            assert entry.calls <= row.calls, entry
            assert entry.expected_calls <= entry.calls + EXACT
        assert row.best_tv == pytest.approx(min(e.tv for e in row.entries), abs=per_call.TV_FLOOR)
        assert row.today_best in per_call.TODAY
        assert row.gap == pytest.approx(row.best_tv - row.limit_tv, abs=0)


def test_limit_bounds_every_single_plan(rows):
    """A candidate classified "plan" has exactly the law of its plan (so the classification is
    right), and then its TV is at least the best plan's with as many blocks: a theorem."""
    checked = set()
    for row in rows:
        target = chain(row)
        reference = reference_law(target)
        by_label = {c.label: c for c in candidates(target, row.calls)}
        for entry in row.entries:
            if entry.kind != "plan":
                assert entry.plan is None
                continue
            assert 1 <= len(entry.plan) <= row.calls
            candidate = by_label[entry.label]
            law = run_law(target, candidate.sampler, candidate.steps).law
            assert torch.allclose(law, plan_law(target, entry.plan), atol=EXACT, rtol=0)
            blocks = len(entry.plan)
            limit = row.limit_tv if blocks == row.calls else best_plan(target, blocks, "tv").tv
            assert entry.tv >= limit - EXACT, (row.label, row.calls, entry)
            assert entry.tv == pytest.approx(tv(law, reference), abs=EXACT)
            checked.add(entry.label)
    # which candidates the theorem covers here: dilated and bisection always, top-k when K <= 2
    assert {"dilated", "bisection", "top-k(confidence)", "top-k(margin)", "top-k(entropy)"} <= checked


def test_kinds(rows):
    """k-random and the ancestral samplers are mixtures of plans, top-k at 4 calls is adaptive,
    the two-stage and remasking samplers are not exact-conditional samplers at all."""
    for row in rows:
        kinds = {e.label: e.kind for e in row.entries}
        assert kinds["dilated"] == kinds["bisection"] == "plan"
        assert kinds["k-random"] == "mixture"
        assert kinds["euler"] == kinds["tweedie"] == "mixture"
        assert kinds["trapezoidal"] == kinds["remdm"] == kinds["low-confidence-remasking"] == "other"
        if row.calls <= 2:
            assert kinds["top-k(confidence)"] == "plan"
    assert any(r.entry("top-k(margin)").kind == "adaptive" for r in rows if r.calls == 4)


def test_limit_does_not_bound_other_samplers(rows):
    """The limit is over single plans. Trapezoidal (extrapolated rates) beats it on a chain of the
    grid, and k-random (a random mixture of plans; TV is convex, so a mixture can sit below every
    plan) beats it on a small table."""
    row = next(r for r in rows if (r.vocab_size, r.length, r.seed, r.calls) == (2, 5, 0, 2))
    assert row.entry("trapezoidal").tv < row.limit_tv - 1e-3
    weights = np.random.default_rng(5).dirichlet(np.ones(8))
    table = Table(torch.from_numpy(weights).reshape(2, 2, 2))
    mixture = tv(run_law(table, "k-random", 2).law, reference_law(table))
    assert mixture < best_plan(table, 2, "tv").tv - 1e-2


def test_rows_are_deterministic(rows):
    again = per_call_row(3, 5, 1, 4)
    assert again == next(r for r in rows if (r.vocab_size, r.seed, r.calls) == (3, 1, 4))


def test_markdown_one_line_per_row(rows):
    lines = markdown(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    for line, row in zip(lines[2:], rows, strict=True):
        assert line.startswith(f"| {row.label} | {row.calls} |") and line.endswith("|")
    assert len(markdown(rows[:1]).splitlines()) == 3


def test_summary(rows):
    summaries = summary(rows)
    assert [s.calls for s in summaries] == [2, 4]
    for s in summaries:
        at = [r for r in rows if r.calls == s.calls]
        assert s.targets == len(at)
        assert s.best_tv_mean == pytest.approx(sum(r.best_tv for r in at) / len(at))
        assert s.gap_max == max(r.gap for r in at)
        assert s.aim_gap == (s.gap_max <= per_call.AIM_GAP)
        if s.best_tv_mean > per_call.TV_FLOOR:
            assert s.ratio_of_means == pytest.approx(s.today_tv_mean / s.best_tv_mean)
        else:  # the best is exact on every target (bisection at K = 4): today's TV over 0
            assert s.calls == 4 and s.ratio_of_means == math.inf and s.today_tv_mean > per_call.TV_FLOOR
        assert s.ratio_undefined == sum(math.isnan(r.ratio) for r in at)
        assert s.aim_ratio_every == all(math.isnan(r.ratio) or r.ratio >= per_call.AIM_RATIO for r in at)
        assert sum(count for _, count in s.best_counts) == len(at)
        assert [x.tv_mean for x in s.samplers] == sorted(x.tv_mean for x in s.samplers)
    text = summary_markdown(summaries)
    assert "| 4 | " in text
    for s in summaries:  # bisection is listed once at every budget, in the top 5 or after them
        assert sum(line.startswith(f"| {s.calls} | bisection |") for line in text.splitlines()) == 1


def test_bisection_is_a_candidate(rows):
    """Bisection runs as a plain candidate with K calls: a single plan (so the limit bounds it),
    within the budget: at K = 2 on L = 5 (more than 2^2 - 1) two evenly spaced picks, then the
    rest; at K = 4 the middle, then the middles of the two runs, then the rest (3 calls, exact,
    like the limit). It counts as the best candidate where it alone has the least TV; the row
    table's last column is its TV."""
    for row in rows:
        entry = row.entry("bisection")
        assert entry.kind == "plan" and entry.calls <= row.calls
        assert entry.tv >= row.limit_tv - EXACT
        if row.calls == 2:
            assert entry.plan == ((1, 3), (0, 2, 4))  # pieces 1, 1, 1 <= cap 1
        else:
            assert entry.tv < EXACT and row.limit_tv < EXACT
            assert entry.plan == ((2,), (1, 4), (0, 3))  # middle, then the middles of 2 and 2
            assert entry.calls == 3
        others = min(e.tv for e in row.entries if e.label != "bisection")
        if entry.tv < others - per_call.TV_FLOOR:
            assert row.best == "bisection"
    assert any(row.best == "bisection" for row in rows)  # the check above is not vacuous here
    for line, row in zip(markdown(rows).splitlines()[2:], rows, strict=True):
        assert line.endswith(f"| {fmt(row.entry('bisection').tv)} |")


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"vocab_sizes": ()}, "vocab_sizes"),
        ({"vocab_sizes": (1,)}, "vocab_sizes"),
        ({"vocab_sizes": (True,)}, "vocab_sizes"),
        ({"vocab_sizes": "23"}, "vocab_sizes"),
        ({"lengths": (1,)}, "lengths"),
        ({"lengths": (5.0,)}, "lengths"),
        ({"seeds": (-1,)}, "seeds"),
        ({"seeds": 0}, "seeds"),
        ({"calls": (0,)}, "calls"),
        ({"calls": (6,)}, "calls"),
        ({"vocab_sizes": (3,), "lengths": (13,)}, "vocab_sizes and lengths"),
    ],
)
def test_bad_grid(options, name):
    grid = {"vocab_sizes": (2,), "lengths": (5,), "seeds": (0,), "calls": (2,)} | options
    with pytest.raises(ValueError, match=name):
        run_per_call(**grid)


@pytest.mark.parametrize("bad", [[], "rows", None, [1]])
def test_bad_rows(bad):
    with pytest.raises(ValueError, match="rows"):
        summary(bad)
    with pytest.raises(ValueError, match="rows"):
        markdown(bad)


def test_adaptive_reported_apart():
    """Adaptive samplers have a random number of calls: reported with E[calls] and the most calls
    on a path, one markdown line per setting."""
    entries = per_call.run_adaptive((3,), (5,), (0,), settings=(("eb", {"gamma": 0.1}), ("threshold", {})))
    assert [e.label for e in entries] == ["eb(gamma=0.1)", "threshold()"]
    for e in entries:
        assert 1 <= e.expected_calls <= e.max_calls <= 5
        assert 0 <= e.tv <= 1
    assert len(per_call.adaptive_markdown(entries).splitlines()) == 2 + 2
    with pytest.raises(ValueError, match="entries"):
        per_call.adaptive_markdown([])
    with pytest.raises(ValueError, match="seeds"):
        per_call.run_adaptive(seeds=())
