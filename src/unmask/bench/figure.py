"""The benchmark figure: TV against the NFE budget, one panel per (process, target).

Every sampler keeps one colour and line style in every panel, named once in a legend below the
panels (30 samplers would bury a panel under its own legend). A cell whose TV is at the float64
floor is drawn as a downward triangle on the panel's bottom row; the limit (the best fixed plan
in ``K`` calls, masked panels) is a thick grey line; dashed and dotted black lines are reference
slopes -1 and -2. Written by :func:`unmask.files.write_output` (atomically, never over a file
without ``force``).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from ..files import write_output
from .run import Cell

#: TVs at or below this are drawn as exact.
EXACT_TV = 1e-12
#: Line styles cycled after each 20 colours, so that 40+ samplers stay distinguishable.
STYLES = ("-", "--", "-.", ":")


def write_figure(path: Path, cells: list[Cell], force: bool = False) -> bool:
    """TV against NFE budget, log-log, one panel per (process, target), one line per sampler,
    with the limit and reference slopes -1 and -2 (a Monte Carlo panel plots ``pair_tv``, a lower
    bound on the TV, and says so), as PNG. Returns False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
    except ImportError:
        return False
    samplers = sorted({c.sampler for c in cells})
    palette = [plt.get_cmap(name)(i) for name in ("tab20", "tab20b") for i in range(20)]
    look = {
        name: {"color": palette[i % len(palette)], "linestyle": STYLES[(i // 20) % len(STYLES)]}
        for i, name in enumerate(samplers)
    }
    panels = sorted({(c.process, c.target) for c in cells})
    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    legend_rows = math.ceil((len(samplers) + 4) / 4)
    height = 3.6 * rows + 0.22 * legend_rows + 0.4
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, height), squeeze=False)
    for ax, (process, target) in zip(axes.flat, panels, strict=False):
        _panel(ax, [c for c in cells if c.process == process and c.target == target], look, process, target)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles = [Line2D([], [], marker="o", markersize=3, **look[name]) for name in samplers]
    labels = list(samplers)
    handles += [
        Line2D([], [], color="k", linewidth=2, alpha=0.35),
        Line2D([], [], color="k", marker="v", linestyle="none"),
        Line2D([], [], color="k", linestyle="--", linewidth=0.8),
        Line2D([], [], color="k", linestyle=":", linewidth=0.8),
    ]
    labels += ["limit: best fixed plan in K calls", f"exact (TV < {EXACT_TV:g})", "slope -1", "slope -2"]
    legend_height = (0.22 * legend_rows + 0.3) / height
    figure.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
    figure.tight_layout(rect=(0, legend_height, 1, 1))
    image = io.BytesIO()
    try:
        figure.savefig(image, format="png", dpi=110)
    finally:
        plt.close(figure)
    write_output(path, image.getvalue(), force=force)
    return True


def _panel(ax, group: list[Cell], look: dict, process: str, target: str) -> None:
    sampled = {c.method != "exact" for c in group}
    error = {id(c): (c.pair_tv if c.method != "exact" else c.tv) for c in group}
    measurable = [error[id(c)] for c in group if error[id(c)] > EXACT_TV]
    floor = min(measurable) / 10 if measurable else 1e-3
    for sampler in sorted({c.sampler for c in group}):
        points = sorted((c.nfe_budget, error[id(c)]) for c in group if c.sampler == sampler)
        above = [(x, y) for x, y in points if y > EXACT_TV]
        exact = [x for x, y in points if y <= EXACT_TV]
        monte_carlo = any(c.method != "exact" for c in group if c.sampler == sampler)
        if above:
            xs, ys = zip(*above, strict=True)
            hollow = {"markerfacecolor": "none"} if monte_carlo else {}
            ax.loglog(xs, ys, marker="o", markersize=3, linewidth=1, **hollow, **look[sampler])
        if exact and not monte_carlo:  # an estimate of 0 is not an exact sampler
            ax.loglog(exact, [floor] * len(exact), marker="v", linestyle="none", color=look[sampler]["color"])
    limits = sorted({(c.nfe_budget, c.limit_tv) for c in group if c.limit_tv is not None})
    if limits:  # 0 from L calls on: drawn on the exact row
        ax.loglog([b for b, _ in limits], [max(v, floor) for _, v in limits], "k-", linewidth=2, alpha=0.35)
    budgets = sorted({c.nfe_budget for c in group})
    top = max(measurable) if measurable else 1.0
    lo, hi = budgets[0], budgets[-1]
    if hi > lo:
        for order, style in ((1, "--"), (2, ":")):
            ax.loglog([lo, hi], [top, top * (lo / hi) ** order], "k" + style, linewidth=0.8)
    ax.set_ylim(bottom=floor / 2)
    ax.set_title(f"{target} ({process})")
    ax.set_xlabel("NFE budget (denoiser calls)")
    if sampled == {True}:
        ax.set_ylabel("pair TV to target (Monte Carlo; a lower bound on TV)")
    elif sampled == {True, False}:
        ax.set_ylabel("TV (exact); pair TV <= TV (Monte Carlo, hollow markers)")
    else:
        ax.set_ylabel("TV to target" if process == "masked" else "TV to p(t_min)")
    ax.grid(True, which="both", alpha=0.3)
