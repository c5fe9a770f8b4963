"""The contract every source keeps (run on one source of each kind): batches are a pure function of
``(seed, step, rank, world_size)``, ranks split the global batch, ids stay clean, validation is fixed."""

from __future__ import annotations

import json

import pytest
import torch

from unmask.train.data import TokenSource

BATCH = 8


def test_follows_the_protocol(source: TokenSource) -> None:
    """Every source is a ``TokenSource`` with a positive vocabulary, length and validation size."""
    assert isinstance(source, TokenSource)
    assert source.vocab_size >= 2 and source.length >= 1 and source.validation_size >= 1
    assert isinstance(source.name, str) and source.name


def test_batch_shape_dtype_and_vocabulary(source: TokenSource) -> None:
    """A batch is a CPU LongTensor ``[B, L]`` with every id in ``0..V-1`` (never the mask id ``V``),
    over several steps and seeds."""
    for step in range(5):
        for seed in (0, 7):
            x = source.batch(step, BATCH, seed=seed)
            assert x.dtype == torch.long and x.device.type == "cpu"
            assert tuple(x.shape) == (BATCH, source.length)
            assert int(x.min()) >= 0 and int(x.max()) <= source.vocab_size - 1


def test_same_arguments_give_the_same_batch(source: TokenSource) -> None:
    """The same ``(seed, step)`` gives the same batch, call after call."""
    assert torch.equal(source.batch(3, BATCH, seed=5), source.batch(3, BATCH, seed=5))


def test_different_step_or_seed_gives_a_different_batch(source: TokenSource) -> None:
    """Changing the step or the seed changes the batch (8 random rows of 16 tokens coinciding by
    chance has negligible probability for every source here)."""
    reference = source.batch(3, BATCH, seed=5)
    assert not torch.equal(reference, source.batch(4, BATCH, seed=5))
    assert not torch.equal(reference, source.batch(3, BATCH, seed=6))


def test_resume_at_step_k_sees_the_uninterrupted_batches(source: TokenSource) -> None:
    """Resume property: a run that starts at step 4 (after unrelated use of torch's global random
    state) draws exactly the batches that an uninterrupted run draws at steps 4..6, and drawing a
    batch leaves torch's global random state untouched."""
    uninterrupted = [source.batch(step, BATCH, seed=11) for step in range(7)]
    torch.manual_seed(12345)
    torch.rand(100)
    state = torch.get_rng_state()
    resumed = [source.batch(step, BATCH, seed=11) for step in range(4, 7)]
    assert torch.equal(torch.get_rng_state(), state)
    for got, expected in zip(resumed, uninterrupted[4:], strict=True):
        assert torch.equal(got, expected)


@pytest.mark.parametrize("world_size", [2, 4])
def test_ranks_concatenate_to_the_single_process_batch(source: TokenSource, world_size: int) -> None:
    """Sharding property: the ranks' batches, concatenated in rank order, equal the
    ``world_size = 1`` batch of the same step; each has ``B / W`` rows."""
    for step in (0, 9):
        whole = source.batch(step, BATCH, seed=2)
        parts = [source.batch(step, BATCH, seed=2, rank=r, world_size=world_size) for r in range(world_size)]
        assert all(part.shape[0] == BATCH // world_size for part in parts)
        assert torch.equal(torch.cat(parts), whole)


def test_validation_is_fixed_and_sharded(source: TokenSource) -> None:
    """Validation batches are the same on every call, number ``validation_size // B`` (whole
    batches), hold clean ids, and the ranks' shards concatenate to the single-process batches."""
    batch = 4
    first = list(source.validation(batch))
    second = list(source.validation(batch))
    assert len(first) == source.validation_size // batch >= 1
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
        assert a.dtype == torch.long and tuple(a.shape) == (batch, source.length)
        assert int(a.min()) >= 0 and int(a.max()) <= source.vocab_size - 1
    shards = [list(source.validation(batch, rank=r, world_size=2)) for r in range(2)]
    for index, whole in enumerate(first):
        assert torch.equal(torch.cat([shards[0][index], shards[1][index]]), whole)


def test_validation_differs_from_training(source: TokenSource) -> None:
    """The validation set is not a training batch of step 0 (separate streams or held-out data)."""
    validation = next(iter(source.validation(4)))
    assert not torch.equal(validation, source.batch(0, 4, seed=0))


def test_describe_is_json_safe(source: TokenSource) -> None:
    """``describe()`` survives a JSON round trip unchanged and names the vocabulary and length."""
    description = source.describe()
    assert json.loads(json.dumps(description)) == description
    assert description["vocab_size"] == source.vocab_size and description["length"] == source.length
    assert description["name"] == source.name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 6, "world_size": 4}, "divisible by world_size"),
        ({"batch_size": 8, "world_size": 2, "rank": 2}, "rank must lie in"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"batch_size": 8, "seed": -1}, "seed must be a non-negative integer"),
        ({"batch_size": 8, "step": -1}, "step must be an integer >= 0"),
    ],
)
def test_bad_batch_arguments_raise(source: TokenSource, kwargs: dict, message: str) -> None:
    """Bad batch arguments raise ``ValueError`` naming the argument and the expectation."""
    arguments = {"step": 0, "seed": 0, **kwargs}
    step = arguments.pop("step")
    batch_size = arguments.pop("batch_size")
    with pytest.raises(ValueError, match=message):
        source.batch(step, batch_size, **arguments)


def test_validation_batch_larger_than_the_set_raises(source: TokenSource) -> None:
    """Asking for validation batches larger than the validation set raises ``ValueError`` at once."""
    with pytest.raises(ValueError, match="at most the number of validation sequences"):
        source.validation(source.validation_size + 1)
