"""The interface every exact target follows: ``Target``, plus the validation helpers they share.

A target is a law ``pi`` on ``{0..V-1}^L`` whose conditionals can be computed exactly (spec §5).
Clean tokens are ``0..V-1``; the mask id is ``V``. All probability maths is float64.

Devices
-------
A target's tables live on ``target.device``: the device of the tensors it was built from (the CPU
for the built-in factories). Every tensor a method creates names its device, so nothing depends on
torch's default device. Methods that take tokens or times accept them on any device, compute on
``target.device`` and return their result on the device of the tokens; ``probs``,
``uniform_marginal`` and ``sample`` return tensors on ``target.device``.

Impossible contexts
-------------------
An approximate sampler can reach a partial state ``z`` whose revealed tokens have probability 0
under the target (``pi(z_U) = 0``; for instance a parallel step that reveals two different tokens
in the copies chain). The conditional ``pi(x_i | z_U)`` is then ``0/0``. **Convention:** every
affected entry gets the uniform law ``1/V``. An entry is a ``(row, position)`` pair:

* :meth:`Target.conditionals` (and :meth:`Target.denoiser`): the masked positions of a row whose
  context ``z_U`` is impossible (unmasked positions keep their one-hot);
* :meth:`Target.leave_one_out`: position ``i`` of a row whose context ``z_{U \\ {i}}`` is impossible;
* :meth:`Target.uniform_posterior`: every position of a row with ``p_t(z) = 0``.

Each firing adds 1 per affected entry to the integer attribute ``impossible_contexts`` (set it back
to 0 to start a new count). The convention never changes TV or ``KL(pi || phat)`` (such paths
already lie outside the support of ``pi``), and no method ever returns NaN.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch

from .. import checks
from ..processes import UniformProcess
from .exact_denoiser import ExactMaskedDenoiser, ExactUniformDenoiser

#: The most entries a dense table ``[V] * L`` may have (32 MiB of float64).
MAX_TABLE_ENTRIES = 2**22

#: How far from 1 a float64 distribution may sum before it is rejected (it is then renormalised);
#: lower precisions get about one rounding unit per entry (:func:`unmask.checks.sum_tolerance`).
SUM_TOLERANCE = 1e-9


def check_table_size(vocab_size: int, length: int, what: str = "probs()") -> int:
    """Return ``V**L``, or raise ``ValueError`` if a dense table of that size is too large."""
    entries = vocab_size**length
    if entries > MAX_TABLE_ENTRIES:
        raise ValueError(
            f"{what} would build a table of V**L = {vocab_size}**{length} = {entries} entries, "
            f"more than the limit of 2**22 = {MAX_TABLE_ENTRIES}: the table is dense (one float64 "
            f"per sequence, {entries * 8 / 2**20:.0f} MiB here) and grows as V**L; "
            "use log_prob(x) or sample(n) instead"
        )
    return entries


def as_distribution(
    name: str, value: Any, shape: tuple[int | None, ...], device: torch.device | None = None
) -> torch.Tensor:
    """Return ``value`` as a float64 tensor whose last axis holds probability vectors.

    ``shape`` gives the expected shape (``None`` for a free size). Entries must be finite and
    non-negative and every vector along the last axis must sum to 1 within ``SUM_TOLERANCE`` (for
    float64 input; about one rounding unit per entry for float32 and lower precisions);
    the result is renormalised so that the sums are 1 to rounding. It lives on ``device``, by
    default the device of ``value`` when it is a tensor and the CPU otherwise.
    """
    if isinstance(value, (bool, int, float, str)) or value is None:
        raise TypeError(f"{name} must be a tensor of probabilities, got {type(value).__name__}")
    if device is None:
        device = value.device if torch.is_tensor(value) else torch.device("cpu")
    try:
        given = value.dtype if torch.is_tensor(value) else torch.as_tensor(value).dtype
        tensor = torch.as_tensor(value, dtype=torch.float64, device=device).clone()
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"{name} must be a tensor of probabilities, got {type(value).__name__}") from error
    expected = "[" + ", ".join("n" if s is None else str(s) for s in shape) + "]"
    if tensor.dim() != len(shape) or any(
        s is not None and s != got for s, got in zip(shape, tensor.shape, strict=True)
    ):
        raise ValueError(f"{name} must have shape {expected}, got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0 or tensor.shape[-1] == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} must hold finite probabilities, got a non-finite entry")
    if bool((tensor < 0).any()):
        bad = tensor[tensor < 0].min().item()
        raise ValueError(f"{name} must hold non-negative probabilities, got an entry {bad}")
    sums = tensor.sum(-1)
    worst = (sums - 1).abs().max().item()
    tolerance = checks.sum_tolerance(given, tensor.shape[-1], SUM_TOLERANCE)
    if worst > tolerance:
        what = "sum" if len(shape) == 1 else "rows (last axis) sum"
        raise ValueError(f"{name} must {what} to 1 (within {tolerance:.3g}), got a sum off by {worst:.3g}")
    return tensor / sums.unsqueeze(-1)


def check_generator(generator: Any) -> torch.Generator | None:
    """Return ``generator`` if it is ``None`` or a ``torch.Generator``, else raise ``TypeError``."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator


