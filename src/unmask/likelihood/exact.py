"""Exact masked-diffusion NELBO by enumeration of mask sets (spec §1.4), for small lengths.

    L(x) = int_0^1 lambda(t) E_{z_t ~ q(.|x)} [ sum_{i masked} -log p(x^i | z_t) ] dt
         = sum_{M subset of positions} w_{|M|} g(M),
    g(M) = sum_{i in M} -log p(x^i | x with M masked),
    w_k  = int_0^1 -alpha'(t) (1 - alpha(t))^(k-1) alpha(t)^(L-k) dt,

since ``lambda (1 - alpha)^k = -alpha' (1 - alpha)^(k-1)`` (no singularity at ``t = 0``). The
weights are integrated with Gauss-Legendre quadrature on the schedule itself, so the result shows
the schedule (in)dependence rather than assuming it: with ``alpha(0) = 1`` and ``alpha(1) = 0``,
``w_k = B(k, L-k+1) = 1/(k C(L,k))`` whatever the schedule, and with exact conditionals
``L(x) = -log pi(x)``.

Conditional (``response`` given): the sum runs over mask sets inside the response, with ``L``
replaced by the response length ``n``; the prompt is never masked.

The enumeration calls the denoiser once per mask set, at the time whose masked fraction is
``|M|/L``; this is the NELBO of a time-agnostic denoiser (every exact masked denoiser is one).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch

from .. import checks
from ..denoisers import check_logits
from ..probabilities import Probabilities
from ..schedules import LinearSchedule, Schedule
from .positions import scored_positions
from .quadrature import unit_nodes

MAX_EXACT_LENGTH = 16
QUADRATURE_NODES = 96


def mask_weights(
    schedule: Schedule, length: int, nodes: int = QUADRATURE_NODES, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """``w [L + 1]`` on ``device`` with ``w_k = int_0^1 -alpha' (1-alpha)^(k-1) alpha^(L-k) dt``
    (``w_0 = 0``)."""
    t, dt = unit_nodes(nodes, device)
    speed = -schedule.alpha_derivative(t)
    m, alpha = schedule.masked_fraction(t), schedule.alpha(t)
    k = torch.arange(1, length + 1, dtype=torch.float64, device=device)[:, None]
    integrand = speed * m ** (k - 1) * alpha ** (length - k)
    return torch.cat([torch.zeros(1, dtype=torch.float64, device=device), (integrand * dt).sum(-1)])


def all_masks(length: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Every subset of ``length`` positions, bool ``[2^L, L]`` on ``device``."""
    if length > MAX_EXACT_LENGTH:
        raise ValueError(
            f"exact enumeration of 2^L mask sets needs L <= {MAX_EXACT_LENGTH}, got L = {length}. "
            "Use a Monte Carlo estimator for longer sequences."
        )
    subsets = list(itertools.product([False, True], repeat=length))
    return torch.tensor(subsets, dtype=torch.bool, device=device)


def subset_losses(
    denoiser, x: torch.Tensor, vocab_size: int, schedule: Schedule
) -> tuple[torch.Tensor, torch.Tensor]:
    """``masks [2^L, L]`` and ``g [B, 2^L]`` with ``g(M) = sum_{i in M} -log p(x_i | x with M masked)``,
    from one batched denoiser call of ``B 2^L`` rows (``x`` already checked). The log-probabilities
    are read at the masked positions only, from the logits in their own dtype
    (:meth:`~unmask.probabilities.Probabilities.log_prob_of`)."""
    batch, length = x.shape
    masks = all_masks(length, x.device)
    z = torch.where(masks[None], vocab_size, x[:, None, :]).reshape(-1, length)
    fraction = (masks.sum(-1).to(torch.float64) / length).repeat(batch)
    t = schedule.time_of_masked_fraction(fraction)
    logits = check_logits(denoiser(z, t), len(z), length, vocab_size)
    where = masks.repeat(batch, 1)
    tokens = x[:, None, :].expand(-1, len(masks), -1).reshape(-1, length)
    token_nll = -Probabilities(logits).log_prob_of(tokens, dtype=torch.float64, where=where)
    return masks, torch.where(where, token_nll, 0.0).reshape(batch, len(masks), length).sum(-1)


def per_row_weights(
    table: Callable[[int], torch.Tensor], masks: torch.Tensor, eligible: torch.Tensor, n: torch.Tensor
) -> torch.Tensor:
    """``W [B, 2^L]``: ``table(n_b)[|M|]`` for mask sets ``M`` inside row ``b``'s scored positions,
    0 for the others; ``table(n)`` gives the ``[n + 1]`` weights of a length-``n`` sequence."""
    length = masks.shape[1]
    tables = torch.zeros(length + 1, length + 1, dtype=torch.float64, device=masks.device)
    for size in n.unique().tolist():
        tables[size, : size + 1] = table(size)
    inside = ~(masks[None] & ~eligible[:, None, :]).any(-1)  # M subset of the scored positions
    return torch.where(inside, tables[n][:, masks.sum(-1)], 0.0)


def exact_nelbo(
    denoiser,
    x: torch.Tensor,
    vocab_size: int,
    schedule: Schedule | None = None,
    response: torch.Tensor | None = None,
) -> torch.Tensor:
    """Exact continuous-time NELBO ``[B]`` (nats per sequence) of ``x [B, L]`` under a masked
    denoiser, enumerating all ``2^L`` mask sets (one batched denoiser call of ``B 2^L`` rows).

    With ``response`` (bool ``[B, L]`` or ``[L]``) it is the conditional NELBO of the response
    given the other positions, an upper bound on ``-log p(response | prompt)``.
    """
    vocab_size = checks.positive_int("vocab_size", vocab_size)
    x = checks.token_tensor("x", x, vocab_size=vocab_size, allow_mask=False)
    if x.shape[1] > MAX_EXACT_LENGTH:
        raise ValueError(
            f"exact_nelbo enumerates 2^L mask sets; L = {x.shape[1]} is above {MAX_EXACT_LENGTH}. "
            "Use a Monte Carlo estimator for longer sequences."
        )
    eligible, n = scored_positions(response, x.shape, x.device)
    schedule = schedule or LinearSchedule()
    masks, g = subset_losses(denoiser, x, vocab_size, schedule)
    weights = per_row_weights(lambda size: mask_weights(schedule, size, device=x.device), masks, eligible, n)
    return (torch.where(weights > 0, g * weights, 0.0)).sum(-1)
