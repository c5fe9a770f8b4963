"""Exact denoisers built from a target's conditionals (the denoiser contract of ``unmask.denoisers``).

* Masked process: ``f(z, t) = log pi(x_i = v | z_U)`` at masked positions, a one-hot (logit 0 on
  the current token, ``-inf`` elsewhere) at unmasked ones; independent of ``t``. Its ``loo(z, t)``
  gives the leave-one-out conditionals ``log pi(x_i = v | z_{U \\ {i}})`` in one call.
* Uniform process: ``f(z, t) = log p(x_i = a | z_t = z)``, the exact posterior marginals.

``z`` and ``t`` may live on any device (``z`` may also be uint8, as the exact laws store states):
the target computes on its own device and the logits come back on ``z``'s device. Tokens of
probability 0 get the logit ``-inf``; no logit is NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import torch

from ..checks import batch_times

if TYPE_CHECKING:
    from ..processes import UniformProcess


class Target(Protocol):
    """What an exact denoiser reads of its target (:class:`unmask.targets.base.Target`)."""

    vocab_size: int
    length: int

    def conditionals(self, z: torch.Tensor) -> torch.Tensor: ...

    def leave_one_out(self, z: torch.Tensor) -> torch.Tensor: ...

    def uniform_posterior(self, z: torch.Tensor, t: Any, process: UniformProcess) -> torch.Tensor: ...

    def _check_tokens(self, name: str, x: Any, *, allow_mask: bool) -> torch.Tensor: ...


class ExactMaskedDenoiser:
    """``f(z [B, L], t) -> logits [B, L, V]`` (float64, on ``z``'s device) ``= log target.conditionals(z)``.

    ``z`` holds ids ``0..V`` (``V`` = mask); ``t`` (``[B]``, one element or a number, values in
    ``[0, 1]``) is checked and ignored: the exact masked denoiser does not depend on time.
    """

    time_agnostic = True

    def __init__(self, target: Target) -> None:
        self.target = target
        self.vocab_size = target.vocab_size
        self.length = target.length

    def __repr__(self) -> str:
        return f"ExactMaskedDenoiser({self.target!r})"

    def __call__(self, z: torch.Tensor, t: Any) -> torch.Tensor:
        z = self.target._check_tokens("z", z, allow_mask=True)
        batch_times("t", t, z.shape[0], z.device)
        return self.target.conditionals(z).log()

    def loo(self, z: torch.Tensor, t: Any) -> torch.Tensor:
        """Leave-one-out logits ``[B, L, V]`` (float64, on ``z``'s device) ``= log
        target.leave_one_out(z)``: position ``i`` holds the law of ``x_i`` given ``z [B, L]`` with
        position ``i`` masked (at a masked position, the ordinary conditional). ``t`` is checked
        and ignored."""
        z = self.target._check_tokens("z", z, allow_mask=True)
        batch_times("t", t, z.shape[0], z.device)
        return self.target.leave_one_out(z).log()


class ExactUniformDenoiser:
    """``f(z [B, L], t [B]) -> logits [B, L, V]`` (float64, on ``z``'s device)
    ``= log target.uniform_posterior(z, t)``.

    ``z`` holds ids ``0..V-1``; ``t`` is the forward time of each row (a number or one element is
    broadcast).
    """

    time_agnostic = False

    def __init__(self, target: Target, process: UniformProcess) -> None:
        self.target = target
        self.process = process
        self.vocab_size = target.vocab_size
        self.length = target.length

    def __repr__(self) -> str:
        return f"ExactUniformDenoiser({self.target!r}, {self.process!r})"

    def __call__(self, z: torch.Tensor, t: Any) -> torch.Tensor:
        return self.target.uniform_posterior(z, t, self.process).log()