def categorical(
    probs: torch.Tensor, generator: torch.Generator | None = None, n: int | None = None
) -> torch.Tensor:
    """Draws by inverse CDF in float64: one per row of ``probs [n, K]``, or ``n`` from one law ``[K]``.

    ``u ~ U[0, 1)``; the draw is the number of CDF entries ``<= u * total``, so a category of
    probability 0 is never drawn. The uniforms come from ``generator`` on its own device (the draws
    of a given generator are then the same whatever the device of ``probs``). Returns LongTensor
    ``[n]`` on the device of ``probs``.
    """
    single = probs.dim() == 1
    cdf = probs.cumsum(-1)
    count = probs.shape[0] if n is None else n
    device = probs.device if generator is None else generator.device
    u = torch.rand(count, generator=generator, dtype=torch.float64, device=device).to(probs.device)
    if single:
        index = torch.searchsorted(cdf, u * cdf[-1], right=True)
    else:
        index = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(-1), right=True).squeeze(-1)
    # Rounding can put u * total on the total itself; fall back to the last positive category.
    positions = torch.arange(probs.shape[-1], device=probs.device).expand_as(probs)
    last_positive = positions.masked_fill(probs <= 0, -1).max(-1).values
    return torch.minimum(index, last_positive)


class Target(ABC):
    """A law ``pi`` on ``{0..V-1}^L`` with exact log-probabilities, samples and conditionals.

    Attributes:
        vocab_size: ``V``, the number of clean tokens (the mask id is ``V``).
        length: ``L``, the number of positions.
        device: where the target's tables live and its computations run (module docstring).
        impossible_contexts: how many ``(row, position)`` entries fell under the impossible-context
            convention (uniform ``1/V``; see the module docstring) since creation or the last reset.

    Subclasses implement the hooks ``_log_prob``, ``_sample``, ``_probs``, ``_masked_weights``,
    ``_leave_one_out_weights`` and ``_uniform_weights``; the public methods validate their
    arguments, normalise the weights and apply the convention.
    """

    def __init__(self, vocab_size: int, length: int, device: torch.device | str = "cpu") -> None:
        self.vocab_size = checks.positive_int("vocab_size", vocab_size)
        self.length = checks.positive_int("length", length)
        self.device = torch.device(device)
        self.impossible_contexts = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, length={self.length})"

    # ----------------------------------------------------------------------------- public methods

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``log pi(x)`` for ``x`` LongTensor ``[B, L]`` with ids ``0..V-1``.

        Returns float64 ``[B]``; ``-inf`` outside the support.
        """
        x, device = self._tokens("x", x, allow_mask=False)
        return self._log_prob(x).to(device)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` exact, independent draws from ``pi``: LongTensor ``[n, L]`` on ``target.device``.

        The uniforms are drawn on the device of ``generator``: a CPU generator gives the same
        samples whatever the target's device.
        """
        n = checks.positive_int("n", n, minimum=0)
        return self._sample(n, check_generator(generator))

    def probs(self) -> torch.Tensor:
        """The whole law as a dense float64 table of shape ``[V] * L`` (entry ``pi(x_1, ..., x_L)``).

        Raises ``ValueError`` when ``V**L > 2**22``.
        """
        check_table_size(self.vocab_size, self.length)
        return self._probs()

    def conditionals(self, z: torch.Tensor) -> torch.Tensor:
        """Exact masked-diffusion denoiser ``[B, L, V]`` (float64) for partial states ``z [B, L]``.

        At a masked position ``i`` (``z_i = V``): ``p(x_i = v | x_U = z_U)``, with ``U`` the
        unmasked positions. At an unmasked position: the one-hot of ``z_i``. It does not depend on
        time (spec §1.1). Impossible contexts give ``1/V`` at masked positions (module docstring).
        """
        z, device = self._tokens("z", z, allow_mask=True)
        masked = z == self.vocab_size
        probs = self._normalise(self._masked_weights(z), masked)
        onehot = torch.nn.functional.one_hot(z.clamp(max=self.vocab_size - 1), self.vocab_size)
        return torch.where(masked.unsqueeze(-1), probs, onehot.to(torch.float64)).to(device)

    def leave_one_out(self, z: torch.Tensor) -> torch.Tensor:
        """Informed-corrector conditionals ``[B, L, V]``: ``p(x_i = v | x_{U \\ {i}} = z_{U \\ {i}})``
        at every position ``i`` of ``z [B, L]`` (ids ``0..V``).

        At a masked position this equals :meth:`conditionals`. Impossible contexts give ``1/V``.
        """
        z, device = self._tokens("z", z, allow_mask=True)
        weights = self._leave_one_out_weights(z)
        return self._normalise(weights, torch.ones_like(z, dtype=torch.bool)).to(device)

    def uniform_posterior(
        self, z: torch.Tensor, t: torch.Tensor | float, process: UniformProcess
    ) -> torch.Tensor:
        """Exact posterior marginals ``p(x_i = a | z_t = z)`` ``[B, L, V]`` of the uniform process.

        ``z [B, L]`` ids ``0..V-1``; ``t [B]`` forward times (a number or one element is
        broadcast). The evidence of position ``j`` is ``K_t[:, z_j]``, position ``i`` included:
        ``p(x_i = a | z) ∝ sum_{x: x_i = a} pi(x) prod_j K_t[x_j, z_j]``. A state with
        ``p_t(z) = 0`` (only possible at ``abar_t = 1``) gives ``1/V`` everywhere.
        """
        z, device = self._tokens("z", z, allow_mask=False)
        kernel = self._kernels(t, process, z.shape[0])
        weights = self._uniform_weights(z, kernel)
        return self._normalise(weights, torch.ones_like(z, dtype=torch.bool)).to(device)

    def denoiser(self) -> ExactMaskedDenoiser:
        """The exact masked-process denoiser ``f(z, t) = log conditionals(z)`` (time-agnostic), whose
        ``loo(z, t)`` is ``log leave_one_out(z)``."""
        return ExactMaskedDenoiser(self)

    def uniform_denoiser(self, process: UniformProcess) -> ExactUniformDenoiser:
        """The exact uniform-process denoiser ``f(z, t) = log uniform_posterior(z, t, process)``."""
        return ExactUniformDenoiser(self, self._check_process(process))

    def uniform_marginal(self, t: float, process: UniformProcess) -> torch.Tensor:
        """The forward law ``p_t`` of the uniform process at time ``t``, dense ``[V] * L`` (float64).

        ``p_t(z) = sum_x pi(x) prod_j K_t[x_j, z_j]``: the table convolved with ``K_t`` along each
        axis. Same size limit as :meth:`probs`.
        """
        t = checks.probability("t", t)
        process = self._check_process(process)
        check_table_size(self.vocab_size, self.length, "uniform_marginal()")
        time = torch.tensor(t, dtype=torch.float64, device=self.device)
        kernel = process.transition_matrix(time, self.vocab_size)  # [V, V], K[a, b]
        table = self._probs()
        for axis in range(self.length):
            table = torch.tensordot(table, kernel, dims=([axis], [0])).movedim(-1, axis)
        return table

    # ----------------------------------------------------------------------------- hooks

    @abstractmethod
    def _log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log pi(x)`` float64 ``[B]`` for validated ``x [B, L]``."""

    @abstractmethod
    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """``n`` exact draws, LongTensor ``[n, L]``."""

    @abstractmethod
    def _probs(self) -> torch.Tensor:
        """The dense table ``[V] * L`` (its size has been checked)."""

    @abstractmethod
    def _masked_weights(self, z: torch.Tensor) -> torch.Tensor:
        """Non-negative weights ``[B, L, V]`` proportional to ``p(x_i = v | z_U)`` at masked
        positions (any value elsewhere); a row of zeros marks an impossible context."""

    @abstractmethod
    def _leave_one_out_weights(self, z: torch.Tensor) -> torch.Tensor:
        """Non-negative weights ``[B, L, V]`` proportional to ``p(x_i = v | z_{U \\ {i}})`` at
        every position; a row of zeros marks an impossible context."""

    @abstractmethod
    def _uniform_weights(self, z: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        """Non-negative weights ``[B, L, V]`` proportional to ``p(x_i = a | z_t = z)`` for the
        per-row kernels ``kernel [B, V, V]`` (``K_t[a, b]``); zeros mark ``p_t(z) = 0``."""

    # ----------------------------------------------------------------------------- helpers

    def _check_tokens(self, name: str, x: Any, *, allow_mask: bool) -> torch.Tensor:
        """Validate token ids (``0..V-1``, or ``0..V`` when ``allow_mask``) and the shape ``[B, L]``;
        return them as a LongTensor on their own device."""
        x = checks.token_tensor(name, x, vocab_size=self.vocab_size, allow_mask=allow_mask)
        if x.shape[1] != self.length:
            raise ValueError(
                f"{name} must have shape [B, L] with L = {self.length} (the target's length), "
                f"got shape {tuple(x.shape)}"
            )
        return x

    def _tokens(self, name: str, x: Any, *, allow_mask: bool) -> tuple[torch.Tensor, torch.device]:
        """Validated tokens ``[B, L]`` (see :meth:`_check_tokens`) moved to ``target.device``, and
        the device they came from (where the result goes back)."""
        x = self._check_tokens(name, x, allow_mask=allow_mask)
        return x.to(self.device), x.device

    @staticmethod
    def _check_process(process: Any) -> UniformProcess:
        if not isinstance(process, UniformProcess):
            raise TypeError(f"process must be a UniformProcess, got {type(process).__name__}")
        return process

    def _kernels(self, t: Any, process: Any, batch: int) -> torch.Tensor:
        """Per-row uniform kernels ``K_t [B, V, V]`` (float64, on ``target.device``)."""
        process = self._check_process(process)
        times = checks.batch_times("t", t, batch, self.device)
        return process.transition_matrix(times, self.vocab_size).to(torch.float64)

    def _normalise(self, weights: torch.Tensor, affected: torch.Tensor) -> torch.Tensor:
        """``weights / weights.sum(-1)``; rows summing to 0 become ``1/V``, and those that are
        ``affected [B, L]`` are added to ``impossible_contexts``."""
        total = weights.sum(-1, keepdim=True)
        empty = total.squeeze(-1) <= 0
        probs = weights / torch.where(empty.unsqueeze(-1), torch.ones_like(total), total)
        probs = torch.where(empty.unsqueeze(-1), torch.full_like(probs, 1.0 / self.vocab_size), probs)
        self.impossible_contexts += int((empty & affected).sum())
        return probs


def flat_index(x: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Row-major index of each sequence ``x [B, L]`` in a table ``[V] * L``: ``sum_j x_j V^(L-1-j)``."""
    length = x.shape[-1]
    strides = torch.tensor(
        [vocab_size ** (length - 1 - j) for j in range(length)], dtype=torch.long, device=x.device
    )
    return (x.long() * strides).sum(-1)


def digits(index: torch.Tensor, vocab_size: int, length: int) -> torch.Tensor:
    """Inverse of :func:`flat_index`: the sequences ``[n, L]`` of flat indices ``[n]``."""
    strides = torch.tensor(
        [vocab_size ** (length - 1 - j) for j in range(length)], dtype=torch.long, device=index.device
    )
    return torch.div(index.long().unsqueeze(-1), strides, rounding_mode="floor") % vocab_size
