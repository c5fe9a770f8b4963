"""Information profile (spec §7.1–§7.2): exactly for a small table, by Monte Carlo for any denoiser.

``hbar_k`` is the average joint entropy of ``k`` positions chosen uniformly at random, and
``H_i = hbar_{i+1} - hbar_i`` the average entropy of a fresh token when ``i`` random tokens are
revealed:

    H_i = E_{A uniform, |A| = i} E_{j not in A uniform} [ H(x_j | x_A) ],   i = 0 .. L-1.

``sum_i H_i = H(pi)``; ``H_i`` is non-increasing. :func:`information_profile` computes it exactly
from a table ``[V] * L`` (or an exact target); :func:`estimate_information_profile` estimates it
with a standard error from any denoiser and samples of the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .. import checks
from ..denoisers import check_logits_shape, check_vocabulary
from ..probabilities import Probabilities
from ..processes import MaskedProcess

MAX_PROFILE_LENGTH = 14

#: The Monte Carlo estimators of :func:`estimate_information_profile`.
PROFILE_ESTIMATORS = ("entropy", "cross-entropy")


def _as_table(table: Any) -> torch.Tensor:
    """The float64 table ``[V] * L`` of ``table`` (a tensor) or of an exact target (its ``probs()``)."""
    if not torch.is_tensor(table):
        probs = getattr(table, "probs", None)
        if not callable(probs):
            raise TypeError(
                "information_profile takes a probability table [V] * L or an exact target with "
                f"probs(), got {type(table).__name__}"
            )
        table = probs()
    length = table.dim()
    if length > MAX_PROFILE_LENGTH:
        raise ValueError(
            f"the information profile enumerates 2^L position subsets; L = {length} is above "
            f"{MAX_PROFILE_LENGTH}"
        )
    return table.detach().to(torch.float64)


def subset_entropies(table: Any) -> torch.Tensor:
    """``hbar [L + 1]``: average joint entropy (nats) of ``k`` random positions, ``k = 0..L``.

    Exact, for a table ``[V] * L`` or an exact target. Every one of the ``2^L`` marginals is
    obtained from a marginal with one more position by summing one axis (a depth-first walk that
    removes positions in increasing order, so each subset is visited once): about ``(V + 1)^L``
    additions in all rather than ``2^L V^L``.
    """
    table = _as_table(table)
    length = table.dim()
    totals = torch.zeros(length + 1, dtype=torch.float64)
    counts = torch.zeros(length + 1, dtype=torch.float64)

    def visit(marginal: torch.Tensor, start: int) -> None:
        size = marginal.dim()
        totals[size] += torch.special.entr(marginal).sum()
        counts[size] += 1
        for axis in range(start, size):
            visit(marginal.sum(dim=axis), axis)

    visit(table, 0)
    # the empty subset's "marginal" is the table's total mass (1): entr(1) = 0, so hbar_0 = 0
    return totals / counts


def information_profile(table: Any) -> torch.Tensor:
    """``H [L]`` (float64): ``H_i = hbar_{i+1} - hbar_i``, the entropy of a fresh token given
    ``i`` random revealed ones, exactly, for a table ``[V] * L`` or an exact target (its
    ``probs()``). ``H.sum() = H(pi)``."""
    hbar = subset_entropies(table)
    return hbar[1:] - hbar[:-1]


@dataclass(frozen=True)
class ProfileEstimate:
    """A Monte Carlo information profile (:func:`estimate_information_profile`).

    Attributes:
        mean: float64 ``[L]``, the estimate of ``H_i`` (nats), ``i = 0..L-1``.
        stderr: float64 ``[L]``, its standard error (sample standard deviation over the ``n``
            independent sequences, divided by ``sqrt(n)``).
        entropy: the estimate of ``sum_i H_i`` (``H(pi)`` for an exact denoiser).
        entropy_stderr: its standard error (the per-sequence sums are i.i.d.).
        samples: ``n``, the sequences used.
        nfe: batched denoiser calls made.
    """

    mean: torch.Tensor
    stderr: torch.Tensor
    entropy: float
    entropy_stderr: float
    samples: int
    nfe: int


def _data(data: Any, samples: int | None, vocab_size: int | None, generator) -> tuple[torch.Tensor, int]:
    """Sequences ``x [n, L]`` and the vocabulary size, from a tensor or from a target's sampler."""
    if torch.is_tensor(data):
        if vocab_size is None:
            raise ValueError("vocab_size is required when data is a tensor of tokens (the mask id is V)")
        if data.dim() != 2 or data.dtype not in (torch.int64, torch.int32, torch.uint8):
            raise ValueError(f"data must be integer tokens [n, L], got {data.dtype} {tuple(data.shape)}")
        x = data.long() if samples is None else data[: checks.positive_int("samples", samples)].long()
        if x.numel() and bool(((x < 0) | (x >= vocab_size)).any()):
            raise ValueError(f"data holds tokens outside 0..{vocab_size - 1} (clean tokens only)")
        return x, vocab_size
    if not callable(getattr(data, "sample", None)):
        raise TypeError(f"data must be tokens [n, L] or a target with sample(n), got {type(data).__name__}")
    if samples is None:
        raise ValueError("samples is required when data is a target (how many sequences to draw)")
    size = getattr(data, "vocab_size", vocab_size)
    if vocab_size is not None and vocab_size != size:
        raise ValueError(f"vocab_size={vocab_size} disagrees with the target's vocab_size {size}")
    return data.sample(checks.positive_int("samples", samples), generator=generator).long(), size


