"""Rotary position embeddings: scores depend on positions only through their offset."""

from __future__ import annotations

import pytest
import torch

from unmask.train.models import Rotary

HEAD_DIM, LENGTH = 16, 64


def _rotated(rotary: Rotary, vector: torch.Tensor, position: int) -> torch.Tensor:
    """``vector [D]`` rotated to ``position``, through the batched call on ``[1, 1, 1, D]``."""
    return rotary(vector.reshape(1, 1, 1, -1), torch.tensor([position]))[0, 0, 0]


def test_scores_depend_only_on_the_offset() -> None:
    """``<R_m q, R_n k>`` is the same for every ``(m, n)`` with the same ``m - n`` (to float32
    rounding), and changes with the offset."""
    rotary = Rotary(HEAD_DIM, LENGTH)
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, HEAD_DIM, generator=g)
    for offset in (0, 1, 5, -7, 30):
        pairs = [(m, m - offset) for m in range(max(0, offset), min(LENGTH, LENGTH + offset), 9)]
        scores = torch.stack([_rotated(rotary, q, m) @ _rotated(rotary, k, n) for m, n in pairs])
        assert len(pairs) >= 3
        torch.testing.assert_close(scores, scores[:1].expand_as(scores), atol=1e-5, rtol=1e-5)
    by_offset = torch.stack([_rotated(rotary, q, d) @ _rotated(rotary, k, 0) for d in range(8)])
    assert by_offset.unique().numel() == 8


def test_rotation_keeps_norms_and_position_zero_is_the_identity() -> None:
    """Each rotation is orthogonal (norms kept) and position 0 leaves vectors unchanged."""
    rotary = Rotary(HEAD_DIM, LENGTH)
    x = torch.randn(2, 3, LENGTH, HEAD_DIM, generator=torch.Generator().manual_seed(1))
    rotated = rotary(x)
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(rotated[..., 0, :], x[..., 0, :])


def test_per_row_positions_rotate_each_row_by_its_own_positions() -> None:
    """Positions ``[B, n]`` rotate row ``b`` as positions ``[n]`` equal to its own row would."""
    rotary = Rotary(HEAD_DIM, LENGTH)
    x = torch.randn(2, 3, 4, HEAD_DIM, generator=torch.Generator().manual_seed(2))
    positions = torch.tensor([[0, 1, 2, 3], [9, 4, 4, 0]])
    both = rotary(x, positions)
    for row in range(2):
        torch.testing.assert_close(both[row : row + 1], rotary(x[row : row + 1], positions[row]))


def test_odd_head_dim_is_refused() -> None:
    """Rotary embeddings rotate pairs: an odd head dimension is a ValueError naming it."""
    with pytest.raises(ValueError, match=r"head_dim must be even.*got 7"):
        Rotary(7, 8)
