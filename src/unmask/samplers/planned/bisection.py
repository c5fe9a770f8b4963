"""Bisection planner for data with local (chain-like) dependence: reveal the middle of every masked
run, and pack more positions into a run only when the calls left could not otherwise finish it.

**Rule.** A *masked run* is a maximal stretch of consecutive masked free positions of a row;
prompt tokens, padding and revealed tokens split runs. At call ``index`` of a run of ``K`` calls
(``steps``), with ``left = max(1, K - index)`` calls left (this one included), the calls after this
one can finish a run of up to ``cap = 2^(left - 1) - 1`` positions by bisection. A run of ``m``
masked positions starting at position ``a`` gets

* ``p = max(1, floor(m / (cap + 1)))`` picks: the fewest that leave ``p + 1`` pieces of at most
  ``cap`` positions each (``p = 1`` exactly when ``m <= 2^left - 1``, i.e.
  ``ceil(log2(m + 1)) <= left``; ``p = m``, the whole run, when ``left = 1``);
* spread evenly: the ``m - p`` positions left are split into ``p + 1`` pieces whose lengths differ
  by at most one, longer pieces first (:func:`~unmask.samplers.block_sizes.even_sizes`), and the
  picks sit between them. With ``g = m - p``, ``base = g // (p + 1)`` and ``extra = g % (p + 1)``,
  pick ``r = 1 .. p`` sits at offset ``r (base + 1) + min(r, extra) - 1`` from ``a``.

With one pick that is the **middle**, offset ``m // 2`` (the upper middle of an even run: the
piece before it is the longer one, as in the general rule). Each chosen position is drawn from its
conditional given the state (the step of :class:`~.plan.Planner`). The choice reads no
probabilities: it is a function of the mask pattern and of the calls left, so the enumerating
context (:func:`unmask.exact.run_law`) computes its exact law from the same step.

**Steps.** ``steps`` is the number of denoiser calls ``K`` (at most; a row whose runs are all
finished earlier stops). ``steps=None`` sets ``K = ceil(log2(L + 1))`` (``L`` the row width), the
fewest calls for which bisection is exact on a chain of ``L`` positions; then every call reveals
exactly the middle of every run (every run has at most ``2^left - 1`` positions at every call), so
the plan of a row does not depend on the width it is padded to, and a row with fewer free positions
(a prompt, padding) finishes in ``ceil(log2(m + 1))`` calls for its longest initial run ``m``.

**Why it is exact on a Markov chain once 2^K - 1 >= L.** On a Markov chain, given the revealed
tokens, the masked runs are conditionally independent: a run depends on the rest only through the
revealed token just before it and the one just after it. A call that reveals one position per run
draws a set whose joint conditional is the product of the per-position conditionals, so drawing
each from its own conditional loses nothing. A run of ``m <= 2^left - 1`` positions split at its
middle leaves two runs of at most ``2^(left - 1) - 1`` positions, so by induction every call takes
one position per run when the first run (at most ``L <= 2^K - 1`` positions) fits. With fewer calls,
some call reveals several positions of one run; two picks of a run separated by masked positions
are dependent given the state, and drawing them independently is the factorisation error (the
evenly spread picks keep it small). On targets without local dependence the rule has no such
guarantee.

**Shapes.** ``plan`` takes ``masked``, ``free`` bool ``[n, L]`` and returns bool ``[n, L]``;
everything is integer arithmetic on ``[n, L]`` tensors on ``masked``'s device (a cumulative sum
numbers the runs, a scatter counts their lengths), with no loop and no host round-trip.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import torch

from ... import checks
from .dilated import masked_runs
from .plan import Planner


def exact_calls(length: int) -> int:
    """``ceil(log2(length + 1))``: the fewest calls in which bisection draws a run of ``length``
    positions one position per run per call (exactly, on a Markov chain)."""
    return max(int(length), 1).bit_length()


def bisection_plan(masked: torch.Tensor, left: int) -> torch.Tensor:
    """Bool ``[n, L]``: the positions of ``masked [n, L]`` that bisection reveals with ``left``
    calls left, this one included (the rule of the module docstring)."""
    left = max(int(left), 1)
    length = masked.shape[-1]
    # cap = 2^(left-1) - 1, held at >= length once larger (then every run takes its middle only).
    cap = (1 << min(left - 1, max(length, 1).bit_length())) - 1
    offset, m = masked_runs(masked)
    # int32 arithmetic (faster divisions; lengths are far below 2^31).
    after = (offset + 1).to(torch.int32)  # pick r (1..p) sits at after = r (base + 1) + min(r, extra)
    m = m.to(torch.int32).clamp(min=1)  # off the runs: any valid value (the result is cut to masked)
    picks = torch.div(m, cap + 1, rounding_mode="floor").clamp(min=1)
    gaps = m - picks
    base = torch.div(gaps, picks + 1, rounding_mode="floor")
    extra = gaps - base * (picks + 1)
    r_long = torch.div(after, base + 2, rounding_mode="floor")  # picks r <= extra: r (base + 2)
    long_piece = (r_long * (base + 2) == after) & (r_long >= 1) & (r_long <= extra)
    r_short = torch.div(after - extra, base + 1, rounding_mode="floor")  # r > extra: r (base + 1) + extra
    short_piece = (r_short * (base + 1) + extra == after) & (r_short > extra) & (r_short <= picks)
    return masked & (long_piece | short_piece)


@dataclass(frozen=True)
class Bisection(Planner):
    """Reveal the middle of every masked run per call, packing extra evenly spaced positions into a
    run only when the ``steps`` calls left could not otherwise finish it (module docstring). Exact
    on a Markov chain of ``L`` positions when ``2^steps - 1 >= L``; ``steps=None`` takes
    ``ceil(log2(L + 1))`` calls."""

    steps: int | None = None
    name: ClassVar[str] = "bisection"
    takes_steps: ClassVar[bool] = True
    uses_grid: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.steps is not None:
            try:
                object.__setattr__(self, "steps", checks.positive_int("steps", self.steps))
            except (TypeError, ValueError) as error:
                raise type(error)(f"{self.name}: {error}") from None

    def resolve(self, steps: int | None, length: int) -> Bisection:
        """``steps`` calls (the field's when None; ``ceil(log2(length + 1))`` when both are None).
        Raises ``ValueError`` when ``steps`` differs from a ``steps`` already set."""
        if steps is not None:
            resolved = Bisection(steps=steps)  # checks steps
            if self.steps is not None and self.steps != resolved.steps:
                raise ValueError(
                    f"{self.name} got steps={steps} and was built with steps={self.steps}; give one of them"
                )
            return replace(self, steps=resolved.steps)
        if self.steps is None:
            return replace(self, steps=exact_calls(length))
        return self

    def plan(self, probs, masked, index, lengths, free):
        calls = self.steps if self.steps is not None else exact_calls(masked.shape[-1])
        return bisection_plan(masked, calls - index)

    def predicted_order(self, clipped_mass, tv):
        return "none", (
            "deterministic planner for local dependence: exact on a Markov chain once 2^K - 1 >= L "
            "calls K, no order in K otherwise"
        )
