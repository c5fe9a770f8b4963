"""The study as markdown: one line per row, the summaries, and the adaptive samplers' table."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .adaptive import AdaptiveEntry
from .rows import PerCallRow, check_rows
from .summaries import PerCallSummary, mean

#: The candidate given its own column in :func:`markdown` and always listed by
#: :func:`summary_markdown` (the newest planner, whose place in the study is the question).
FEATURED = "bisection"


def fmt(value: float | None) -> str:
    """``-`` for None, ``n/a`` for nan, ``inf``, else 4 decimals (none from 100 on)."""
    if value is None:
        return "-"
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.0f}"


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def markdown(rows: Sequence[PerCallRow]) -> str:
    """A compact markdown table: a header, a separator and one line per row."""
    rows = check_rows(rows)
    lines = [
        "| target | K | limit | best sampler | best TV | today (k-random, trapezoidal) | today TV "
        f"| today/best | best - limit | {FEATURED} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.label} | {row.calls} | {fmt(row.limit_tv)} | {row.best} | {fmt(row.best_tv)} "
            f"| {row.today_best} | {fmt(row.today_tv)} | {fmt(row.ratio)} | {fmt(row.gap)} "
            f"| {fmt(row.entry(FEATURED).tv)} |"
        )
    return "\n".join(lines)


def summary_markdown(summaries: Sequence[PerCallSummary], samplers: int = 5) -> str:
    """The summaries as markdown: per budget, the per-target best against the limit and today's
    samplers (one line per budget), then the ``samplers`` best single samplers and
    :data:`FEATURED` when it is not among them (one line each)."""
    lines = [
        "| K | targets | per-target best TV mean / max | limit TV mean / max | today TV mean / max "
        "| today/best: of means, min (undefined) | best - limit mean / max "
        "| aims: ratio in the mean, on every target, gap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.calls} | {s.targets} | {fmt(s.best_tv_mean)} / {fmt(s.best_tv_max)} "
            f"| {fmt(s.limit_tv_mean)} / {fmt(s.limit_tv_max)} "
            f"| {fmt(s.today_tv_mean)} / {fmt(s.today_tv_max)} "
            f"| {fmt(s.ratio_of_means)}, {fmt(s.ratio_min)} ({s.ratio_undefined}) "
            f"| {fmt(s.gap_mean)} / {fmt(s.gap_max)} "
            f"| {_yes(s.aim_ratio_mean)}, {_yes(s.aim_ratio_every)}, {_yes(s.aim_gap)} |"
        )
    lines += [
        "",
        "| K | single sampler | TV mean / max | today/it: of means, min | it - limit max "
        "| aims: ratio in the mean, on every target, gap |",
        "|---|---|---|---|---|---|",
    ]
    for s in summaries:
        chosen = list(s.samplers[:samplers])
        chosen += [one for one in s.samplers[samplers:] if one.label == FEATURED]
        for one in chosen:
            lines.append(
                f"| {s.calls} | {one.label} | {fmt(one.tv_mean)} / {fmt(one.tv_max)} "
                f"| {fmt(one.ratio_of_means)}, {fmt(one.ratio_min)} | {fmt(one.gap_max)} "
                f"| {_yes(one.aim_ratio_mean)}, {_yes(one.aim_ratio_every)}, {_yes(one.aim_gap)} |"
            )
    return "\n".join(lines)


def adaptive_markdown(entries: Sequence[AdaptiveEntry]) -> str:
    """Per adaptive setting, over the targets: mean ``E[calls]``, most calls on any path, and the
    mean and largest TV (a header, a separator and one line per setting)."""
    if isinstance(entries, (str, bytes)) or not hasattr(entries, "__iter__"):
        raise ValueError(f"entries must be a sequence of AdaptiveEntry (from run_adaptive), got {entries!r}")
    entries = list(entries)
    if not entries or not all(isinstance(e, AdaptiveEntry) for e in entries):
        raise ValueError("entries must hold at least one AdaptiveEntry (from run_adaptive)")
    lines = [
        "| adaptive sampler | targets | E[calls] mean | max calls | TV mean / max |",
        "|---|---|---|---|---|",
    ]
    for label in dict.fromkeys(e.label for e in entries):
        at = [e for e in entries if e.label == label]
        lines.append(
            f"| {label} | {len(at)} | {mean([e.expected_calls for e in at]):.2f} "
            f"| {max(e.max_calls for e in at)} | {fmt(mean([e.tv for e in at]))} / "
            f"{fmt(max(e.tv for e in at))} |"
        )
    return "\n".join(lines)
