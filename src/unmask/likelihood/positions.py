"""The scored positions of a likelihood: every position, or the response of a prompt-response pair.

A conditional likelihood ``log p(response | prompt)`` scores the positions of ``response`` (a bool
mask, True where the response is) and always conditions on the others: they are never masked or
noised, and they add nothing to the estimate (spec §8, "conditional likelihood").
"""

from __future__ import annotations

from typing import Any

import torch

from .. import checks


def check_sequences(x: Any, vocab_size: int, name: str = "x") -> torch.Tensor:
    """Clean token ids ``[B, L]`` with ``B, L >= 1`` (no mask id), as a LongTensor."""
    x = checks.token_tensor(name, x, vocab_size=vocab_size, allow_mask=False)
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(
            f"{name} must hold at least one sequence of at least one token, got shape {tuple(x.shape)}"
        )
    return x


def check_response(response: Any) -> torch.Tensor:
    """A response mask must be a bool tensor ``[B, L]`` or ``[L]`` (its shape is checked against
    the sequences by :func:`scored_positions`)."""
    if not torch.is_tensor(response) or response.dtype != torch.bool:
        got = response.dtype if torch.is_tensor(response) else type(response).__name__
        raise TypeError(f"response must be a bool tensor [B, L] or [L] (True at scored positions), got {got}")
    if response.dim() not in (1, 2):
        raise ValueError(f"response must have shape [B, L] or [L], got shape {tuple(response.shape)}")
    return response


def scored_positions(
    response: Any, shape: torch.Size, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(eligible bool [B, L], n LongTensor [B])`` on ``device`` from a response mask (``None`` =
    every position).

    ``response`` may be bool ``[B, L]`` or ``[L]`` (shared by every row); each row must score at
    least one position.
    """
    batch, length = shape
    if response is None:
        return (
            torch.ones(batch, length, dtype=torch.bool, device=device),
            torch.full((batch,), length, dtype=torch.long, device=device),
        )
    response = check_response(response).to(device)
    if tuple(response.shape) == (length,):
        response = response.expand(batch, length)
    if tuple(response.shape) != (batch, length):
        raise ValueError(
            f"response must have shape [B, L] = [{batch}, {length}] or [L], got shape {tuple(response.shape)}"
        )
    n = response.sum(-1)
    if bool((n == 0).any()):
        row = int((n == 0).nonzero()[0])
        raise ValueError(f"response marks no position in row {row}; every row must score at least one token")
    return response.clone(), n
