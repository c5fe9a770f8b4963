"""Benchmark outputs: ``bench.json`` and a markdown report (the figure: :mod:`.figure`).

Files are written by :func:`unmask.files.write_output`: atomically (to a temporary name, then
renamed), so an interrupted run never leaves a half-written report, with the user's umask, and
an existing regular file is replaced only with ``force=True``.
"""

from __future__ import annotations

import json
import math
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..files import write_output
from .comparisons import CertifiedRow, eb_against_top_k, limit_gaps
from .config import BenchConfig
from .fit import OrderFit, best_per_budget
from .per_call import AIM_CALLS, AIM_GAP, AIM_RATIO, CONCENTRATION, PerCallRow, summary_markdown
from .per_call import summary as per_call_summary
from .run import Cell


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def bench_record(
    config: BenchConfig,
    cells: list[Cell],
    fits: list[OrderFit],
    seconds: float,
    certified: list[CertifiedRow] | None = None,
    per_call: list[PerCallRow] | None = None,
) -> dict:
    """Everything the run measured, with the resolved configuration and the environment."""
    return {
        "unmask_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "config": config.to_dict(),
        "seconds": seconds,
        "cells": [{k: _finite(v) for k, v in asdict(cell).items()} for cell in cells],
        "orders": [{k: _finite(v) for k, v in asdict(fit).items()} for fit in fits],
        "best_per_budget": best_per_budget(cells),
        "limit_gaps": [{k: _finite(v) for k, v in row.items()} for row in limit_gaps(cells)],
        "eb_against_top_k": eb_against_top_k(cells),
        "certified": [{k: _finite(v) for k, v in asdict(row).items()} for row in certified or []],
        "per_call": _per_call_record(per_call) if per_call else None,
    }


def _finite_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_tree(v) for v in value]
    return _finite(value)


def _per_call_record(rows: list[PerCallRow]) -> dict:
    """The study's rows and summaries, JSON-ready, with its markdown tables for the report."""
    summaries = per_call_summary(rows)
    return {
        "rows": [_finite_tree(asdict(row)) for row in rows],
        "summary": [_finite_tree(asdict(one)) for one in summaries],
        "markdown": summary_markdown(summaries),
    }


def write_json(path: Path, record: dict, force: bool = False) -> None:
    """The record as indented JSON (:func:`unmask.files.write_output` rules)."""
    write_output(path, json.dumps(record, indent=2) + "\n", force=force)


