"""``loglikelihood``: ``log p(continuation | context)`` of text pairs under a Hugging Face model.

For each pair the context is a prompt that is never masked and the continuation tokens are
scored (:mod:`.pairs` tokenises them). The estimate is ``-NELBO`` of the continuation given the
context, from :func:`unmask.likelihood.nelbo` with ``response=`` the continuation positions:

    logprob = -E_M[ w(M) sum_{i in M} -log p_theta(x_i | x with M masked) ]  <=  log p(continuation | context)

in expectation (a lower bound; equality for a model whose conditionals are exact), with its
Monte-Carlo standard error (0 for ``method="exact"``, which enumerates the mask sets). The model
is read through its own law: no suppression, temperature 1, no top-k or top-p
(:meth:`.HFDenoiser.plain`). Pairs are sorted by length and batched ``batch_size`` at a time with
right padding that is never attended and never scored; every call runs under ``torch.no_grad()``.
``is_greedy`` (optional, ``greedy=True``) says whether the greedy fill of the continuation's
positions reproduces it (:mod:`.greedy`; at most ``len(continuation)`` more calls per batch).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch

from .. import checks
from ..likelihood import LikelihoodOptions, nelbo
from .adapter import HFDenoiser
from .greedy import greedy_matches
from .kinds import check_kind
from .pairs import RightPadded, check_pairs, encode_pair, pad_pairs, truncate

#: The options of :func:`unmask.likelihood.nelbo` that ``loglikelihood`` passes on.
NELBO_OPTIONS = tuple(
    f.name for f in fields(LikelihoodOptions) if f.name not in ("response", "max_rows", "process", "progress")
)


@dataclass(frozen=True)
class LoglikelihoodResult:
    """Conditional log-likelihoods of ``P`` context-continuation pairs, in the order given.

    Attributes:
        logprob: float64 ``[P]``, ``-NELBO`` (nats): an estimate of a lower bound on
            ``log p(continuation | context)``.
        stderr: float64 ``[P]``, its Monte-Carlo standard error (0 for ``method="exact"``).
        is_greedy: bool ``[P]``, whether the greedy fill reproduces the continuation (None when
            not computed).
        context_tokens, continuation_tokens: LongTensor ``[P]``, the tokens of each part (the
            context after truncation, its BOS token included).
        nfe: model calls made, all batches together.
        method: the estimator.
        caveat: why the estimator's intervals may under-cover, or None.
    """

    logprob: torch.Tensor
    stderr: torch.Tensor
    is_greedy: torch.Tensor | None
    context_tokens: torch.Tensor
    continuation_tokens: torch.Tensor
    nfe: int
    method: str
    caveat: str | None = None

    def __len__(self) -> int:
        return len(self.logprob)

    def to_list(self) -> list[tuple[float, bool]]:
        """``[(logprob, is_greedy), ...]``, the answer an evaluation harness's ``loglikelihood``
        gives (``is_greedy`` False when it was not computed)."""
        greedy = [False] * len(self) if self.is_greedy is None else self.is_greedy.tolist()
        return list(zip(self.logprob.tolist(), greedy, strict=True))


def as_plain_adapter(model: Any, tokenizer: Any, kind: str, mask_token_id: int | None) -> HFDenoiser:
    """The model's own law as an :class:`.HFDenoiser` (from an adapter, or a model and tokenizer)."""
    check_kind(kind)
    if isinstance(model, HFDenoiser):
        if tokenizer is not None and tokenizer is not model.tokenizer:
            raise ValueError("give the tokenizer once: the adapter has its own; pass tokenizer=None")
        if kind not in ("auto", model.kind.name):
            raise ValueError(f"kind={kind!r} disagrees with the adapter's kind {model.kind.name!r}")
        return model.plain()
    if tokenizer is None:
        raise ValueError("a transformers model needs its tokenizer: loglikelihood(model, tokenizer, pairs)")
    return HFDenoiser(model, tokenizer, kind=kind, suppress_special=False, mask_token_id=mask_token_id)


def _default_max_length(model: Any) -> int | None:
    config = getattr(model, "config", None)
    size = getattr(config, "max_position_embeddings", None)
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None


