"""The denoiser contract and its wrappers.

A denoiser is any callable ``f(x_t, t, **cond) -> logits``:

* ``x_t``: LongTensor ``[B, L]`` on the model's device, entries ``0..V-1`` or ``V`` (the mask id,
  masked process);
* ``t``: float tensor ``[B]``, forward time in ``[0, 1]``;
* ``cond``: optional row-aligned tensors (leading dimension ``B``), for example
  ``attention_mask [B, L]``; a sampler passes the rows of this call, in the order of ``x_t``. A
  denoiser given no conditioning is called as ``f(x_t, t)``;
* ``logits``: float tensor ``[B, L, V]`` in the model's own dtype (bf16 is fine), unnormalised
  log-probabilities of the clean token.

``-inf`` marks a token of probability 0 (exact denoisers use it); NaN, ``+inf`` or a row that is
``-inf`` everywhere are errors. An object may set ``time_agnostic = True`` to declare that its
output does not depend on ``t`` (samplers may then reuse a call for an unchanged row), and may
offer ``loo(x_t, t, **cond)``: leave-one-out logits ``[B, L, V]`` whose position ``i`` is the
law of ``x_i`` given ``x_t`` with position ``i`` masked (a hollow model gives them in one call).
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import torch

from . import checks
from .processes import Process


@runtime_checkable
class Denoiser(Protocol):
    """``f(x_t [B, L], t [B], **cond) -> logits [B, L, V]``."""

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, **cond: torch.Tensor) -> torch.Tensor: ...


def call(denoiser: Denoiser, x_t: torch.Tensor, t: torch.Tensor, cond: Mapping[str, torch.Tensor]):
    """``denoiser(x_t, t, **cond)``, or ``denoiser(x_t, t)`` when there is no conditioning."""
    return denoiser(x_t, t, **cond) if cond else denoiser(x_t, t)


def check_accepts(function: Callable, names: list[str], what: str = "the denoiser") -> None:
    """Raise ``TypeError`` before any work if ``function`` cannot take the keyword arguments
    ``names`` (it needs parameters of those names or ``**kwargs``)."""
    if not names:
        return
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return  # not introspectable (a builtin or an extension): let the call decide
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    accepted = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    missing = [name for name in names if name not in accepted]
    if missing:
        raise TypeError(
            f"{what} does not accept the conditioning argument {missing[0]!r}: give it a parameter "
            f"of that name (f(x_t, t, {missing[0]}=None)) or **cond, or do not pass {missing[0]}"
        )


def check_vocabulary(denoiser: Any, vocab_size: int) -> None:
    """Raise ``ValueError`` if ``denoiser`` declares a ``vocab_size`` (the last dimension of its
    logits; exact target denoisers do) that differs from the ``vocab_size`` of the run.

    Caught before the first call: a wrong ``vocab_size`` also moves the mask id, so the denoiser
    would otherwise fail on its input (an id out of range) before its logits could be checked.
    """
    declared = getattr(denoiser, "vocab_size", None)
    if isinstance(declared, int) and not isinstance(declared, bool) and declared != vocab_size:
        raise ValueError(
            f"vocab_size={vocab_size} disagrees with the denoiser, whose logits have last dimension "
            f"{declared} (its vocabulary; the mask id is vocab_size); pass vocab_size={declared}"
        )


def is_time_agnostic(denoiser: Any) -> bool:
    """Whether ``denoiser`` declares that its output does not depend on ``t``."""
    return bool(getattr(denoiser, "time_agnostic", False))


def check_logits(logits: Any, batch: int, length: int, vocab_size: int) -> torch.Tensor:
    """Validate a denoiser output against ``[batch, length, vocab_size]`` and return it.

    Raises ``TypeError`` for a non-tensor or non-float output and ``ValueError`` for a wrong shape,
    NaN, ``+inf`` or a position whose logits are all ``-inf``.
    """
    check_logits_shape(logits, batch, length, vocab_size)
    raise_for_flags(int(logits_flags(logits)))
    return logits


def check_logits_shape(logits: Any, batch: int, length: int, vocab_size: int) -> torch.Tensor:
    """Validate the type, dtype and shape of a denoiser output (nothing is read from the device)."""
    if not torch.is_tensor(logits):
        raise TypeError(f"the denoiser must return a tensor of logits, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"the denoiser must return float logits, got dtype {logits.dtype}")
    expected = (batch, length, vocab_size)
    if tuple(logits.shape) != expected:
        hint = ""
        if logits.dim() == 3 and tuple(logits.shape[:2]) == expected[:2]:
            if logits.shape[-1] == vocab_size + 1:
                hint = " (it has a mask column: drop it, models output logits over the V clean tokens)"
            else:
                hint = f" (vocabulary {logits.shape[-1]}, but vocab_size={vocab_size} was given)"
        raise ValueError(
            f"the denoiser returned logits of shape {tuple(logits.shape)}, expected {expected}{hint}"
        )
    return logits


#: How many positions :func:`warn_if_probabilities` reads.
PROBABILITY_CHECK_ROWS = 8


def warn_if_probabilities(logits: torch.Tensor) -> None:
    """Warn if ``logits [..., V]`` look like probabilities: at up to
    :data:`PROBABILITY_CHECK_ROWS` positions spread over the output, every entry non-negative and
    every position summing to 1. Reads the device once: call it on a denoiser's first output only."""
    if logits.dim() == 0 or logits.shape[-1] < 2 or logits.numel() == 0:
        return
    # A sample of at most PROBABILITY_CHECK_ROWS positions, spread over the output: enough to tell
    # probabilities from logits, and a copy of it stays small at any vocabulary (no copy of the
    # whole output, even when it is not contiguous).
    lead = logits.shape[:-1]
    count = math.prod(lead)
    index = torch.arange(0, count, max(1, -(-count // PROBABILITY_CHECK_ROWS)), device=logits.device)
    picked = logits.detach()[torch.unravel_index(index, lead)]
    values = picked.to(torch.float64 if logits.dtype == torch.float64 else torch.float32)
    tolerance = checks.sum_tolerance(logits.dtype, values.shape[-1], 1e-6)
    off = (values.sum(-1) - 1).abs().amax()
    if bool((values.amin() >= 0) & (off <= tolerance)):
        warnings.warn(
            "the denoiser's output looks like probabilities (non-negative, summing to 1 at every "
            "position), but a denoiser must return logits (unnormalised log-probabilities); return "
            "probs.log() instead, or the sampler will use softmax(probs), a flattened law",
            stacklevel=4,
        )


#: Bits of :func:`logits_flags`.
NAN, POSINF, NO_TOKEN = 1, 2, 4


def logits_flags(logits: torch.Tensor) -> torch.Tensor:
    """An int64 scalar on the logits' device: bit :data:`NAN` if a position holds NaN,
    :data:`POSINF` if one holds ``+inf``, :data:`NO_TOKEN` if one is ``-inf`` everywhere.

    One reduction finds them all (the row maximum is NaN, ``+inf`` or ``-inf`` exactly then), and
    nothing waits for the device: the flags are read at the driver's next stopping test.
    """
    if logits.numel() == 0:
        return torch.zeros((), dtype=torch.long, device=logits.device)
    top = logits.detach().amax(-1)
    return (
        torch.isnan(top).any().long() * NAN
        + torch.isposinf(top).any().long() * POSINF
        + torch.isneginf(top).any().long() * NO_TOKEN
    )


def raise_for_flags(flags: int) -> None:
    """Raise the ``ValueError`` that :func:`logits_flags` ``flags`` stand for (nothing if 0)."""
    if flags & NAN:
        raise ValueError("the denoiser returned NaN logits; check the model for overflow or bad inputs")
    if flags & POSINF:
        raise ValueError("the denoiser returned +inf logits; clip them or return finite values")
    if flags & NO_TOKEN:
        raise ValueError("the denoiser returned a position whose logits are all -inf (no token possible)")


class CarryOver:
    """Carry-over of unmasked tokens (MDLM's SUBS rule): at unmasked positions the output is a
    point mass on the current token (logit 0 there, ``-inf`` elsewhere); masked positions pass
    through. Masked process only."""

    def __init__(self, denoiser: Denoiser, vocab_size: int):
        self.denoiser = denoiser
        self.vocab_size = vocab_size
        self.time_agnostic = is_time_agnostic(denoiser)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, **cond: torch.Tensor) -> torch.Tensor:
        logits = call(self.denoiser, x_t, t, cond)
        unmasked = x_t != self.vocab_size
        clean = torch.full_like(logits, float("-inf"))
        clean.scatter_(-1, x_t.clamp(max=self.vocab_size - 1).unsqueeze(-1), 0.0)
        return torch.where(unmasked.unsqueeze(-1), clean, logits)


class ScoreDenoiser:
    """Adapter for a score-parameterised model ``g(x_t, t) -> log s [B, L, V]`` (concrete score).

    Masked process: ``p = s / sum_v s``, so the logits are the log-scores themselves.
    Uniform process: the posterior marginals solve ``s = G p`` (spec §1.2).
    """

    def __init__(self, score_model: Callable[..., torch.Tensor], process: Process):
        if not isinstance(process, Process):
            raise TypeError(f"process must be a Process (MaskedProcess(), ...), got {type(process).__name__}")
        self.score_model = score_model
        self.process = process
        self.time_agnostic = is_time_agnostic(score_model)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, **cond: torch.Tensor) -> torch.Tensor:
        return self.process.logits_from_log_score(call(self.score_model, x_t, t, cond), x_t, t)


class CountingDenoiser:
    """Counts calls (``calls``) and evaluated rows (``rows``) of the wrapped denoiser."""

    def __init__(self, denoiser: Denoiser):
        self.denoiser = denoiser
        self.time_agnostic = is_time_agnostic(denoiser)
        self.calls = 0
        self.rows = 0

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, **cond: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.rows += x_t.shape[0]
        output = call(self.denoiser, x_t, t, cond)
        if self.calls == 1 and torch.is_tensor(output) and output.is_floating_point():
            warn_if_probabilities(output)
        return output
