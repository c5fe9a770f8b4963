"""Context-continuation pairs as padded batches of unmask ids, for a conditional log-likelihood.

**Tokenisation** (:func:`encode_pair`, the convention of evaluation harnesses): trailing spaces of
the context move to the front of the continuation; the context is ``encode(context)`` and the
continuation is what ``encode(context + continuation)`` adds after it (so a word split across the
boundary is tokenised as in the whole text), or ``encode(continuation)`` when the whole text does
not start with the context's tokens. Both are encoded without special tokens; the tokenizer's BOS
token (else its CLS token) goes in front of the context when ``add_bos``. Over ``max_length``
tokens, the context loses tokens on the left.

**Batches** (:func:`pad_pairs`): rows ``[context, continuation, fill ...]`` padded on the right to
the longest row; the continuation positions are the scored ``response``; the context and the
padding are never masked. ``nelbo`` calls a denoiser as ``f(x_t, t)``, without an attention mask,
so the padding is marked in-band: every padding position holds one ``fill`` id that is not the
last token of any row, so in any ``x_t`` the padding is exactly the trailing run of ``fill`` (a
masked last token is the mask id, not ``fill``). :class:`RightPadded` recovers the attention
mask from it in each call: padding is never attended and never scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch


def check_pairs(pairs: Any) -> list[tuple[str, str]]:
    """``pairs`` as a list of ``(context, continuation)`` string pairs; raise naming a bad entry."""
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise TypeError(
            f"pairs must be a list of (context, continuation) string pairs, got {type(pairs).__name__}"
        )
    checked = []
    for index, pair in enumerate(pairs):
        if (
            not isinstance(pair, (tuple, list))
            or len(pair) != 2
            or not all(isinstance(text, str) for text in pair)
        ):
            raise TypeError(f"pairs[{index}] must be a (context, continuation) pair of strings, got {pair!r}")
        if not pair[1]:
            raise ValueError(f"pairs[{index}] has an empty continuation; there is nothing to score")
        checked.append((pair[0], pair[1]))
    return checked


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def prefix_id(tokenizer: Any) -> int | None:
    """The model id put in front of every context: the BOS token, else the CLS token, else None."""
    for name in ("bos_token_id", "cls_token_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def encode_pair(
    tokenizer: Any, context: str, continuation: str, *, add_bos: bool = True
) -> tuple[list[int], list[int]]:
    """``(context_ids, continuation_ids)``, model ids (module docstring)."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    context_ids = _encode(tokenizer, context)
    whole = _encode(tokenizer, context + continuation)
    if whole[: len(context_ids)] == context_ids and len(whole) > len(context_ids):
        continuation_ids = whole[len(context_ids) :]
    else:
        continuation_ids = _encode(tokenizer, continuation)
    first = prefix_id(tokenizer) if add_bos else None
    if first is not None:
        context_ids = [first, *context_ids]
    return context_ids, continuation_ids


def truncate(context: list[int], continuation: list[int], max_length: int | None, index: int) -> list[int]:
    """The context cut on the left so that the pair fits ``max_length`` tokens."""
    if max_length is None or len(context) + len(continuation) <= max_length:
        return context
    if len(continuation) > max_length:
        raise ValueError(
            f"pairs[{index}] has a continuation of {len(continuation)} tokens, more than max_length="
            f"{max_length}; score shorter continuations or raise max_length"
        )
    return context[len(context) + len(continuation) - max_length :]


def choose_fill(preferred: int | None, last_tokens: Sequence[int], vocab_size: int) -> int:
    """A clean id for padding that is not the last token of any row: ``preferred`` (the padding
    token) when possible, else the smallest free id."""
    taken = set(last_tokens)
    if preferred is not None and 0 <= preferred < vocab_size and preferred not in taken:
        return preferred
    for candidate in range(vocab_size):
        if candidate not in taken:
            return candidate
    raise ValueError(
        f"every one of the {vocab_size} clean tokens ends some row of the batch, so no padding id is free; "
        "use a smaller batch_size"
    )


@dataclass(frozen=True)
class PairBatch:
    """Right-padded rows of context-continuation pairs, unmask ids.

    Attributes:
        x: LongTensor ``[n, L]``: context, continuation, then ``fill`` up to ``L``.
        response: bool ``[n, L]``, True at the continuation positions (the scored ones).
        fill: the padding id (no row ends with it).
    """

    x: torch.Tensor
    response: torch.Tensor
    fill: int


def pad_pairs(
    rows: Sequence[tuple[list[int], list[int]]],
    vocab_size: int,
    preferred_fill: int | None,
    device: torch.device,
) -> PairBatch:
    """A :class:`PairBatch` on ``device`` from ``(context, continuation)`` unmask-id lists."""
    length = max(len(c) + len(r) for c, r in rows)
    fill = choose_fill(preferred_fill, [(c + r)[-1] for c, r in rows], vocab_size)
    x = torch.full((len(rows), length), fill, dtype=torch.long)
    response = torch.zeros(len(rows), length, dtype=torch.bool)
    for i, (context, continuation) in enumerate(rows):
        x[i, : len(context) + len(continuation)] = torch.tensor(context + continuation, dtype=torch.long)
        response[i, len(context) : len(context) + len(continuation)] = True
    return PairBatch(x.to(device), response.to(device), fill)


def trailing_run(x: torch.Tensor, value: int) -> torch.Tensor:
    """Bool ``[n, L]``: True at the positions of the run of ``value`` that ends each row."""
    equal = (x == value).flip(-1).to(torch.int32)
    return torch.cummin(equal, dim=-1).values.flip(-1).bool()


class RightPadded:
    """The denoiser ``f(x_t, t)`` over the rows of a :class:`PairBatch`: each call recovers the
    attention mask ``[R, L]`` (False on the trailing run of ``fill``) and passes it on."""

    def __init__(self, denoiser: Any, fill: int) -> None:
        self.denoiser = denoiser
        self.fill = fill
        self.vocab_size = denoiser.vocab_size
        self.time_agnostic = bool(getattr(denoiser, "time_agnostic", False))

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.denoiser(x_t, t, attention_mask=~trailing_run(x_t, self.fill))
