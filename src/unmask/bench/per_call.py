"""Accuracy per call: the exact TV of every sampler at a fixed budget of ``K`` denoiser calls,
beside the limit (the best plan any factorised sampler with exact conditionals could follow).

Targets are random Markov chains ``MarkovChain.random(V, L, concentration=0.3, seed)`` (the chain
depends on ``V`` and ``seed`` only: the same seed at several lengths is one chain cut at several
lengths). For each target and each budget ``K`` (``calls``), :func:`run_per_call` computes

* the **limit**: :func:`unmask.exact.limit.best_plan` with ``metric="tv"``, the TV-optimal ordered
  partition of the ``L`` positions into ``K`` blocks (exact, over all ``K! S(L, K)`` plans). On
  a Markov chain it is 0 once ``L <= 2^K - 1`` (reveal the middle, then the middles of the runs
  left, ...: every block is conditionally independent given the tokens already revealed), so at
  ``K = 4`` it is 0 on every chain short enough for exact laws and searches here;
* the exact output law (:func:`unmask.exact.run_law`, no Monte Carlo) and its TV to the target of
  every **candidate**: a registered sampler configured so that *every* path makes at most ``K``
  denoiser calls (see :func:`candidates`). Adaptive samplers whose number of calls is random
  (``eb``, ``threshold``, ``factor-threshold``, ``certified``) and first-hitting (``L`` calls) are
  not at a fixed budget and are left out; :func:`run_adaptive` reports the adaptive ones
  separately, with their expected and largest number of calls.

**What the limit bounds.** Each candidate is classified from its own run (:class:`Entry.kind`):

* ``"plan"``: it draws every token once from its exact conditional and every path reveals the
  same sets at the same calls (checked on the run: one mask pattern per call across all enumerated
  states). Its law is that plan's law (:func:`unmask.exact.limit.plan_law`), so
  ``TV >= best_plan(target, K').tv`` with ``K'`` its number of non-empty blocks: a theorem.
  Dilated and bisection always; top-k at ``K <= 2`` (its first block is read from the all-mask
  state, the last call takes the rest); semi-autoregressive when each block's choice is made from
  a state that does not depend on revealed values.
* ``"adaptive"``: exact conditionals, but the revealed sets depend on the values drawn (top-k and
  semi-autoregressive at ``K >= 3``). An adaptive plan is **not** covered: it can beat every
  single plan.
* ``"mixture"``: exact conditionals, revealed sets drawn at random (k-random, Euler, tau-leaping,
  Tweedie). Its law is a mixture of plan laws, ``q = sum_p w_p q_p``; TV is convex, so
  ``TV(pi, q) <= sum_p w_p TV(pi, q_p)`` and a mixture **can** fall below the best single plan
  (k-random does on a small random table, see the tests). Not covered.
* ``"other"``: not exact conditionals drawn once (trapezoidal and RK-2 extrapolate rates,
  low-confidence remasking keeps the most probable draws, ReMDM remasks). Not covered; for
  example trapezoidal with one step (2 calls) beats the 2-call limit on
  ``MarkovChain.random(2, 5, 0.3, seed=0)``.

"Today's" samplers are plain ``k-random`` (``steps = K``) and ``trapezoidal`` (``K // 2``
steps); :attr:`PerCallRow.ratio` is their best TV over the best candidate's TV.

**Bisection** (:class:`unmask.samplers.planned.bisection.Bisection`) reads no probabilities: it
assumes local (chain-like) dependence, reveals the middle of every masked run and packs extra,
evenly spaced positions into a run only when the calls left could not otherwise finish it. It is a
single plan, so the limit bounds it; on a Markov chain it reaches the limit's 0 once
``L <= 2^K - 1``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import torch

from ..exact import information_profile, optimal_sizes, reference_law, run_law, tv
from ..exact.laws import MAX_STATES
from ..exact.limit import MAX_PLANS, best_plan, count_plans
from ..samplers import registry
from ..samplers.ancestral import Ancestral
from ..samplers.base import Sampler, StepContext
from ..samplers.k_random import KRandom
from ..samplers.planned import Planner, SemiAutoregressive, TopK
from ..samplers.planned.bisection import Bisection
from ..targets import MarkovChain

#: Dirichlet concentration of the chains' initial law and transition rows.
CONCENTRATION = 0.3
#: The samplers whose best TV is "today's" (labels of :func:`candidates`).
TODAY = ("k-random", "trapezoidal")
#: TVs at or below this are exact (float64 rounding of a law that equals the target).
TV_FLOOR = 1e-10
#: The aims at :data:`AIM_CALLS` calls: today's best TV at least ``AIM_RATIO`` times the best
#: candidate's, and the best candidate within ``AIM_GAP`` (TV) of the limit on every target.
AIM_CALLS = 4
AIM_RATIO = 2.0
AIM_GAP = 0.05
#: Top-k scores tried (top-k alone and inside semi-autoregressive).
SCORES = ("confidence", "margin", "entropy")
#: The candidate given its own column in :func:`markdown` and always listed by
#: :func:`summary_markdown` (the newest planner, whose place in the study is the question).
FEATURED = "bisection"
#: Samplers that draw each revealed token once from its conditional at the current state
#: (their law with the exact denoiser is a plan, an adaptive plan or a mixture of plans).
_EXACT_CONDITIONALS = (KRandom, Ancestral, Planner)


# --------------------------------------------------------------------------------------------------
# Tracing which positions each call reveals
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Traced(Sampler):
    """``inner`` run unchanged, recording the distinct mask patterns of the states entering each
    step (to tell a single plan from an adaptive plan or a mixture)."""

    inner: Sampler = field(default_factory=KRandom)
    trace: list = field(default_factory=list, compare=False, repr=False)
    name: ClassVar[str] = "traced"

    @property
    def process_type(self):  # type: ignore[override]
        return self.inner.process_type

    @property
    def calls_per_step(self) -> int:  # type: ignore[override]
        return self.inner.calls_per_step

    @property
    def uses_grid(self) -> bool:  # type: ignore[override]
        return self.inner.uses_grid

    @property
    def takes_steps(self) -> bool:  # type: ignore[override]
        return self.inner.takes_steps

    def resolve(self, steps, length):
        return replace(self, inner=self.inner.resolve(steps, length))

    def active(self, ctx, z, index):
        return self.inner.active(ctx, z, index)

    def max_steps(self, length):
        return self.inner.max_steps(length)

    def step(self, ctx: StepContext, z, t, s, index):
        self.trace.append(torch.unique(ctx.masked(z), dim=0).cpu())
        return self.inner.step(ctx, z, t, s, index)


def _blocks_of(trace: list[torch.Tensor]) -> tuple[tuple[int, ...], ...] | None:
    """The plan a trace follows (non-empty blocks, in call order), or None when some call saw
    more than one mask pattern."""
    if any(len(patterns) != 1 for patterns in trace):
        return None
    masks = [patterns[0] for patterns in trace]
    masks.append(torch.zeros_like(masks[0]))
    blocks = []
    for before, after in zip(masks[:-1], masks[1:], strict=True):
        block = tuple(int(i) for i in (before & ~after).nonzero().flatten())
        if block:
            blocks.append(block)
    return tuple(blocks)


# --------------------------------------------------------------------------------------------------
# Candidates and rows
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """A sampler at a fixed budget: ``sampler`` run with ``steps`` (None: its own sizes) makes at
    most ``calls`` calls on every path."""

    label: str
    sampler: Sampler
    steps: int | None
    calls: int
    detail: str = ""


@dataclass(frozen=True)
class Entry:
    """One candidate's exact result on one target.

    Attributes:
        label: the candidate (:attr:`Candidate.label`, the same on every target).
        detail: its target-dependent settings (k-random's optimal sizes, semi-autoregressive's
            block length), or ``""``.
        tv: ``TV(pi, q)`` of its exact output law.
        calls: the most denoiser calls a path made (at most the budget).
        expected_calls: ``E[calls]`` over its paths.
        kind: ``"plan"``, ``"adaptive"``, ``"mixture"`` or ``"other"`` (module docstring); only
            ``"plan"`` is bounded below by the limit.
        plan: the blocks it follows when ``kind == "plan"``, else None.
    """

    label: str
    detail: str
    tv: float
    calls: int
    expected_calls: float
    kind: str
    plan: tuple[tuple[int, ...], ...] | None


@dataclass(frozen=True)
class PerCallRow:
    """One target at one budget of ``calls = K`` denoiser calls.

    Attributes:
        vocab_size, length, seed: the target ``MarkovChain.random(V, L, 0.3, seed)``.
        calls: the budget ``K``.
        limit_tv: ``best_plan(target, K, metric="tv").tv``.
        limit_plan: its blocks.
        entries: every candidate's :class:`Entry`, in :func:`candidates` order.
        best: label of the candidate of least TV (the first within ``TV_FLOOR`` of the least).
        best_tv: its TV.
        today_best: label of the better of :data:`TODAY`.
        today_tv: its TV.
        ratio: ``today_tv / best_tv``; ``inf`` when only the best is exact, ``nan`` when both are.
        gap: ``best_tv - limit_tv`` (negative when a candidate the limit does not bound beats it).
        seconds: wall time of this row.
    """

    vocab_size: int
    length: int
    seed: int
    calls: int
    limit_tv: float
    limit_plan: tuple[tuple[int, ...], ...]
    entries: tuple[Entry, ...]
    best: str
    best_tv: float
    today_best: str
    today_tv: float
    ratio: float
    gap: float
    seconds: float = field(default=0.0, compare=False)

    @property
    def label(self) -> str:
        return f"V={self.vocab_size} L={self.length} seed={self.seed}"

    def entry(self, label: str) -> Entry:
        """The entry of the candidate ``label``."""
        for entry in self.entries:
            if entry.label == label:
                return entry
        raise KeyError(f"no candidate {label!r} in this row; candidates: {[e.label for e in self.entries]}")


def semi_autoregressive_lengths(length: int, calls: int) -> tuple[int, ...]:
    """Block lengths ``b`` that cut ``length`` positions into ``2..calls`` blocks (one of each
    block count, the shortest ``b`` giving it), so that every block gets at least one call."""
    lengths: dict[int, int] = {}
    for count in range(2, min(calls, length) + 1):
        b = -(-length // count)
        lengths.setdefault(-(-length // b), b)
    return tuple(sorted(set(lengths.values()), reverse=True))


def candidates(target: Any, calls: int, slow: bool = False) -> list[Candidate]:
    """Every registered sampler configured to make at most ``calls = K`` calls on every path of
    ``target`` (length ``L >= K``):

    * ``k-random`` with ``steps = K`` (even sizes), and with the sizes of
      :func:`unmask.exact.optimal_sizes` from the target's exact information profile;
    * ``trapezoidal`` with ``K // 2`` steps (2 calls each; absent when ``K < 2``), and ``rk2``
      likewise when ``slow`` (its exact law enumerates many intermediate states: seconds per
      target, most of the study's run time);
    * ``euler``, ``tau-leaping``, ``tweedie`` and ``remdm`` with ``K`` steps (uniform grid);
    * ``top-k`` with each score, ``dilated``, ``bisection`` and ``low-confidence-remasking`` with
      ``K`` steps;
    * ``semi-autoregressive`` with inner top-k (each score) and ``K`` steps, for each block length
      of :func:`semi_autoregressive_lengths`.
    """
    length = target.length
    out = [Candidate("k-random", registry.get("k-random"), calls, calls)]
    sizes = optimal_sizes(information_profile(target), calls).sizes
    detail = f"sizes {'-'.join(map(str, sizes))}"
    out.append(Candidate("k-random(optimal sizes)", KRandom(sizes=sizes), None, calls, detail))
    if calls >= 2:
        for name in ("trapezoidal", "rk2") if slow else ("trapezoidal",):
            out.append(Candidate(name, registry.get(name), calls // 2, 2 * (calls // 2)))
    for name in ("euler", "tau-leaping", "tweedie", "remdm"):
        out.append(Candidate(name, registry.get(name), calls, calls))
    for score in SCORES:
        out.append(Candidate(f"top-k({score})", TopK(score=score), calls, calls))
    out.append(Candidate("dilated", registry.get("dilated"), calls, calls))
    out.append(Candidate("bisection", Bisection(), calls, calls))
    out.append(Candidate("low-confidence-remasking", registry.get("low-confidence-remasking"), calls, calls))
    for b in semi_autoregressive_lengths(length, calls):
        count = -(-length // b)
        for score in SCORES:
            sampler = SemiAutoregressive(inner=TopK(score=score), block_length=b)
            label = f"semi-ar({count} blocks, top-k {score})"
            out.append(Candidate(label, sampler, calls, calls, f"block length {b}"))
    return out


def evaluate(target: Any, candidate: Candidate, reference: torch.Tensor | None = None) -> Entry:
    """The exact TV of ``candidate`` on ``target`` (:func:`unmask.exact.run_law`) and its kind."""
    reference = reference_law(target) if reference is None else reference
    traced = _Traced(inner=candidate.sampler)
    result = run_law(target, traced, candidate.steps)
    calls = result.steps * candidate.sampler.calls_per_step
    if calls > candidate.calls:
        raise RuntimeError(
            f"{candidate.label} made {calls} calls on some path, above its budget {candidate.calls}; "
            "this is a bug in the candidate's configuration"
        )
    plan = _blocks_of(traced.trace) if traced.trace else None
    exact_conditionals = isinstance(candidate.sampler, _EXACT_CONDITIONALS)
    if not exact_conditionals:
        kind, plan = "other", None
    elif plan is not None:
        kind = "plan"
    else:
        kind = "adaptive" if isinstance(candidate.sampler, Planner) else "mixture"
    return Entry(
        label=candidate.label,
        detail=candidate.detail,
        tv=tv(result.law, reference),
        calls=calls,
        expected_calls=result.expected_steps * candidate.sampler.calls_per_step,
        kind=kind,
        plan=plan,
    )


def _ratio(today: float, best: float) -> float:
    if best <= TV_FLOOR:
        return math.nan if today <= TV_FLOOR else math.inf
    return today / best


def per_call_row(vocab_size: int, length: int, seed: int, calls: int, slow: bool = False) -> PerCallRow:
    """One :class:`PerCallRow` (inputs checked as in :func:`run_per_call`)."""
    _check_grid((vocab_size,), (length,), (seed,), (calls,))
    start = time.perf_counter()
    target = MarkovChain.random(vocab_size, length, concentration=CONCENTRATION, seed=seed)
    reference = reference_law(target)
    limit = best_plan(target, calls, metric="tv")
    entries = tuple(evaluate(target, c, reference) for c in candidates(target, calls, slow))
    least = min(e.tv for e in entries)
    best = next(e for e in entries if e.tv <= least + TV_FLOOR)
    todays = [e for e in entries if e.label in TODAY]
    today_least = min(e.tv for e in todays)
    today = next(e for e in todays if e.tv <= today_least + TV_FLOOR)
    return PerCallRow(
        vocab_size=vocab_size,
        length=length,
        seed=seed,
        calls=calls,
        limit_tv=limit.tv,
        limit_plan=limit.blocks,
        entries=entries,
        best=best.label,
        best_tv=best.tv,
        today_best=today.label,
        today_tv=today.tv,
        ratio=_ratio(today.tv, best.tv),
        gap=best.tv - limit.tv,
        seconds=time.perf_counter() - start,
    )


def _int_tuple(name: str, values: Any, minimum: int) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a non-empty sequence of integers >= {minimum}, got {values!r}")
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} must be a non-empty sequence of integers >= {minimum}, got {values!r}")
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must hold integers >= {minimum}, got {value!r} in {values!r}")
        out.append(int(value))
    return tuple(dict.fromkeys(out))


def _check_grid(vocab_sizes, lengths, seeds, calls):
    vocab_sizes = _int_tuple("vocab_sizes", vocab_sizes, 2)
    lengths = _int_tuple("lengths", lengths, 2)
    seeds = _int_tuple("seeds", seeds, 0)
    calls = _int_tuple("calls", calls, 1)
    if max(calls) > min(lengths):
        raise ValueError(
            f"calls must be at most every length (a plan splits L positions into K non-empty blocks), "
            f"got calls={calls} with lengths={lengths}"
        )
    for v in vocab_sizes:
        for n in lengths:
            if v**n > MAX_STATES:
                raise ValueError(
                    f"vocab_sizes and lengths give V^L = {v}^{n} states, above the exact-law limit "
                    f"{MAX_STATES:,}; use smaller vocab_sizes or lengths"
                )
            for k in calls:
                if count_plans(n, k) > MAX_PLANS:
                    raise ValueError(
                        f"calls={k} on lengths={n} gives {count_plans(n, k):,} plans, above the limit "
                        f"search's {MAX_PLANS:,}; use fewer calls or shorter lengths"
                    )
    return vocab_sizes, lengths, seeds, calls


def run_per_call(
    vocab_sizes: Sequence[int] = (2, 3),
    lengths: Sequence[int] = (4, 5, 6),
    seeds: Sequence[int] = (0, 1, 2),
    calls: Sequence[int] = (2, 4),
    slow: bool = False,
) -> list[PerCallRow]:
    """One :class:`PerCallRow` per target ``MarkovChain.random(V, L, 0.3, seed)`` and budget
    ``K in calls``, in the order ``V``, ``L``, ``seed``, ``K``. Every figure is computed here
    (exact laws and exact limits). ``slow``: also run ``rk2`` (see :func:`candidates`).

    Raises ``ValueError`` naming the argument when a grid is empty or holds a non-integer, a
    vocabulary below 2, a length below 2, a negative seed, a budget below 1 or above a length, or
    when a target is too large for exact laws or for the limit's search.
    """
    vocab_sizes, lengths, seeds, calls = _check_grid(vocab_sizes, lengths, seeds, calls)
    return [
        per_call_row(v, n, s, k, slow) for v in vocab_sizes for n in lengths for s in seeds for k in calls
    ]


# --------------------------------------------------------------------------------------------------
# Summary and report
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SamplerSummary:
    """One candidate over the targets at one budget.

    ``ratio_of_means`` is ``mean(today_tv) / mean(tv)``; ``ratio_min`` the least per-target
    ``today_tv / tv`` where defined (targets where both are exact are left out; ``inf`` where only
    this one is exact); ``gap_max`` the largest ``tv - limit_tv``. The aims: ``aim_ratio_mean``
    (``ratio_of_means >= AIM_RATIO``), ``aim_ratio_every`` (``ratio_min >= AIM_RATIO``; held when
    no ratio is defined), ``aim_gap`` (``gap_max <= AIM_GAP``).
    """

    label: str
    tv_mean: float
    tv_max: float
    ratio_of_means: float
    ratio_min: float
    gap_max: float
    aim_ratio_mean: bool
    aim_ratio_every: bool
    aim_gap: bool


@dataclass(frozen=True)
class PerCallSummary:
    """Means and maxima over the targets at one budget ``calls = K``.

    The ``best_*``, ``ratio_*``, ``gap_*`` and ``aim_*`` fields are about the **per-target best**
    candidate (chosen after seeing every TV: an oracle choice of sampler, not one sampler).
    ``ratio_of_means`` is ``mean(today_tv) / mean(best_tv)`` (robust to exact targets);
    ``ratio_min`` / ``ratio_max`` are over the targets where the ratio is defined
    (``ratio_undefined`` targets have both today's best and the best exact and are left out).
    ``aim_ratio_mean``: ``ratio_of_means >= AIM_RATIO``; ``aim_ratio_every``: every defined ratio
    is ``>= AIM_RATIO``; ``aim_gap``: ``gap_max <= AIM_GAP``. The aims are stated at
    ``AIM_CALLS`` calls and evaluated at every ``K``.

    ``best_counts``: how often each candidate is the per-target best. ``samplers``: every
    candidate as one sampler over all targets (:class:`SamplerSummary`), by increasing mean TV, so
    ``samplers[0]`` is the best single sampler.
    """

    calls: int
    targets: int
    best_tv_mean: float
    best_tv_max: float
    limit_tv_mean: float
    limit_tv_max: float
    today_tv_mean: float
    today_tv_max: float
    ratio_of_means: float
    ratio_min: float
    ratio_max: float
    ratio_undefined: int
    gap_mean: float
    gap_max: float
    aim_ratio_mean: bool
    aim_ratio_every: bool
    aim_gap: bool
    best_counts: tuple[tuple[str, int], ...]
    samplers: tuple[SamplerSummary, ...]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _ratios(today: Sequence[float], tvs: Sequence[float]) -> tuple[float, float, float, int]:
    """(ratio of means, min and max of the defined per-target ratios, count undefined)."""
    defined = [r for r in (_ratio(a, b) for a, b in zip(today, tvs, strict=True)) if not math.isnan(r)]
    of_means = _ratio(_mean(today), _mean(tvs))
    low = min(defined) if defined else math.nan
    high = max(defined) if defined else math.nan
    return of_means, low, high, len(today) - len(defined)


def _sampler_summary(label: str, tvs: Sequence[float], rows: Sequence[PerCallRow]) -> SamplerSummary:
    of_means, low, _, _ = _ratios([row.today_tv for row in rows], tvs)
    gap = max(value - row.limit_tv for value, row in zip(tvs, rows, strict=True))
    return SamplerSummary(
        label=label,
        tv_mean=_mean(tvs),
        tv_max=max(tvs),
        ratio_of_means=of_means,
        ratio_min=low,
        gap_max=gap,
        aim_ratio_mean=of_means >= AIM_RATIO,
        aim_ratio_every=not (low < AIM_RATIO),  # nan (no defined ratio) counts as held
        aim_gap=gap <= AIM_GAP,
    )


def _check_rows(rows: Any) -> list[PerCallRow]:
    if isinstance(rows, (PerCallRow, str, bytes)) or not hasattr(rows, "__iter__"):
        raise ValueError(f"rows must be a sequence of PerCallRow (from run_per_call), got {rows!r}")
    rows = list(rows)
    if not rows:
        raise ValueError("rows must hold at least one PerCallRow (from run_per_call), got none")
    for row in rows:
        if not isinstance(row, PerCallRow):
            raise ValueError(f"rows must hold PerCallRow objects, got {type(row).__name__}")
    return rows


def summary(rows: Sequence[PerCallRow]) -> tuple[PerCallSummary, ...]:
    """One :class:`PerCallSummary` per budget in ``rows``, by increasing ``K``."""
    rows = _check_rows(rows)
    out = []
    for k in sorted({row.calls for row in rows}):
        at = [row for row in rows if row.calls == k]
        best = [row.best_tv for row in at]
        today = [row.today_tv for row in at]
        gaps = [row.gap for row in at]
        of_means, low, high, undefined = _ratios(today, best)
        counts: dict[str, int] = {}
        for row in at:
            counts[row.best] = counts.get(row.best, 0) + 1
        labels = [e.label for e in at[0].entries]
        labels = [label for label in labels if all(any(e.label == label for e in r.entries) for r in at)]
        samplers = sorted(
            (_sampler_summary(label, [row.entry(label).tv for row in at], at) for label in labels),
            key=lambda s: s.tv_mean,
        )
        out.append(
            PerCallSummary(
                calls=k,
                targets=len(at),
                best_tv_mean=_mean(best),
                best_tv_max=max(best),
                limit_tv_mean=_mean([row.limit_tv for row in at]),
                limit_tv_max=max(row.limit_tv for row in at),
                today_tv_mean=_mean(today),
                today_tv_max=max(today),
                ratio_of_means=of_means,
                ratio_min=low,
                ratio_max=high,
                ratio_undefined=undefined,
                gap_mean=_mean(gaps),
                gap_max=max(gaps),
                aim_ratio_mean=of_means >= AIM_RATIO,
                aim_ratio_every=not (low < AIM_RATIO),
                aim_gap=max(gaps) <= AIM_GAP,
                best_counts=tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0]))),
                samplers=tuple(samplers),
            )
        )
    return tuple(out)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.0f}"


def markdown(rows: Sequence[PerCallRow]) -> str:
    """A compact markdown table: a header, a separator and one line per row."""
    rows = _check_rows(rows)
    lines = [
        "| target | K | limit | best sampler | best TV | today (k-random, trapezoidal) | today TV "
        f"| today/best | best - limit | {FEATURED} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.label} | {row.calls} | {_fmt(row.limit_tv)} | {row.best} | {_fmt(row.best_tv)} "
            f"| {row.today_best} | {_fmt(row.today_tv)} | {_fmt(row.ratio)} | {_fmt(row.gap)} "
            f"| {_fmt(row.entry(FEATURED).tv)} |"
        )
    return "\n".join(lines)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


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
            f"| {s.calls} | {s.targets} | {_fmt(s.best_tv_mean)} / {_fmt(s.best_tv_max)} "
            f"| {_fmt(s.limit_tv_mean)} / {_fmt(s.limit_tv_max)} "
            f"| {_fmt(s.today_tv_mean)} / {_fmt(s.today_tv_max)} "
            f"| {_fmt(s.ratio_of_means)}, {_fmt(s.ratio_min)} ({s.ratio_undefined}) "
            f"| {_fmt(s.gap_mean)} / {_fmt(s.gap_max)} "
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
                f"| {s.calls} | {one.label} | {_fmt(one.tv_mean)} / {_fmt(one.tv_max)} "
                f"| {_fmt(one.ratio_of_means)}, {_fmt(one.ratio_min)} | {_fmt(one.gap_max)} "
                f"| {_yes(one.aim_ratio_mean)}, {_yes(one.aim_ratio_every)}, {_yes(one.aim_gap)} |"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Adaptive samplers (a random number of calls): reported apart, never at a fixed budget
# --------------------------------------------------------------------------------------------------
#: Settings of the adaptive samplers :func:`run_adaptive` runs: (name, hyperparameters).
ADAPTIVE = (
    ("eb", {"gamma": 0.1}),
    ("eb", {"gamma": 0.3}),
    ("threshold", {"threshold": 0.9}),
    ("factor-threshold", {"factor": 1.0}),
    ("certified", {"kl_budget": 0.2}),
)


@dataclass(frozen=True)
class AdaptiveEntry:
    """One adaptive sampler on one target: its exact TV, ``E[calls]`` and most calls on a path."""

    vocab_size: int
    length: int
    seed: int
    label: str
    tv: float
    expected_calls: float
    max_calls: int


def run_adaptive(
    vocab_sizes: Sequence[int] = (2, 3),
    lengths: Sequence[int] = (4, 5, 6),
    seeds: Sequence[int] = (0, 1, 2),
    settings: Sequence[tuple[str, dict]] = ADAPTIVE,
) -> list[AdaptiveEntry]:
    """Every adaptive sampler of ``settings`` on every target of the grid (exact laws). Their
    number of calls is random, so they are compared with the fixed-budget rows through
    ``expected_calls`` only; ``max_calls`` shows the budget they would need on every path."""
    vocab_sizes, lengths, seeds, _ = _check_grid(vocab_sizes, lengths, seeds, (1,))
    out = []
    for v in vocab_sizes:
        for n in lengths:
            for s in seeds:
                target = MarkovChain.random(v, n, concentration=CONCENTRATION, seed=s)
                reference = reference_law(target)
                for name, options in settings:
                    sampler = registry.get(name, **options)
                    result = run_law(target, sampler)
                    label = f"{name}({', '.join(f'{k}={x}' for k, x in options.items())})"
                    out.append(
                        AdaptiveEntry(
                            vocab_size=v,
                            length=n,
                            seed=s,
                            label=label,
                            tv=tv(result.law, reference),
                            expected_calls=result.expected_steps * sampler.calls_per_step,
                            max_calls=result.steps * sampler.calls_per_step,
                        )
                    )
    return out


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
            f"| {label} | {len(at)} | {_mean([e.expected_calls for e in at]):.2f} "
            f"| {max(e.max_calls for e in at)} | {_fmt(_mean([e.tv for e in at]))} / "
            f"{_fmt(max(e.tv for e in at))} |"
        )
    return "\n".join(lines)


def main() -> None:
    """The full study (``python -m unmask.bench.per_call``): every row, the summaries and the
    run time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: extra threads only contend
    try:
        begin, cpu = time.perf_counter(), time.process_time()
        measured = run_per_call()
        seconds, cpu_seconds = time.perf_counter() - begin, time.process_time() - cpu
        adaptive = run_adaptive()
    finally:
        torch.set_num_threads(threads)
    summaries = summary(measured)
    print(markdown(measured))
    print()
    print(summary_markdown(summaries))
    print()
    for s in summaries:
        print(f"K={s.calls}: per-target best counts {dict(s.best_counts)}")
    print(f"\n{len(measured)} rows in {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU")
    print()
    print(adaptive_markdown(adaptive))


if __name__ == "__main__":
    main()
