"""Rows split between processes, and JSON gathered back (one process here; two in the CLI tests)."""

from __future__ import annotations

import pytest

from unmask.train.evaluation.sharding import gather_json, rows_of
from unmask.train.trainer import DistributedContext


def test_blocks_partition_the_rows_in_order():
    """For every row count and number of processes, the ranks' blocks, in rank order, are exactly
    0..N-1, and their sizes differ by at most one."""
    for total in range(0, 14):
        for world_size in range(1, 6):
            blocks = [rows_of(total, rank, world_size) for rank in range(world_size)]
            assert [row for block in blocks for row in block] == list(range(total))
            sizes = [len(block) for block in blocks]
            assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError, match="rank"):
        rows_of(4, 2, 2)


def test_one_process_gathers_its_own_object_as_json():
    """A single process gets [obj] back, through JSON (tuples become lists); other objects are a
    TypeError."""
    assert gather_json({"rows": (1, 2)}, DistributedContext()) == [{"rows": [1, 2]}]
    with pytest.raises(TypeError, match="JSON"):
        gather_json({1, 2}, DistributedContext())
