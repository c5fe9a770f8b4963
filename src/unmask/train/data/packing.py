"""Packing documents into one token stream and cutting it into fixed-length rows.

* :func:`concatenate`: documents joined into one 1-D stream, the separator after every document.
* :func:`pack`: consecutive, non-overlapping blocks ``[N, L]`` of a stream (the tail that does not
  fill a block is dropped).
* :func:`windows`: rows ``[B, L]`` of a stream starting at given offsets (random training rows).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ... import checks


def _check_stream(name: str, tokens: object) -> torch.Tensor:
    if not torch.is_tensor(tokens):
        raise TypeError(f"{name} must be a 1-D integer tensor of token ids, got {type(tokens).__name__}")
    if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer token ids, got dtype {tokens.dtype}")
    if tokens.dim() != 1:
        raise ValueError(f"{name} must be 1-D [n], got shape {tuple(tokens.shape)}; flatten it first")
    return tokens


def concatenate(documents: Sequence[torch.Tensor], separator: torch.Tensor) -> torch.Tensor:
    """One stream: ``doc_1, separator, doc_2, separator, ..., doc_n, separator``.

    ``documents``: 1-D integer tensors (one dtype); ``separator``: 1-D, possibly empty (then the
    documents are simply concatenated). Returns a 1-D tensor of their dtype.
    """
    separator = _check_stream("separator", separator)
    if len(documents) == 0:
        raise ValueError("documents must hold at least one document, got none")
    pieces: list[torch.Tensor] = []
    for index, document in enumerate(documents):
        pieces.append(_check_stream(f"documents[{index}]", document))
        pieces.append(separator.to(document.dtype))
    return torch.cat(pieces)


def pack(tokens: torch.Tensor, length: int) -> torch.Tensor:
    """Consecutive blocks of ``length`` tokens: ``tokens [n] -> [n // length, length]`` (a view).

    Block ``i`` is ``tokens[i * length : (i + 1) * length]``; the last ``n mod length`` tokens are
    dropped. Raises ``ValueError`` when ``n < length`` (not even one block).
    """
    tokens = _check_stream("tokens", tokens)
    length = checks.positive_int("length", length)
    count = tokens.shape[0] // length
    if count == 0:
        raise ValueError(
            f"tokens must hold at least one block of length={length}, got {tokens.shape[0]} tokens; "
            "give more text or a shorter length"
        )
    return tokens[: count * length].view(count, length)


def windows(tokens: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    """Rows ``out[b] = tokens[starts[b] : starts[b] + length]`` as a LongTensor ``[B, length]``.

    ``starts [B]`` must lie in ``0 .. n - length``.
    """
    tokens = _check_stream("tokens", tokens)
    length = checks.positive_int("length", length)
    if not torch.is_tensor(starts) or starts.dim() != 1 or starts.dtype != torch.int64:
        raise TypeError("starts must be a LongTensor [B] of offsets into tokens")
    last = tokens.shape[0] - length
    if starts.numel() and (int(starts.min()) < 0 or int(starts.max()) > last):
        raise ValueError(
            f"starts must lie in 0..n-length = 0..{last} (n = {tokens.shape[0]} tokens), "
            f"got offsets from {int(starts.min())} to {int(starts.max())}"
        )
    index = starts.unsqueeze(-1) + torch.arange(length, dtype=torch.int64)
    return tokens[index].long()