def _fmt(value: float | str | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def markdown_report(record: dict, figure_name: str | None) -> str:
    """A report a person can read on its own: the figure, the orders, the best sampler per
    budget and the full table."""
    config = record["config"]
    lines = [
        "# unmask bench",
        "",
        f"unmask {record['unmask_version']}, torch {record['torch_version']}; seed {config['seed']}; "
        f"{config['samples']} samples per cell for the NFE count; {record['seconds']:.0f} s.",
        "",
        "Errors are exact (from each sampler's exact output law) unless the method column says "
        "monte-carlo. TV is to the target (masked) or to the forward law at t_min (uniform); "
        "KL is KL(target || sampler).",
        "",
    ]
    if any(c["method"] != "exact" for c in record["cells"]):
        lines += [
            "Monte Carlo cells (targets too large for an exact law, or samplers without one, such as "
            "ReMDM-conf) report **pair TV**, not TV: the "
            "mean over adjacent positions i of the TV between the sampler's and the target's laws of "
            "(x_i, x_{i+1}), which is a lower bound on the TV. It is estimated from the sampled "
            "sequences against the target's exact pair marginals, with each cell's sampling noise "
            "removed (the plug-in value, in bench.json as `pair_tv_plugin`, is biased upwards by up to "
            "`pair_tv_null_bias`, its expected value for an exact sampler). Its 95% interval covers the "
            "true pair TV with probability at least 95% (about 95% for an exact sampler, whose interval "
            "then contains 0) and always contains the estimate. Leakage has a 95% Wilson interval. "
            "Exact cells carry their exact pair TV too (no interval), to compare with them; the best "
            "sampler per budget is chosen among the exact cells where a target has any.",
            "",
        ]
    if figure_name:
        lines += [f"![TV against NFE]({figure_name})", ""]
    lines += [
        "## Convergence orders",
        "",
        "| target | process | sampler | measured order | predicted | TV at largest budget | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for fit in record["orders"]:
        lines.append(
            f"| {fit['target']} | {fit['process']} | {fit['sampler']} | {_fmt(fit['measured'])} | "
            f"{fit['predicted']} | {_fmt(fit['tv_at_largest_budget'])} | {fit['note']} |"
        )
    lines += [
        "",
        "## Best sampler for each budget of model calls",
        "",
        "With an exact denoiser, first-hitting is exact once the budget reaches the number of masked "
        "tokens (L calls); below that budget the samplers that reveal several tokens per call compete. "
        "A sampler is named best only where its interval lies below every other's (exact TVs are "
        "points; TVs at the float64 floor tie); otherwise the samplers that cannot be separated are "
        "listed as a tie, lowest estimate first.",
        "",
    ]
    lines += [
        "| target | process | NFE budget | best sampler | steps | metric | value [95% interval] |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in record["best_per_budget"]:
        value = _fmt(row["value"])
        if row["interval"]:
            value += f" [{_fmt(row['interval'][0])}, {_fmt(row['interval'][1])}]"
        metric = "pair TV (≤ TV)" if row["metric"] == "pair_tv" else "TV"
        lines.append(
            f"| {row['target']} | {row['process']} | {row['budget']} | {row['sampler']} | "
            f"{row['steps'] if row['steps'] is not None else '—'} | {metric} | {value} |"
        )
    lines += _limit_section(record) + _eb_section(record) + _certified_section(record)
    lines += _per_call_section(record)
    lines += [
        "",
        "## All cells",
        "",
        "NFE expected: the exact expected calls per row (exact cells); gap: TV minus the limit at the "
        "cell's NFE budget (masked exact cells).",
        "",
        "| target | process | sampler | steps | NFE budget | NFE used | NFE expected | method | TV | gap | "
        "pair TV [95% interval] (plug-in; exact-sampler plug-in) | KL | leakage | path-KL | clipped mass |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in record["cells"]:
        pair = _fmt(c.get("pair_tv"))
        if c.get("pair_tv_interval"):
            low, high = c["pair_tv_interval"]
            pair += (
                f" [{_fmt(low)}, {_fmt(high)}] ({_fmt(c['pair_tv_plugin'])}; {_fmt(c['pair_tv_null_bias'])})"
            )
        leak = _fmt(c["leakage"])
        if c["leakage_interval"]:
            leak += f" [{_fmt(c['leakage_interval'][0])}, {_fmt(c['leakage_interval'][1])}]"
        lines.append(
            f"| {c['target']} | {c['process']} | {c['sampler']} | {c['steps'] if c['steps'] else '—'} | "
            f"{c['nfe_budget']} | {c['nfe_used']:.1f} | {_fmt(c['nfe_expected'])} | {c['method']} | "
            f"{_fmt(c['tv'])} | {_fmt(_gap(c))} | {pair} | "
            f"{_fmt(c['kl'])} | {leak} | {_fmt(c['path_kl'])} | {_fmt(c['clipped_mass'])} |"
        )
    return "\n".join(lines) + "\n"


def _per_call_section(record: dict) -> list[str]:
    study = record.get("per_call")
    if not study:
        return []
    return [
        "",
        "## Accuracy per call on random chains",
        "",
        f"Random Markov chains with Dirichlet({CONCENTRATION}) rows (V in {{2, 3}}, L in {{4, 5, 6}}, "
        "seeds 0–2), exact laws at K = 2 and 4 calls. Per-target best: the candidate of lowest TV "
        "on each target; today's samplers are k-random and the trapezoid. The aims, at K = "
        f"{AIM_CALLS}: today's TV at least {AIM_RATIO:g} times the best's, and the best within "
        f"{AIM_GAP:g} of the limit (`unmask.bench.per_call`; every row in bench.json).",
        "",
        study["markdown"],
    ]


def _gap(cell: dict) -> float | None:
    if cell.get("limit_tv") is None or cell.get("tv") is None:
        return None
    return cell["tv"] - cell["limit_tv"]


def _limit_section(record: dict) -> list[str]:
    rows = record.get("limit_gaps") or []
    if not rows:
        return []
    lines = [
        "",
        "## Gap to the limit",
        "",
        "The limit at K calls is the TV of the best plan (an ordered partition of the positions into K "
        "blocks, each drawn from its exact conditionals given the blocks before) that any factorised "
        "sampler can follow: found by exhaustive search over the plans (`unmask.exact.best_plan`). "
        "Samplers that choose their plan at random (k-random, the ancestral samplers) or from the "
        "revealed values (the planners) mix plans and can go below it (a negative gap). Best: the "
        "lowest TV among the cells that never take more than K calls.",
        "",
        "| target | calls K | limit TV | best sampler | steps | its TV | gap |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['target']} | {row['budget']} | {_fmt(row['limit_tv'])} | {row['best_sampler']} | "
            f"{row['best_steps'] if row['best_steps'] is not None else '—'} | {_fmt(row['best_tv'])} | "
            f"{_fmt(row['gap'])} |"
        )
    return lines


def _eb_section(record: dict) -> list[str]:
    rows = record.get("eb_against_top_k") or []
    if not rows:
        return []
    lines = [
        "",
        "## EB-Sampler against fixed-k top-confidence decoding",
        "",
        "For each top-k cell of K calls (fewer than the length), the EB cell with the lowest TV among "
        "those whose exact expected calls are at most K (spec §4.7 (d): EB should win on targets with "
        "heterogeneous entropies, such as islands).",
        "",
        "| target | calls K | top-k TV | best EB within K calls | its expected calls | its TV | EB lower |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lower = "—" if row["eb_lower"] is None else ("yes" if row["eb_lower"] else "no")
        lines.append(
            f"| {row['target']} | {row['calls']} | {_fmt(row['top_k_tv'])} | {row['eb_sampler'] or '—'} | "
            f"{_fmt(row['eb_expected_calls'])} | {_fmt(row['eb_tv'])} | {lower} |"
        )
    return lines


def _certified_section(record: dict) -> list[str]:
    rows = record.get("certified") or []
    if not rows:
        return []
    lines = [
        "",
        "## Certified sampling",
        "",
        "`certified:kl_budget=eps` keeps the entropy bound on KL(target || sampler) within eps on every "
        "path. Its exact expected calls and exact KL, and its bound (the largest path sum of "
        "sum H - max H under the target's own paths), beside the EB-Sampler with the largest gamma "
        "(on a grid from eps / L) whose bound gamma E[#steps] is at most eps.",
        "",
        "| target | eps | certified calls | certified KL | its bound | EB gamma | EB calls | EB KL |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['target']} | {row['kl_budget']} | {_fmt(row['certified_calls'])} | "
            f"{_fmt(row['certified_kl'])} | {_fmt(row['certified_bound'])} | {_fmt(row['eb_gamma'])} | "
            f"{_fmt(row['eb_calls'])} | {_fmt(row['eb_kl'])} |"
        )
    return lines


def write_report(path: Path, record: dict, figure_name: str | None, force: bool = False) -> None:
    """The markdown report (:func:`unmask.files.write_output` rules)."""
    write_output(path, markdown_report(record, figure_name), force=force)
