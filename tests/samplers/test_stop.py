"""``unmask.sample(..., stop=)``: a row that has ended takes no more steps, calls or final move,
its masked positions stay masked, everything before its end is what the run without ``stop``
gives, and its output does not depend on the other rows."""

from __future__ import annotations

import pytest
import torch

import unmask

V, L = 3, 6


class Recording:
    """Fixed random logits per position (whatever the state); records the rows of each call."""

    time_agnostic = True

    def __init__(self) -> None:
        self.logits = torch.randn(L, V, generator=torch.Generator().manual_seed(0)) * 2
        self.calls: list[int] = []

    def __call__(self, x_t, t):
        self.calls.append(len(x_t))
        return self.logits.expand(len(x_t), -1, -1).clone()


def ended_at_zero(z: torch.Tensor) -> torch.Tensor:
    """A row ends once its position 1 holds token 0 (a stand-in for an end of sequence)."""
    return z[:, 1] == 0


@pytest.mark.parametrize("sampler", ["first-hitting", "k-random", "top-k", "low-confidence-remasking"])
def test_ended_rows_stop_and_keep_what_came_before(sampler) -> None:
    options = {} if sampler == "first-hitting" else {"steps": L}
    prompt = torch.full((40, L), V)
    prompt[:, 0] = torch.arange(40) % V
    free = unmask.sample(Recording(), sampler, vocab_size=V, prompt=prompt, generator=5, **options)
    model = Recording()
    out = unmask.sample(
        model, sampler, vocab_size=V, prompt=prompt, generator=5, stop=ended_at_zero, **options
    )
    ended = ended_at_zero(out.tokens)
    assert ended.any() and (~ended).any()
    assert (out.nfe_per_row[ended] < L).any(), "some row ends before its last call"
    assert (out.nfe_per_row[~ended] == free.nfe_per_row[~ended]).all()
    assert not (out.tokens[~ended] == V).any(), "rows that never end are filled"
    # Before the step where a row ended, its draws are the free run's: every token it revealed
    # is the free run's token at that position.
    revealed = out.tokens != V
    assert torch.equal(out.tokens[revealed], free.tokens[revealed])
    for row in torch.nonzero(ended).flatten()[:5].tolist():
        alone = unmask.sample(
            Recording(), sampler, vocab_size=V, prompt=prompt[row : row + 1], generator=5,
            row_ids=torch.tensor([row]), stop=ended_at_zero, **options,
        )  # fmt: skip
        assert torch.equal(alone.tokens[0], out.tokens[row]) and alone.nfe == int(out.nfe_per_row[row])


def test_stop_must_be_callable() -> None:
    with pytest.raises(TypeError, match="stop must be callable"):
        unmask.sample(Recording(), "k-random", vocab_size=V, length=L, batch_size=2, steps=2, stop=True)
