"""Conditioning and padding: ``cond`` tensors reach every denoiser call subset to the rows of the
call and in their order; ``attention_mask`` marks the positions that exist; padding never
changes, never counts as masked, and a padded row gives the tokens it gives alone."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import unmask

V = 3
DEVICE = torch.device("cpu")


class PaddingBlind:
    """A denoiser whose output at an existing position depends only on the tokens of the existing
    positions and on the position's rank among them (so padding cannot change it).

    It checks, at every call, that every tensor is on the declared device, that ``cond`` rows
    match the ``x_t`` rows (the first existing position of row ``b`` holds ``tag[b] % V``, fixed
    by the prompt) and that padding positions never change; it records the rows of each call.
    """

    def __init__(self, length: int, time_agnostic: bool, padding: dict[int, torch.Tensor] | None = None):
        g = torch.Generator().manual_seed(0)
        self.by_rank = torch.randn(length, V, generator=g, dtype=torch.float64)
        self.mix = torch.randn(V, V, generator=g, dtype=torch.float64)
        self.time_agnostic = time_agnostic
        self.calls: list[torch.Tensor] = []

    def __call__(self, x_t, t, attention_mask, tag):
        for tensor in (x_t, t, attention_mask, tag):
            assert tensor.device == DEVICE, tensor.device
        assert len(x_t) == len(t) == len(attention_mask) == len(tag)
        first = attention_mask.long().argmax(-1)
        assert torch.equal(x_t.gather(-1, first[:, None]).squeeze(-1), tag % V), "cond rows out of order"
        assert bool((x_t[~attention_mask] == V).all()), "a padding position changed"
        self.calls.append(tag.clone())
        rank = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        clean = (x_t < V) & attention_mask
        counts = (F.one_hot(x_t.clamp(max=V - 1), V) * clean.unsqueeze(-1)).sum(1).to(torch.float64)
        time = 0.0 if self.time_agnostic else 0.3 * t[:, None, None]
        return self.by_rank[rank] + 0.4 * (counts @ self.mix).unsqueeze(1) + time


LENGTHS = [5, 2, 4, 1, 3]

SAMPLERS = [
    ("first-hitting", None, None),
    ("euler", 4, None),
    ("k-random", 3, None),
    ("trapezoidal", 3, None),
    ("tweedie", 3, unmask.UniformProcess()),
]


def _ragged(side: str, free: int | None = None):
    """Prompts of lengths LENGTHS padded to the longest, on the left or the right: the first
    existing position of row b fixes token b % V, the others are free (or all but ``free``);
    padding holds the mask id (it must never count as masked)."""
    longest = max(LENGTHS)
    prompt = torch.full((len(LENGTHS), longest), V)
    exists = torch.zeros(len(LENGTHS), longest, dtype=torch.bool)
    alone = []
    for b, size in enumerate(LENGTHS):
        start = longest - size if side == "left" else 0
        exists[b, start : start + size] = True
        prompt[b, start] = b % V
        row = torch.full((1, size), V)
        row[0, 0] = b % V
        alone.append(row)
    return prompt, exists, alone


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize(("name", "steps", "process"), SAMPLERS, ids=[s[0] for s in SAMPLERS])
@pytest.mark.parametrize("time_agnostic", [True, False])
def test_padded_rows_give_the_tokens_they_give_alone(side, name, steps, process, time_agnostic):
    """Each prompt padded inside a batch of ragged prompts gives exactly the tokens it gives alone
    (same seed and row id), padding keeps its value, and the denoiser always received its cond
    rows in the order of x_t."""
    prompt, exists, alone = _ragged(side)
    tags = torch.arange(len(LENGTHS))
    denoiser = PaddingBlind(max(LENGTHS), time_agnostic)
    batch = unmask.sample(
        denoiser, name, vocab_size=V, steps=steps, process=process, prompt=prompt,
        attention_mask=exists, cond={"tag": tags}, generator=7, device=DEVICE,
    )  # fmt: skip
    assert bool((batch.tokens[~exists] == V).all())
    for b, row in enumerate(alone):
        single = unmask.sample(
            PaddingBlind(max(LENGTHS), time_agnostic), name, vocab_size=V, steps=steps, process=process,
            prompt=row, attention_mask=torch.ones_like(row, dtype=torch.bool), cond={"tag": tags[b : b + 1]},
            generator=7, row_ids=tags[b : b + 1],
        )  # fmt: skip
        assert torch.equal(batch.tokens[b][exists[b]], single.tokens[0]), (b, name)
        assert int(batch.nfe_per_row[b]) == int(single.nfe_per_row[0])


def test_calls_receive_the_rows_they_evaluate():
    """With rows that finish at different steps (first-hitting: one call per free position) the
    denoiser is called on subsets of the rows, and each call's cond rows are exactly the rows of
    that call (checked inside the denoiser); rows that are done are never evaluated again."""
    prompt, exists, _ = _ragged("right")
    denoiser = PaddingBlind(max(LENGTHS), time_agnostic=True)
    result = unmask.sample(
        denoiser, "first-hitting", vocab_size=V, prompt=prompt, attention_mask=exists,
        cond={"tag": torch.arange(len(LENGTHS))}, generator=1,
    )  # fmt: skip
    free = torch.tensor(LENGTHS) - 1
    assert torch.equal(result.nfe_per_row, free)
    assert any(len(call) < len(LENGTHS) for call in denoiser.calls)
    assert sorted(int(b) for call in denoiser.calls for b in call) == sorted(
        b for b, n in enumerate(free.tolist()) for _ in range(n)
    )


def test_a_plain_denoiser_keeps_working_without_conditioning():
    """``f(x_t, t)`` is called with two arguments when no conditioning is given."""

    def plain(x_t, t):
        return torch.zeros(len(x_t), x_t.shape[1], V)

    result = unmask.sample(plain, "euler", vocab_size=V, length=4, batch_size=3, steps=2, generator=0)
    assert result.tokens.shape == (3, 4)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        (
            {"cond": {"tag": torch.arange(2)}},
            ValueError,
            r"cond\['tag'\] must be a tensor whose leading dimension",
        ),
        ({"cond": {"tag": 3}}, ValueError, r"cond\['tag'\] must be a tensor"),
        ({"cond": [1, 2]}, TypeError, r"cond must be a mapping"),
        ({"attention_mask": torch.ones(3, 4)}, TypeError, r"attention_mask must be a bool tensor"),
        (
            {"attention_mask": torch.ones(3, 5, dtype=torch.bool)},
            ValueError,
            r"attention_mask must have shape",
        ),
        ({"attention_mask": torch.zeros(3, 4, dtype=torch.bool)}, ValueError, r"marks no position in row 0"),
        (
            {
                "attention_mask": torch.ones(3, 4, dtype=torch.bool),
                "cond": {"attention_mask": torch.ones(3, 4)},
            },
            ValueError,
            r"give attention_mask once",
        ),
        ({"row_ids": torch.arange(2)}, ValueError, r"row_ids must have shape \[B\] = \[3\]"),
        ({"row_ids": torch.tensor([0.0, 1.0, 2.0])}, TypeError, r"row_ids must be an integer tensor"),
        ({"device": "nonsense"}, ValueError, r"device must name a torch device"),
    ],
)
def test_bad_conditioning_is_refused_before_any_call(options, error, match):
    """Bad ``cond``, ``attention_mask``, ``row_ids`` or ``device`` raise a clear error naming the
    argument before the denoiser is called."""
    calls = []

    def denoiser(x_t, t, **cond):
        calls.append(1)
        return torch.zeros(len(x_t), x_t.shape[1], V)

    with pytest.raises(error, match=match):
        unmask.sample(denoiser, "euler", vocab_size=V, length=4, batch_size=3, steps=2, **options)
    assert not calls


def test_a_denoiser_that_cannot_take_the_conditioning_is_refused():
    """Passing ``attention_mask`` to ``f(x_t, t)`` raises a TypeError naming the argument and the fix."""

    def plain(x_t, t):
        return torch.zeros(len(x_t), x_t.shape[1], V)

    mask = torch.ones(2, 4, dtype=torch.bool)
    with pytest.raises(TypeError, match="does not accept the conditioning argument 'attention_mask'"):
        unmask.sample(plain, "euler", vocab_size=V, length=4, batch_size=2, steps=2, attention_mask=mask)
