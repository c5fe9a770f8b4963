"""The Monte-Carlo budget: a fixed number of draws per sequence, or a target standard error.

Draws come in i.i.d. *units* (one draw, an antithetic pair, or a set of strata); an estimator
supplies ``evaluate(index [U]) -> values [U, C]``, the value of one fresh unit for each sequence
``index[u]`` (column ``C = 0`` is the estimate; coupled ratios carry more columns). The loop
batches units across sequences, cuts them into denoiser calls of at most ``max_rows`` rows, and
keeps per-sequence running means and variances in float64 (Chan's parallel update).

With ``target_stderr`` it draws in rounds: the first round has ``samples`` draws per sequence;
after each round a sequence whose standard error is above the target gets about
``variance / target^2`` units in all (at most four times what it has, and never beyond
``max_samples``); the others stop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .. import checks

#: The most draws per sequence (``samples``, ``max_samples``).
MAX_SAMPLES = 10**7
#: The most draws one round may plan over all sequences (the round's index holds one entry each).
MAX_ROUND_DRAWS = 2**28

#: ``progress(done, planned)``: draws made so far and draws planned so far, over every sequence.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Budget:
    """How many draws each sequence gets.

    Attributes:
        samples: draws per sequence (rounded up to whole units); with ``target_stderr``, the size
            of the first round.
        target_stderr: stop a sequence once its standard error (nats) is at most this.
        max_samples: the cap per sequence with ``target_stderr`` (default ``32 * samples``).
        max_rows: the most denoiser rows in one call.
    """

    samples: int = 128
    target_stderr: float | None = None
    max_samples: int | None = None
    max_rows: int = 4096

    def __post_init__(self) -> None:
        why = " (draws per sequence; that many would run for hours); use fewer, or target_stderr"
        checks.positive_int("samples", self.samples, maximum=MAX_SAMPLES, why=why)
        checks.positive_int("max_rows", self.max_rows)
        if self.target_stderr is not None:
            checks.positive_float("target_stderr", self.target_stderr)
        if self.max_samples is not None:
            checks.positive_int("max_samples", self.max_samples, maximum=MAX_SAMPLES, why=why)
            if self.target_stderr is None:
                raise ValueError(
                    "max_samples caps a target_stderr run; give target_stderr too (or use samples)"
                )

    def cap(self) -> int:
        """The most draws a sequence may get."""
        if self.target_stderr is None:
            return self.samples
        return self.max_samples if self.max_samples is not None else 32 * self.samples


class RunningStats:
    """Per-sequence count, mean and sums of squared and cubed deviations (``m2``, ``m3``) of unit
    values ``[B, C]`` (float64), on ``device``; merged by Chan's and Pebay's parallel updates:
    with ``d = mean_b - mean_a`` and ``n = n_a + n_b``,
    ``m2 = m2_a + m2_b + d^2 n_a n_b / n`` and
    ``m3 = m3_a + m3_b + d^3 n_a n_b (n_a - n_b) / n^2 + 3 d (n_a m2_b - n_b m2_a) / n``."""

    def __init__(self, batch: int, columns: int, device: torch.device | str = "cpu") -> None:
        self.count = torch.zeros(batch, dtype=torch.long, device=device)
        self.mean = torch.zeros(batch, columns, dtype=torch.float64, device=device)
        self.m2 = torch.zeros(batch, columns, dtype=torch.float64, device=device)
        self.m3 = torch.zeros(batch, columns, dtype=torch.float64, device=device)

    def add(self, index: torch.Tensor, values: torch.Tensor) -> None:
        """Merge unit values ``values [U, C]`` of sequences ``index [U]``."""
        batch = len(self.count)
        n_new = torch.bincount(index, minlength=batch)
        total = torch.zeros_like(self.mean).index_add_(0, index, values)
        mean_new = total / n_new.clamp(min=1)[:, None]
        deviation = values - mean_new[index]
        m2_new = torch.zeros_like(self.m2).index_add_(0, index, deviation**2)
        m3_new = torch.zeros_like(self.m3).index_add_(0, index, deviation**3)
        n_old = self.count.to(torch.float64)[:, None]
        n_add = n_new.to(torch.float64)[:, None]
        n_sum = (n_old + n_add).clamp(min=1)
        delta = mean_new - self.mean
        touched = (n_new > 0)[:, None]
        m3 = (
            self.m3 + m3_new + delta**3 * n_old * n_add * (n_old - n_add) / n_sum**2
            + 3 * delta * (n_old * m2_new - n_add * self.m2) / n_sum
        )  # fmt: skip
        self.mean = torch.where(touched, self.mean + delta * n_add / n_sum, self.mean)
        self.m3 = torch.where(touched, m3, self.m3)
        self.m2 = torch.where(touched, self.m2 + m2_new + delta**2 * n_old * n_add / n_sum, self.m2)
        self.count += n_new

    def variance(self) -> torch.Tensor:
        """Unbiased sample variance of one unit ``[B, C]`` (NaN below two units)."""
        n = self.count.to(torch.float64)[:, None]
        return torch.where(n > 1, self.m2 / (n - 1).clamp(min=1), torch.nan)

    def skewness(self) -> torch.Tensor:
        """Sample skewness ``(m3 / n) / (m2 / n)^(3/2)`` of one unit ``[B, C]`` (NaN below three
        units or with no spread)."""
        n = self.count.to(torch.float64)[:, None]
        spread = self.m2 > 0
        value = (self.m3 / n.clamp(min=1)) / (self.m2.clamp(min=1e-300) / n.clamp(min=1)) ** 1.5
        return torch.where((n > 2) & spread, value, torch.nan)

    def stderr(self) -> torch.Tensor:
        """Standard error of the mean ``[B, C]`` (``inf`` below two units)."""
        n = self.count.to(torch.float64)[:, None]
        return torch.where(n > 1, (self.variance() / n.clamp(min=1)).sqrt(), torch.inf)


def run_units(
    evaluate: Callable[[torch.Tensor], torch.Tensor],
    batch: int,
    columns: int,
    unit_size: int,
    rows_per_draw: int,
    budget: Budget,
    progress: Progress | None = None,
    device: torch.device | str = "cpu",
) -> RunningStats:
    """Draw units for ``batch`` sequences until the budget is spent; the stopping rule reads
    column 0's standard error (one read of the device per round). The sequence ids passed to
    ``evaluate`` and the statistics live on ``device``."""
    per_call = max(1, budget.max_rows // (unit_size * rows_per_draw))
    cap = math.ceil(budget.cap() / unit_size)
    first = min(math.ceil(budget.samples / unit_size), cap)
    if budget.target_stderr is not None:
        first = max(first, min(2, cap))
    if batch * first * unit_size > MAX_ROUND_DRAWS:
        raise ValueError(
            f"samples={budget.samples} for {batch:,} sequences plans {batch * first * unit_size:,} draws in "
            f"one round, more than the limit of 2**28 = {MAX_ROUND_DRAWS:,}; score fewer sequences per call "
            "or use fewer samples"
        )
    stats = RunningStats(batch, columns, device)
    want = torch.full((batch,), first, dtype=torch.long, device=device)
    planned = done = 0
    while True:
        index = torch.repeat_interleave(torch.arange(batch, device=device), want)
        planned += len(index) * unit_size
        for start in range(0, len(index), per_call):
            chunk = index[start : start + per_call]
            stats.add(chunk, evaluate(chunk).reshape(len(chunk), columns))
            done += len(chunk) * unit_size
            if progress is not None:
                progress(done, planned)
        if budget.target_stderr is None:
            return stats
        want = _more_units(stats, budget.target_stderr, cap)
        if not bool(want.any()):
            return stats


def _more_units(stats: RunningStats, target: float, cap: int) -> torch.Tensor:
    """Units to add per sequence: enough for the target by the current variance estimate."""
    stderr, variance = stats.stderr()[:, 0], stats.variance()[:, 0]
    count = stats.count
    active = (stderr > target) & (count < cap)  # NaN (an infinite estimate) never continues
    needed = torch.ceil(1.05 * variance / target**2).nan_to_num(0.0, posinf=float(cap)).clamp(max=cap).long()
    more = torch.minimum(torch.minimum(needed - count, 4 * count), cap - count).clamp(min=1)
    return torch.where(active, more, 0)
