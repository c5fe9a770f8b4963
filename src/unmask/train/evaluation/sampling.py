"""``draw_rows``: sequences from a trained model, for given global row ids.

A denoiser is sampled by :func:`unmask.sample` with the chosen sampler on the masked process of its
training loss, ``row_ids=`` giving each row its own random stream; an autoregressive model by
:func:`.autoregressive_sampling.sample_autoregressive`. Either way row ``r``'s tokens depend only on
the seed and ``r``: the rows ``0..N-1`` split between processes in any way, or drawn in batches of
any size, are the rows one process draws at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ... import checks
from ...samplers import sample
from ...samplers.base import Sampler
from .autoregressive_sampling import sample_autoregressive
from .trained import TrainedModel

#: Rows drawn in one batch by default.
BATCH_SIZE = 256

#: ``progress(rows_done, rows_total)`` after each batch.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DrawnRows:
    """Rows drawn by :func:`draw_rows`.

    Attributes:
        tokens: LongTensor ``[N, L]`` on the CPU.
        row_ids: LongTensor ``[N]``, the global id of each row.
        nfe: batched model calls made (summed over the batches).
        nfe_per_row: LongTensor ``[N]``, the calls each row took part in.
    """

    tokens: torch.Tensor
    row_ids: torch.Tensor
    nfe: int
    nfe_per_row: torch.Tensor


def draw_rows(
    trained: TrainedModel,
    row_ids: torch.Tensor,
    *,
    seed: int,
    sampler: str | Sampler = "first-hitting",
    steps: int | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> DrawnRows:
    """Draw the rows ``row_ids`` (LongTensor ``[N]`` of global ids) from ``trained`` (module
    docstring), ``batch_size`` rows at a time. ``sampler`` and ``steps`` apply to denoisers; an
    autoregressive model takes neither (``ValueError`` if a sampler other than the default or
    ``steps`` is given)."""
    seed = checks.seed("seed", seed)
    batch_size = checks.positive_int("batch_size", batch_size)
    row_ids = torch.as_tensor(row_ids, dtype=torch.long).reshape(-1)
    if trained.scores_exactly and (steps is not None or sampler != "first-hitting"):
        raise ValueError(
            "an autoregressive model samples token by token itself: it takes no sampler and no steps"
        )
    pieces, calls, nfe = [], [], 0
    for start in range(0, len(row_ids), batch_size):
        ids = row_ids[start : start + batch_size]
        if trained.scores_exactly:
            tokens = sample_autoregressive(trained.model, ids, seed, trained.length)
            nfe += trained.length
            calls.append(torch.full((len(ids),), trained.length, dtype=torch.long))
        else:
            result = sample(
                trained.model, sampler, vocab_size=trained.vocab_size, length=trained.length,
                batch_size=len(ids), steps=steps, process=trained.process, device=trained.device,
                generator=seed, row_ids=ids.to(trained.device), show_progress=False,
            )  # fmt: skip
            tokens = result.tokens
            nfe += result.nfe
            calls.append(result.nfe_per_row.cpu().long())
        pieces.append(tokens.cpu())
        if progress is not None:
            progress(min(start + batch_size, len(row_ids)), len(row_ids))
    empty = torch.zeros(0, trained.length, dtype=torch.long)
    return DrawnRows(
        tokens=torch.cat(pieces) if pieces else empty,
        row_ids=row_ids,
        nfe=nfe,
        nfe_per_row=torch.cat(calls) if calls else torch.zeros(0, dtype=torch.long),
    )
