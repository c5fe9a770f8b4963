"""Attention masks: a real position never reads a padded one, and padding never makes NaN."""

from __future__ import annotations

import pytest
import torch

from .helpers import KINDS, L, V, call, tiny, tokens


def _mask(lengths: list[int], *, left: bool = False) -> torch.Tensor:
    """Bool ``[B, L]``: the first (or, ``left``, the last) ``lengths[b]`` positions of row b are real."""
    positions = torch.arange(L)
    lengths_ = torch.tensor(lengths)[:, None]
    return positions >= L - lengths_ if left else positions < lengths_


@pytest.mark.parametrize("left", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_padded_token_values_do_not_reach_real_positions(kind, left) -> None:
    """Changing the tokens at padded positions (to every other id) leaves the logits at real
    positions bit-identical, with right or left padding; the padded logits themselves are finite."""
    model = tiny(kind, noise=0.05)
    masked = kind != "autoregressive"
    mask = _mask([8, 5, 3, 1], left=left)
    x = tokens(4, seed=1, masked=masked)
    reference = call(model, x, 0.5, attention_mask=mask)
    assert torch.isfinite(reference).all()
    for shift in range(1, V + 1 if masked else V):
        changed = torch.where(mask, x, (x + shift) % (V + 1 if masked else V))
        assert not torch.equal(changed, x)
        out = call(model, changed, 0.5, attention_mask=mask)
        assert torch.equal(out[mask], reference[mask])


@pytest.mark.parametrize("kind", KINDS)
def test_without_a_mask_the_same_changes_do_reach_real_positions(kind) -> None:
    """The control of the test above: without the attention mask, changing those tokens changes
    the logits at the other positions (so the test above can fail)."""
    model = tiny(kind, noise=0.05)
    masked = kind != "autoregressive"
    x = tokens(1, seed=1, masked=masked)
    changed = x.clone()
    changed[0, 4] = (x[0, 4] + 1) % V
    # Positions 0..3 (the "real" prefix of the test above): the autoregressive model's are causal.
    real = slice(0, 4) if kind != "autoregressive" else slice(5, L)
    assert not torch.equal(call(model, x)[0, real], call(model, changed)[0, real])


@pytest.mark.parametrize("kind", KINDS)
def test_a_right_padded_row_gives_what_the_row_gives_alone(kind) -> None:
    """A row of ``n`` real tokens padded on the right to L has, at its real positions, the logits
    of the same ``n`` tokens without padding (rotary positions and keys unchanged; float32
    rounding of a different kernel shape aside)."""
    model = tiny(kind, noise=0.05)
    x = tokens(3, seed=2, masked=kind != "autoregressive")
    lengths = [8, 5, 2]
    padded = call(model, x, 0.5, attention_mask=_mask(lengths))
    for row, n in enumerate(lengths):
        alone = call(model, x[row : row + 1, :n], 0.5)
        torch.testing.assert_close(padded[row : row + 1, :n], alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_a_fully_padded_row_gives_finite_logits_and_leaves_the_others_alone(kind) -> None:
    """A row without real positions gives finite logits (no NaN from an empty softmax row), and
    the other rows are what they are without it."""
    model = tiny(kind, noise=0.05)
    x = tokens(2, seed=3, masked=kind != "autoregressive")
    mask = torch.stack([torch.ones(L, dtype=torch.bool), torch.zeros(L, dtype=torch.bool)])
    out = call(model, x, 0.5, attention_mask=mask)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[:1], call(model, x[:1], 0.5), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_a_0_1_mask_acts_as_the_bool_mask_and_other_values_are_refused(kind) -> None:
    """An integer or float 0/1 mask gives the bool mask's logits; a 2, a wrong shape or a non-tensor
    is refused with the argument named."""
    model = tiny(kind)
    x = tokens(4, seed=4, masked=kind != "autoregressive")
    mask = _mask([8, 5, 3, 1])
    reference = call(model, x, 0.5, attention_mask=mask)
    assert torch.equal(call(model, x, 0.5, attention_mask=mask.long()), reference)
    assert torch.equal(call(model, x, 0.5, attention_mask=mask.float()), reference)
    with pytest.raises(ValueError, match="attention_mask must hold 0/1.*got 2"):
        call(model, x, 0.5, attention_mask=mask.long() * 2)
    with pytest.raises(ValueError, match="attention_mask must have the shape"):
        call(model, x, 0.5, attention_mask=mask[:, :3])
    with pytest.raises(TypeError, match="attention_mask must be a tensor"):
        call(model, x, 0.5, attention_mask=[[1] * L] * 4)