def estimate_information_profile(
    denoiser,
    data: Any,
    *,
    samples: int | None = None,
    vocab_size: int | None = None,
    generator: torch.Generator | int | None = None,
    process: MaskedProcess | None = None,
    estimator: str = "entropy",
    batch_size: int = 1024,
) -> ProfileEstimate:
    """Monte Carlo information profile ``H_i`` of ``denoiser`` on ``data``, with standard errors
    (spec §7.2).

    For each of ``n`` sequences ``x [L]`` (rows of ``data [n, L]``, or ``samples`` draws from a
    target's ``sample``) draw one uniform order ``sigma`` of the positions; for every
    ``i = 0..L-1`` reveal ``A = sigma(1..i)``, mask the rest, call the denoiser once at the time
    whose masked fraction is ``(L - i) / L`` (``t = m^{-1}((L - i) / L)``), and average over the
    ``L - i`` masked positions ``j``

    * ``estimator="entropy"``: ``H(q(. | x_A))_j``, the entropy of the model's conditional;
    * ``estimator="cross-entropy"``: ``-log q(x_j | x_A)``, the model's loss on the true token.

    With exact conditionals ``q = pi(x_j | x_A)`` both are unbiased for ``H_i`` (spec §7.1). For a
    learned model the first is the profile of the model's conditionals on data contexts, the second
    an upper bound on the data's ``H_i`` in expectation (the gap is the expected KL between the
    true and the model's conditional). The ``n`` per-sequence estimates are i.i.d., so
    ``stderr = std / sqrt(n)`` per ``i`` and for their sum. Costs ``n L`` denoiser rows in calls
    of ``batch_size`` rows.

    Args:
        denoiser: ``f(x_t [B, L], t [B]) -> logits [B, L, V]`` (the denoiser contract).
        data: LongTensor ``[n, L]`` of clean tokens (then ``vocab_size`` is required), or a target
            with ``sample(n, generator)`` and ``vocab_size`` (then ``samples`` is required).
        samples: how many sequences to draw from a target, or to take from ``data``'s first rows.
        generator: int seed or ``torch.Generator`` for the orders (and the draws from a target).
        process: the masked process whose schedule sets the call times (default: linear).
        estimator: ``"entropy"`` or ``"cross-entropy"``.
        batch_size: rows per denoiser call.
    """
    if estimator not in PROFILE_ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; use one of {', '.join(PROFILE_ESTIMATORS)}")
    process = MaskedProcess() if process is None else process
    if not isinstance(process, MaskedProcess):
        raise TypeError(f"the information profile is defined for the masked process, got {process!r}")
    batch_size = checks.positive_int("batch_size", batch_size)
    device = data.device if torch.is_tensor(data) else torch.device("cpu")
    generator = checks.generator(generator, device)
    x, vocab_size = _data(data, samples, vocab_size, generator)
    check_vocabulary(denoiser, vocab_size)
    n, length = x.shape
    if n < 2:
        raise ValueError(f"the standard error needs at least 2 sequences, got {n}")
    device = x.device
    # rank[b, p]: the step at which position p is revealed in sequence b's order
    draw_device = generator.device if generator is not None else device
    uniforms = torch.rand(n, length, dtype=torch.float64, device=draw_device, generator=generator)
    uniforms = uniforms.to(device)
    rank = uniforms.argsort(-1).argsort(-1)
    levels = torch.arange(length, device=device)
    row_sequence = torch.arange(n, device=device).repeat_interleave(length)  # [n L]
    row_level = levels.repeat(n)  # [n L]
    fraction = (length - levels).to(torch.float64) / length
    level_times = process.schedule.time_of_masked_fraction(fraction).to(device)
    values = torch.empty(n * length, dtype=torch.float64, device=device)
    calls = 0
    with torch.no_grad():
        for start in range(0, n * length, batch_size):
            seq, level = row_sequence[start : start + batch_size], row_level[start : start + batch_size]
            clean = x[seq]
            masked = rank[seq] >= level.unsqueeze(-1)
            z = torch.where(masked, vocab_size, clean)
            logits = denoiser(z, level_times[level])
            check_logits_shape(logits, len(seq), length, vocab_size)
            calls += 1
            probs = Probabilities(logits)
            per_position = probs.entropy() if estimator == "entropy" else -probs.log_prob_of(clean)
            per_position = torch.where(masked, per_position, 0.0)
            values[start : start + len(seq)] = per_position.sum(-1) / masked.sum(-1)
    values = values.reshape(n, length)
    totals = values.sum(-1)
    root = n**0.5
    return ProfileEstimate(
        mean=values.mean(0),
        stderr=values.std(0) / root,
        entropy=float(totals.mean()),
        entropy_stderr=float(totals.std() / root),
        samples=n,
        nfe=calls,
    )
