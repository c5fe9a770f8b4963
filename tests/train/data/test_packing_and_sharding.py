"""The small reusable pieces: ``concatenate``, ``pack``, ``windows``, ``shard_rows``, the seeds."""

from __future__ import annotations

import pytest
import torch

from unmask.train.data import (
    check_shard,
    concatenate,
    derive_seed,
    pack,
    shard_rows,
    validation_batches,
    windows,
)


def test_concatenate_puts_the_separator_after_every_document() -> None:
    """``[1, 2], [3] | sep [9, 9]`` -> ``1 2 9 9 3 9 9``; an empty separator joins directly."""
    docs = [torch.tensor([1, 2]), torch.tensor([3])]
    assert concatenate(docs, torch.tensor([9, 9])).tolist() == [1, 2, 9, 9, 3, 9, 9]
    assert concatenate(docs, torch.tensor([], dtype=torch.long)).tolist() == [1, 2, 3]


def test_pack_cuts_consecutive_blocks_and_drops_the_tail() -> None:
    """``pack(arange(11), 3)`` is ``[[0,1,2],[3,4,5],[6,7,8]]``: block i is tokens[3i : 3i+3]."""
    blocks = pack(torch.arange(11), 3)
    assert blocks.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert pack(torch.arange(6), 6).tolist() == [list(range(6))]


def test_windows_gathers_rows_at_offsets() -> None:
    """Row b of ``windows`` is ``tokens[starts[b] : starts[b] + L]`` as int64."""
    tokens = torch.arange(10, 20, dtype=torch.uint8)
    rows = windows(tokens, torch.tensor([0, 5, 3]), 5)
    assert rows.dtype == torch.long
    assert rows.tolist() == [[10, 11, 12, 13, 14], [15, 16, 17, 18, 19], [13, 14, 15, 16, 17]]


def test_shard_rows_gives_contiguous_blocks_by_rank() -> None:
    """Rank r of W keeps rows r*B/W .. (r+1)*B/W - 1; the shards concatenate to the batch."""
    batch = torch.arange(12).reshape(6, 2)
    assert shard_rows(batch, 1, 3).tolist() == [[4, 5], [6, 7]]
    assert torch.equal(torch.cat([shard_rows(batch, r, 3) for r in range(3)]), batch)
    assert torch.equal(shard_rows(batch), batch)
    assert check_shard(8, 3, 4) == slice(6, 8)


def test_validation_batches_shard_whole_batches() -> None:
    """11 rows in batches of 4 give 2 batches (rows 0..7); rank 1 of 2 gets rows 2-3 and 6-7."""
    rows = torch.arange(22).reshape(11, 2)
    assert [b[:, 0].tolist() for b in validation_batches(rows, 4, 1, 2)] == [[4, 6], [12, 14]]


def test_derive_seed_separates_streams_steps_and_seeds() -> None:
    """The seed is a fixed 63-bit function of (seed, stream, step): repeatable, different when
    any of the three changes."""
    base = derive_seed(0, "train", 5)
    assert base == derive_seed(0, "train", 5) and 0 <= base < 2**63
    others = {derive_seed(1, "train", 5), derive_seed(0, "validation", 5), derive_seed(0, "train", 6)}
    assert base not in others and len(others) == 3


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: pack(torch.arange(5), 6), ValueError, "at least one block of length=6"),
        (lambda: pack(torch.zeros(2, 3, dtype=torch.long), 2), ValueError, "must be 1-D"),
        (lambda: pack(torch.zeros(8), 2), TypeError, "integer token ids"),
        (lambda: pack([1, 2, 3], 1), TypeError, "1-D integer tensor"),
        (lambda: pack(torch.arange(8), 0), ValueError, "length must be an integer >= 1"),
        (
            lambda: windows(torch.arange(8), torch.tensor([4]), 5),
            ValueError,
            "starts must lie in 0..n-length = 0..3",
        ),
        (lambda: concatenate([], torch.tensor([0])), ValueError, "at least one document"),
        (lambda: shard_rows(torch.zeros(6, 2), 0, 4), ValueError, "divisible by world_size"),
        (lambda: shard_rows(torch.zeros(6, 2), 3, 3), ValueError, "rank must lie in 0..world_size-1"),
        (lambda: shard_rows(torch.zeros(6, 2), 0, 0), ValueError, "world_size must be an integer >= 1"),
        (lambda: shard_rows(torch.zeros(6, 2), True, 2), TypeError, "rank must be an integer"),
        (lambda: shard_rows("rows", 0, 1), TypeError, "batch must be a tensor"),
        (lambda: validation_batches(torch.zeros(3, 2), 4), ValueError, "at most the number"),
        (lambda: derive_seed(-1, "train", 0), ValueError, "seed must be a non-negative integer"),
        (lambda: derive_seed(0, "train", 1.0), TypeError, "step must be an integer"),
    ],
)
def test_bad_input_raises(call, error: type[Exception], message: str) -> None:
    """Each bad argument raises the stated error with a message naming it."""
    with pytest.raises(error, match=message):
        call()
