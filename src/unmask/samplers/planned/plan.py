"""What every planner shares: scores of masked positions, the one tie rule, and the step.

A planner reveals, at each denoiser call, a set of masked positions chosen from the model's
probabilities at the current state (spec §2.5, §9.10), each drawn independently from its
conditional. The choice is a deterministic function of the state, so the exact law of a planner
is well defined and the enumerating context computes it from the same step.

Scores are per-position reductions of :class:`~unmask.probabilities.Probabilities` (never a
``[n, L, V]`` float64 tensor). Every planner ranks positions by an **order key**, lower first:

* ``"confidence"``: ``-max_v p(v)``;
* ``"margin"``: ``-(top1 - top2)``;
* ``"entropy"``: ``H(p)`` (nats).

**Tie rule.** Keys are compared on a grid of ``KEY_RESOLUTION`` (``2**-30``, about ``1e-9``):
keys that round to the same grid point tie, and ties go to the lower position index first (a
stable sort). The rounding makes keys that are equal in exact arithmetic but computed along
different float paths (the drawing context reads logits, the enumerating one float64
probabilities) tie in both contexts, so both choose the same positions.

The denoiser is called at the time whose masked fraction equals the row's masked fraction,
``t = m^{-1}(n / L)``, as k-random does (``L``: the row's existing positions, prompt included).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

from ...probabilities import Probabilities
from ..base import Sampler, StepContext
from ..block_sizes import BlockSizes  # noqa: F401  (the fixed-size planners' sizes)

#: The scores a planner may rank by.
SCORES = ("confidence", "margin", "entropy")

#: Order keys closer than this are ties (broken by the lower position index).
KEY_RESOLUTION = 2.0**-30


def key_dtype(probs: Probabilities) -> torch.dtype:
    """The accumulation dtype of a planner's per-position reductions (scores, entropies).

    Float64 for float64 logits: exact targets, whose keys must agree with the enumerating
    context's float64 keys to far below the tie grid. Float32 for a model's float32, bf16 or
    float16 logits: they hold no more digits than a float32 sum keeps, and one float32 pass over
    the masked rows costs about half a float64 one. The keys are float64 either way.
    """
    return torch.float64 if probs.dtype == torch.float64 else torch.float32


def order_key(probs: Probabilities, score: str, where: torch.Tensor | None = None) -> torch.Tensor:
    """Float64 ``[n, L]`` order keys (lower is revealed first) of ``score``, on the tie grid,
    accumulated in :func:`key_dtype`.

    ``where`` (bool ``[n, L]``, usually the masked positions the planner may reveal): compute the
    keys only there (0 elsewhere: pass the same positions as ``eligible`` to :func:`order`). The
    reductions are kept on ``probs``, so a later call for the same positions (the step's
    ``kl_bound`` entropy) does not read the logits again.
    """
    dtype = key_dtype(probs)
    if score == "confidence":
        key = -probs.max_prob(dtype, where=where)
    elif score == "margin":
        key = -probs.margin(dtype, where=where)
    elif score == "entropy":
        key = probs.entropy(dtype, where=where)
    else:
        raise ValueError(f"unknown score {score!r}; known scores: {', '.join(SCORES)}")
    return on_tie_grid(key.to(torch.float64))


def on_tie_grid(key: torch.Tensor) -> torch.Tensor:
    """``key`` rounded to the grid of ``KEY_RESOLUTION`` (exact scaling by a power of two)."""
    return torch.round(key / KEY_RESOLUTION) * KEY_RESOLUTION


def order(key: torch.Tensor, eligible: torch.Tensor) -> torch.Tensor:
    """LongTensor ``[n, L]``: each row's positions, eligible ones first by ascending ``key``,
    ties by the lower index (a stable sort); the others after them."""
    key = torch.where(eligible, key, torch.inf)
    return torch.sort(key, dim=-1, stable=True).indices


def first(order: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Bool ``[n, L]``: the first ``count[b]`` positions of each row's ``order``."""
    rank = torch.arange(order.shape[-1], device=order.device)
    take = rank < count.unsqueeze(-1)
    return torch.zeros_like(take).scatter(-1, order, take)


def leading(ok: torch.Tensor) -> torch.Tensor:
    """LongTensor ``[n]``: how many leading entries of each row of ``ok [n, L]`` hold."""
    return ok.long().cumprod(-1).sum(-1)


def masked_time(ctx: StepContext, count: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The time ``[n]`` whose masked fraction is ``count / lengths`` for each row (``lengths``
    read before any move: a move changes the rows of the enumerating context)."""
    return ctx.process.schedule.time_of_masked_fraction(count / lengths.to(torch.float64))


@dataclass(frozen=True)
class Planner(Sampler):
    """A sampler that reveals, per call, masked positions chosen from the model's probabilities.

    Subclasses give :meth:`plan`; the step calls the denoiser, asks :meth:`plan` which of the
    :meth:`eligible` masked positions to reveal (at least one per row with a masked position),
    and reveals them, each drawn from its conditional.
    """

    uses_grid: ClassVar[bool] = False
    #: Whether each step records ``kl_bound``, the row's :func:`dependence_bound` summed over its
    #: steps (the planners that compute entropies anyway).
    reports_bound: ClassVar[bool] = False

    @abstractmethod
    def plan(
        self,
        probs: Probabilities,
        masked: torch.Tensor,
        index: int,
        lengths: torch.Tensor,
        free: torch.Tensor,
    ) -> torch.Tensor:
        """Bool ``[n, L]``: the masked positions to reveal at step ``index`` (``masked [n, L]``:
        the masked positions it may reveal, ``lengths [n]``: the rows' existing positions,
        ``free [n, L]``: the positions the sampler may change, prompt and padding excluded)."""

    def eligible(self, ctx: StepContext, masked: torch.Tensor) -> torch.Tensor:
        """Bool ``[n, L]``: the masked positions :meth:`plan` may choose from (all of them here)."""
        return masked

    def step(self, ctx, z, t, s, index):
        masked, lengths = ctx.masked(z), ctx.lengths
        remaining = masked.sum(-1)
        probs = ctx.denoise(z, masked_time(ctx, remaining, lengths))
        eligible = self.eligible(ctx, masked)
        chosen = self.plan(probs, eligible, index, lengths, ctx.free) & eligible
        if self.reports_bound:
            # The chosen positions are eligible ones, whose entropies plan computed: kept on probs.
            entropy = probs.entropy(key_dtype(probs), where=eligible).to(torch.float64)
            ctx.record("kl_bound", dependence_bound(entropy, chosen))
        t_next = masked_time(ctx, remaining - chosen.sum(-1), lengths)
        return ctx.reveal(z, chosen, probs), t_next


def dependence_bound(entropy: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """Float64 ``[n]``: ``sum_{l in U} H_l - max_{l in U} H_l`` over each row's chosen set ``U``
    (``entropy [n, L]`` in nats, ``chosen`` bool ``[n, L]``; 0 for an empty set).

    It bounds the total correlation ``sum_l H(x_l | x_A) - H(x_U | x_A)`` that drawing ``U`` from
    the product of its conditionals costs (spec §4.7); summed over a path, its expectation under
    the model's own path law bounds ``KL(model || sampler)``."""
    held = torch.where(chosen, entropy, 0.0)
    return held.sum(-1) - held.amax(-1)
