"""What a finished run measured: its validation likelihood against the data's true entropy.

For a denoiser the per-token NELBO of the validation set is computed with
:func:`unmask.likelihood.nelbo`: exactly (every mask set enumerated, ``method="exact"``) when the
sequences are short enough, else by the time-free estimator with standard errors. An
autoregressive model gives its exact negative log-likelihood. A hollow model is scored through
its ordinary forward (its leave-one-out output at the masked positions). When the data is an
exact target, the numbers sit beside its exact entropy per token: the NELBO is an upper bound on
the model's own negative log-likelihood, which is at least the entropy, so
``nelbo / entropy - 1`` bounds how far the model is from the data.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..likelihood import nelbo
from ..likelihood.exact import MAX_EXACT_LENGTH
from .data.source import TokenSource

#: How close a run must come to the true entropy to count as having learned the target.
ENTROPY_TOLERANCE = 0.05
#: Validation sequences scored at the end (the first ones of the fixed validation set).
SCORED_SEQUENCES = 1024
#: Monte-Carlo draws per sequence of the time-free estimator (sequences too long to enumerate).
TIME_FREE_SAMPLES = 64


def validation_tokens(data: TokenSource, count: int = SCORED_SEQUENCES) -> torch.Tensor:
    """The first ``count`` sequences ``[n, L]`` of the data's fixed validation set."""
    batch = min(count, data.validation_size)
    return next(iter(data.validation(batch)))


def score(
    model: torch.nn.Module, x: torch.Tensor, seed: int = 0, reference: torch.Tensor | None = None
) -> dict[str, Any]:
    """Nats per token of ``x [n, L]`` under ``model`` with a standard error over the sequences:
    ``{"nats_per_token", "stderr", "bits_per_token", "method", "sequences"}``; with ``reference``
    (float64 ``[n]``, the data's exact ``-log pi(x)`` per sequence) also ``"gap_per_token"``, the
    mean per-token excess over it, and ``"gap_stderr"``, its paired standard error (much smaller
    than ``stderr``: the sequences' own spread of ``-log pi(x)`` cancels)."""
    device = next(model.parameters()).device
    x = x.to(device)
    with torch.no_grad():
        if model.kind == "autoregressive":
            per_sequence = -model.log_prob(x).double()
            method = "exact log-likelihood"
        else:
            method = "exact" if x.shape[-1] <= MAX_EXACT_LENGTH else "time-free"
            options = {} if method == "exact" else {"samples": TIME_FREE_SAMPLES}
            per_sequence = nelbo(model, x, model.vocab_size, method=method, generator=seed, **options).nll
            method = f"NELBO ({method})"
    per_token = per_sequence / x.shape[-1]
    mean = float(per_token.mean())
    stderr = float(per_token.std() / math.sqrt(len(per_token))) if len(per_token) > 1 else float("nan")
    out = {
        "nats_per_token": mean,
        "stderr": stderr,
        "bits_per_token": mean / math.log(2),
        "method": method,
        "sequences": len(per_token),
    }
    if reference is not None:
        gap = (per_sequence.cpu() - reference.to(torch.float64).cpu()) / x.shape[-1]
        out["gap_per_token"] = float(gap.mean())
        out["gap_stderr"] = float(gap.std() / math.sqrt(len(gap))) if len(gap) > 1 else float("nan")
    return out


def entropy_comparison(scored: dict[str, Any], entropy: float) -> dict[str, Any]:
    """The scored nats per token against the data's exact ``entropy`` per token: the ratio, and
    whether it lies within :data:`ENTROPY_TOLERANCE` (the whole 95% interval below
    ``(1 + tolerance) * entropy`` counts as within). With a paired gap (:func:`score` given the
    exact ``-log pi(x)``), the ratio is ``1 + gap / entropy`` and its interval the gap's;
    otherwise the plain mean and its standard error."""
    if "gap_per_token" in scored:
        ratio = 1 + scored["gap_per_token"] / entropy
        upper = 1 + (scored["gap_per_token"] + 1.96 * scored["gap_stderr"]) / entropy
    else:
        ratio = scored["nats_per_token"] / entropy
        upper = (scored["nats_per_token"] + 1.96 * scored["stderr"]) / entropy
    return {
        "entropy_per_token": entropy,
        "ratio": ratio,
        "ratio_upper_95": upper,
        "tolerance": ENTROPY_TOLERANCE,
        "within_tolerance": bool(upper <= 1 + ENTROPY_TOLERANCE),
    }