def loglikelihood(
    model: Any,
    tokenizer: Any,
    pairs: Any,
    *,
    kind: str = "auto",
    method: str = "time-free",
    samples: int = 128,
    generator: torch.Generator | int | None = 0,
    batch_size: int = 16,
    greedy: bool = True,
    add_bos: bool = True,
    max_length: int | None = None,
    mask_token_id: int | None = None,
    **options: Any,
) -> LoglikelihoodResult:
    """``log p(continuation | context)`` with standard errors for each ``(context, continuation)``
    string pair (module docstring).

    Args:
        model: an :class:`.HFDenoiser` (``tokenizer=None``), or a ``transformers`` model.
        tokenizer: the model's tokenizer (None with an adapter).
        pairs: a list of ``(context, continuation)`` strings; the continuation must not be empty.
        kind: the model's kind when ``model`` is not an adapter (:mod:`.kinds`).
        method: a masked-process estimator of :data:`unmask.likelihood.METHODS` (``"exact"``
            enumerates ``2^L`` mask sets, ``L <= 16`` tokens per row).
        samples: Monte-Carlo draws per pair.
        generator: a ``torch.Generator`` or an int seed; one stream over the batches, so a seed
            and a ``batch_size`` give the same numbers.
        batch_size: pairs per batch, and the most rows of one model call.
        greedy: also compute ``is_greedy``.
        add_bos: put the tokenizer's BOS (else CLS) token in front of every context.
        max_length: the most tokens of a row (default ``config.max_position_embeddings``); longer
            contexts lose tokens on the left.
        mask_token_id: the mask token's model id, when the tokenizer does not name it.
        options: other :func:`unmask.likelihood.nelbo` options (``schedule``, ``eps``,
            ``variant``, ``strata``, ``steps``, ``target_stderr``, ``max_samples``).
    """
    keywords = {"method": method, "samples": samples, **options}
    chosen = LikelihoodOptions.build("loglikelihood", keywords, accepted=NELBO_OPTIONS)
    batch_size = checks.positive_int("batch_size", batch_size)
    for name, value in (("greedy", greedy), ("add_bos", add_bos)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    if max_length is not None:
        max_length = checks.positive_int("max_length", max_length)
    pairs = check_pairs(pairs)
    adapter = as_plain_adapter(model, tokenizer, kind, mask_token_id)
    if max_length is None:
        max_length = _default_max_length(adapter.model)
    rows = _encode_rows(adapter, pairs, add_bos, max_length)
    device = adapter.device
    generator = checks.generator(generator, device)
    count = len(rows)
    logprob = torch.zeros(count, dtype=torch.float64)
    stderr = torch.zeros(count, dtype=torch.float64)
    is_greedy = torch.zeros(count, dtype=torch.bool) if greedy else None
    order = sorted(range(count), key=lambda i: -(len(rows[i][0]) + len(rows[i][1])))
    nfe, caveat = 0, None
    with torch.no_grad():
        for start in range(0, count, batch_size):
            chunk = order[start : start + batch_size]
            batch = pad_pairs([rows[i] for i in chunk], adapter.vocab_size, adapter.token_id("pad"), device)
            denoiser = RightPadded(adapter, batch.fill)
            record = nelbo(
                denoiser, batch.x, adapter.vocab_size, generator=generator, response=batch.response,
                max_rows=batch_size, **keywords,
            )  # fmt: skip
            index = torch.tensor(chunk, dtype=torch.long)
            logprob[index] = -record.nll.cpu()
            stderr[index] = record.stderr.cpu()
            nfe += record.nfe
            caveat = caveat or record.caveat
            if is_greedy is not None:
                is_greedy[index] = greedy_matches(denoiser, batch.x, batch.response, adapter.vocab_size).cpu()
                nfe += int(batch.response.sum(-1).max())
    return LoglikelihoodResult(
        logprob=logprob,
        stderr=stderr,
        is_greedy=is_greedy,
        context_tokens=torch.tensor([len(c) for c, _ in rows], dtype=torch.long),
        continuation_tokens=torch.tensor([len(r) for _, r in rows], dtype=torch.long),
        nfe=nfe,
        method=chosen.method,
        caveat=caveat,
    )


def _encode_rows(
    adapter: HFDenoiser, pairs: list[tuple[str, str]], add_bos: bool, max_length: int | None
) -> list[tuple[list[int], list[int]]]:
    """Unmask-id ``(context, continuation)`` lists of every pair, checked."""
    vocabulary = adapter.vocabulary
    rows = []
    for index, (context, continuation) in enumerate(pairs):
        context_ids, continuation_ids = encode_pair(adapter.tokenizer, context, continuation, add_bos=add_bos)
        context_ids = truncate(context_ids, continuation_ids, max_length, index)
        for part, ids in (("context", context_ids), ("continuation", continuation_ids)):
            if vocabulary.mask_token_id in ids:
                raise ValueError(
                    f"pairs[{index}] holds the mask token in its {part}; a text with the mask token "
                    "cannot be scored (it is not a clean token)"
                )
        if adapter.kind.shifted and not context_ids:
            raise ValueError(
                f"pairs[{index}] has an empty context, but a shifted model has no prediction for "
                "position 0: give a context, or use a tokenizer with a BOS token and add_bos=True"
            )
        if not continuation_ids:
            raise ValueError(f"pairs[{index}]: the continuation {continuation!r} encodes to no token")
        rows.append(
            (
                [vocabulary.unmask_id(j) for j in context_ids],
                [vocabulary.unmask_id(j) for j in continuation_ids],
            )
        )
    return rows
