"""``score_rows``: ``-log p(x)`` of sequences under a trained model, one random stream per row.

A denoiser's likelihood is its NELBO (:func:`unmask.likelihood.nelbo`: an upper bound on
``-log p(x)`` in expectation, with a Monte-Carlo standard error), on the masked process of its
training loss. Every sequence is scored on its own with a generator seeded from ``(seed, its
global row id)`` (:func:`unmask.train.data.step_generator`, stream ``"likelihood"``), so its
estimate depends only on the seed, its id and its tokens: the same split between any number of
processes, in any batches. An autoregressive model gives ``log p(x)`` exactly (``log_prob``):
standard error 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ... import checks
from ...likelihood import nelbo
from ..data.seeds import step_generator
from .sampling import BATCH_SIZE
from .trained import TrainedModel

#: The label of exact scores of an autoregressive model.
EXACT_AUTOREGRESSIVE = "exact (autoregressive log_prob)"
#: The stream label of the per-row generators.
STREAM = "likelihood"

#: ``progress(rows_done, rows_total)`` after each row (denoisers) or batch.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ScoredRows:
    """Per-sequence scores (all tensors ``[N]`` on the CPU).

    Attributes:
        row_ids: the global id of each sequence.
        nll: the estimate of ``-log p(x)``, nats per sequence.
        stderr: its standard error (0 for an exact score).
        low, high: the 95% interval of each estimate (``nll`` itself for an exact score).
        samples: Monte-Carlo draws per sequence (0 for an exact score).
        nfe_per_row: model rows evaluated for each sequence.
        nfe: batched model calls made.
        method: the estimator (or :data:`EXACT_AUTOREGRESSIVE`).
        length: ``L``, the tokens scored per sequence.
        caveat: why the intervals may under-cover (the estimator's caveat), or None.
        reached_target: with ``target_stderr``, whether each sequence reached it (else None).
    """

    row_ids: torch.Tensor
    nll: torch.Tensor
    stderr: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor
    samples: torch.Tensor
    nfe_per_row: torch.Tensor
    nfe: int
    method: str
    length: int
    caveat: str | None = None
    reached_target: torch.Tensor | None = None

    @property
    def bits_per_token(self) -> torch.Tensor:
        """``nll / (L log 2)``, float64 ``[N]``."""
        return self.nll / (self.length * math.log(2))


def score_rows(
    trained: TrainedModel,
    x: torch.Tensor,
    row_ids: torch.Tensor,
    *,
    seed: int,
    method: str = "time-free",
    samples: int = 128,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    **options: Any,
) -> ScoredRows:
    """Score the sequences ``x [N, L]`` (clean ids) whose global ids are ``row_ids [N]`` (module
    docstring). ``method``, ``samples`` and ``options`` (``eps``, ``variant``, ``steps``,
    ``target_stderr``, ``max_samples``) go to :func:`unmask.likelihood.nelbo`; an autoregressive
    model takes none of them (it is scored exactly, ``batch_size`` rows a call)."""
    seed = checks.seed("seed", seed)
    batch_size = checks.positive_int("batch_size", batch_size)
    x = checks.token_tensor("x", x, vocab_size=trained.vocab_size, allow_mask=False)
    row_ids = torch.as_tensor(row_ids, dtype=torch.long).reshape(-1)
    if x.dim() != 2 or x.shape[1] != trained.length or len(x) != len(row_ids):
        raise ValueError(
            f"x must have shape [N, {trained.length}] with one row per row id ({len(row_ids)}), "
            f"got {tuple(x.shape)}"
        )
    if trained.scores_exactly:
        return _score_exactly(trained, x, row_ids, batch_size, progress)
    if not len(x):  # a process of a job with fewer rows than processes
        return _no_rows(trained, method)
    records = []
    with torch.no_grad():
        for index in range(len(x)):
            generator = step_generator(seed, STREAM, int(row_ids[index]))
            records.append(
                nelbo(
                    trained.model,
                    x[index : index + 1].to(trained.device),
                    trained.vocab_size,
                    method=method,
                    samples=samples,
                    generator=generator,
                    process=trained.process,
                    **options,
                )  # fmt: skip
            )
            if progress is not None:
                progress(index + 1, len(x))
    intervals = [record.interval() for record in records]
    reached = [record.reached_target for record in records]
    caveats = [record.caveat for record in records if record.caveat is not None]
    return ScoredRows(
        row_ids=row_ids,
        nll=torch.cat([record.nll.cpu() for record in records]),
        stderr=torch.cat([record.stderr.cpu() for record in records]),
        low=torch.cat([low.cpu() for low, _ in intervals]),
        high=torch.cat([high.cpu() for _, high in intervals]),
        samples=torch.cat([record.samples.cpu() for record in records]),
        nfe_per_row=torch.cat([record.nfe_per_row.cpu() for record in records]),
        nfe=sum(record.nfe for record in records),
        method=records[0].method,
        length=trained.length,
        caveat=caveats[0] if caveats else None,
        reached_target=None if reached[0] is None else torch.cat([r.cpu() for r in reached]),
    )


def _no_rows(trained: TrainedModel, method: str) -> ScoredRows:
    empty = torch.zeros(0, dtype=torch.float64)
    none = torch.zeros(0, dtype=torch.long)
    return ScoredRows(
        row_ids=none, nll=empty, stderr=empty, low=empty, high=empty, samples=none, nfe_per_row=none,
        nfe=0, method=method, length=trained.length,
    )  # fmt: skip


def _score_exactly(
    trained: TrainedModel, x: torch.Tensor, row_ids: torch.Tensor, batch_size: int, progress: Progress | None
) -> ScoredRows:
    pieces = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            rows = x[start : start + batch_size].to(trained.device)
            pieces.append(-trained.model.log_prob(rows).cpu().to(torch.float64))
            if progress is not None:
                progress(min(start + batch_size, len(x)), len(x))
    if not pieces:
        return _no_rows(trained, EXACT_AUTOREGRESSIVE)
    nll = torch.cat(pieces)
    zeros = torch.zeros(len(x), dtype=torch.long)
    return ScoredRows(
        row_ids=row_ids, nll=nll, stderr=torch.zeros_like(nll), low=nll.clone(), high=nll.clone(),
        samples=zeros, nfe_per_row=torch.ones_like(zeros), nfe=len(pieces), method=EXACT_AUTOREGRESSIVE,
        length=trained.length,
    )  # fmt: skip
