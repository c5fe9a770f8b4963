"""The denoiser contract and its wrappers.

A denoiser is any callable ``f(x_t, t) -> logits``:

* ``x_t``: LongTensor ``[B, L]``, entries ``0..V-1`` or ``V`` (the mask id, masked process);
* ``t``: FloatTensor ``[B]``, forward time in ``[0, 1]``;
* ``logits``: FloatTensor ``[B, L, V]``, unnormalised log-probabilities of the clean token.

``-inf`` marks a token of probability 0 (exact denoisers use it); NaN, ``+inf`` or a row that is
``-inf`` everywhere are errors. An object may set ``time_agnostic = True`` to declare that its
output does not depend on ``t``; samplers may then reuse a call for an unchanged row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch

from .probabilities import Probabilities
from .processes import MaskedProcess, Process, UniformProcess


@runtime_checkable
class Denoiser(Protocol):
    """``f(x_t [B, L], t [B]) -> logits [B, L, V]``."""

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor: ...


def is_time_agnostic(denoiser: Any) -> bool:
    """Whether ``denoiser`` declares that its output does not depend on ``t``."""
    return bool(getattr(denoiser, "time_agnostic", False))


def check_logits(logits: Any, batch: int, length: int, vocab_size: int) -> torch.Tensor:
    """Validate a denoiser output against ``[batch, length, vocab_size]`` and return it.

    Raises ``TypeError`` for a non-tensor or non-float output and ``ValueError`` for a wrong shape,
    NaN, ``+inf`` or a position whose logits are all ``-inf``.
    """
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
    # One reduction finds every bad position: the row maximum is NaN if the row holds a NaN, +inf
    # if it holds +inf and -inf if every entry is -inf; the full scans below run only on failure.
    if logits.numel() and not bool(torch.isfinite(logits.amax(-1)).all()):
        if torch.isnan(logits).any():
            raise ValueError("the denoiser returned NaN logits; check the model for overflow or bad inputs")
        if torch.isposinf(logits).any():
            raise ValueError("the denoiser returned +inf logits; clip them or return finite values")
        raise ValueError("the denoiser returned a position whose logits are all -inf (no token possible)")
    return logits


class CarryOver:
    """Carry-over of unmasked tokens (MDLM's SUBS rule): at unmasked positions the output is a
    point mass on the current token (logit 0 there, ``-inf`` elsewhere); masked positions pass
    through. Masked process only."""

    def __init__(self, denoiser: Denoiser, vocab_size: int):
        self.denoiser = denoiser
        self.vocab_size = vocab_size
        self.time_agnostic = is_time_agnostic(denoiser)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        logits = self.denoiser(x_t, t)
        unmasked = x_t != self.vocab_size
        clean = torch.full_like(logits, float("-inf"))
        clean.scatter_(-1, x_t.clamp(max=self.vocab_size - 1).unsqueeze(-1), 0.0)
        return torch.where(unmasked.unsqueeze(-1), clean, logits)


class ScoreDenoiser:
    """Adapter for a score-parameterised model ``g(x_t, t) -> log s [B, L, V]`` (concrete score).

    Masked process: ``p = s / sum_v s``, so the logits are the log-scores themselves.
    Uniform process: the posterior marginals solve ``s = G p`` (spec §1.2).
    """

    def __init__(self, score_model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], process: Process):
        self.score_model = score_model
        self.process = process
        self.time_agnostic = is_time_agnostic(score_model)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        log_score = self.score_model(x_t, t)
        if isinstance(self.process, MaskedProcess):
            return log_score
        assert isinstance(self.process, UniformProcess)
        probs = self.process.posterior_from_score(log_score.to(torch.float64).exp(), x_t, t)
        return probs.log()


class CountingDenoiser:
    """Counts calls (``calls``) and evaluated rows (``rows``) of the wrapped denoiser."""

    def __init__(self, denoiser: Denoiser):
        self.denoiser = denoiser
        self.time_agnostic = is_time_agnostic(denoiser)
        self.calls = 0
        self.rows = 0

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.rows += x_t.shape[0]
        return self.denoiser(x_t, t)


class CachedDenoiser:
    """Evaluates a denoiser on the rows that need it; returns :class:`Probabilities` over its logits.

    * Only ``active`` rows are evaluated; the others get a uniform placeholder (or keep their
      previous output).
    * When the denoiser is ``time_agnostic``, a row whose input equals its input at the previous
      evaluation reuses that output (the law is unchanged; the call is saved).
    * ``nfe`` counts batched calls actually made; ``nfe_per_row [B]`` counts the calls each row
      took part in.
    * The logits are kept in the denoiser's dtype; float64 probabilities are computed only where a
      sampler reads them (:mod:`unmask.probabilities`).
    """

    def __init__(
        self,
        denoiser: Denoiser,
        batch: int,
        length: int,
        vocab_size: int,
        reuse: bool | None = None,
    ):
        self.denoiser = denoiser
        self.length = length
        self.vocab_size = vocab_size
        self.reuse = is_time_agnostic(denoiser) if reuse is None else reuse
        self.nfe = 0
        self.nfe_per_row = torch.zeros(batch, dtype=torch.long)
        self._inputs = torch.full((batch, length), -1, dtype=torch.long)
        self._logits: torch.Tensor | None = None
        self._output: Probabilities | None = None

    def _evaluate(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return check_logits(self.denoiser(z, t), z.shape[0], self.length, self.vocab_size)

    def __call__(self, z: torch.Tensor, t: torch.Tensor, active: torch.Tensor | None = None) -> Probabilities:
        """Probabilities ``[B, L, V]`` for states ``z [B, L]`` at times ``t [B]``.

        A returned object is never modified afterwards (later calls build new tensors), so a
        sampler may hold on to the output of an earlier stage.
        """
        batch = z.shape[0]
        need = torch.ones(batch, dtype=torch.bool) if active is None else active.clone()
        if self.reuse:
            need &= (z != self._inputs).any(-1)
        if not bool(need.any()):
            if self._output is None:
                self._logits = torch.zeros(batch, self.length, self.vocab_size)
                self._output = Probabilities(self._logits)
            return self._output
        self.nfe += 1
        self.nfe_per_row += need.long()
        if bool(need.all()):
            self._logits = self._evaluate(z, t)
            if self.reuse:
                self._inputs = z.clone()
        else:
            rows = need.nonzero().squeeze(-1)
            fresh = self._evaluate(z[rows], t[rows])
            if self._logits is None:
                self._logits = torch.zeros(batch, self.length, self.vocab_size, dtype=fresh.dtype)
            self._logits = self._logits.to(torch.promote_types(self._logits.dtype, fresh.dtype))
            self._logits = self._logits.index_copy(0, rows, fresh.to(self._logits.dtype))
            if self.reuse:
                self._inputs = self._inputs.index_copy(0, rows, z[rows])
        self._output = Probabilities(self._logits)
        return self._output
