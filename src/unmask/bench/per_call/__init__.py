"""Accuracy per call: the exact TV of every sampler at a fixed budget of ``K`` denoiser calls,
beside the limit (the best plan any factorised sampler with exact conditionals could follow).

Targets are random Markov chains ``MarkovChain.random(V, L, concentration=0.3, seed)`` (the chain
depends on ``V`` and ``seed`` only: the same seed at several lengths is one chain cut at several
lengths). For each target and each budget ``K`` (``calls``), :func:`run_per_call` computes

* the **limit**: :func:`unmask.exact.limit.best_plan` with ``metric="tv"``, the TV-optimal ordered
  partition of the ``L`` positions into ``K`` blocks (exact, over all ``K! S(L, K)`` plans). On
  a Markov chain it is 0 once ``L <= 2^K - 1`` (reveal the middle, then the middles of the runs
  left, ...: every block is conditionally independent given the tokens already revealed), so at
  ``K = 4`` it is 0 on every chain short enough for exact laws and searches here;
* the exact output law (:func:`unmask.exact.run_law`, no Monte Carlo) and its TV to the target of
  every **candidate**: a registered sampler configured so that *every* path makes at most ``K``
  denoiser calls (see :func:`candidates`). Adaptive samplers whose number of calls is random
  (``eb``, ``threshold``, ``factor-threshold``, ``certified``) and first-hitting (``L`` calls) are
  not at a fixed budget and are left out; :func:`run_adaptive` reports the adaptive ones
  separately, with their expected and largest number of calls.

**What the limit bounds.** Each candidate is classified from its own run (:class:`Entry.kind`):

* ``"plan"``: it draws every token once from its exact conditional and every path reveals the
  same sets at the same calls (checked on the run: one mask pattern per call across all enumerated
  states). Its law is that plan's law (:func:`unmask.exact.limit.plan_law`), so
  ``TV >= best_plan(target, K').tv`` with ``K'`` its number of non-empty blocks: a theorem.
  Dilated and bisection always; top-k at ``K <= 2`` (its first block is read from the all-mask
  state, the last call takes the rest); semi-autoregressive when each block's choice is made from
  a state that does not depend on revealed values.
* ``"adaptive"``: exact conditionals, but the revealed sets depend on the values drawn (top-k and
  semi-autoregressive at ``K >= 3``). An adaptive plan is **not** covered: it can beat every
  single plan.
* ``"mixture"``: exact conditionals, revealed sets drawn at random (k-random, Euler, tau-leaping,
  Tweedie). Its law is a mixture of plan laws, ``q = sum_p w_p q_p``; TV is convex, so
  ``TV(pi, q) <= sum_p w_p TV(pi, q_p)`` and a mixture **can** fall below the best single plan
  (k-random does on a small random table, see the tests). Not covered.
* ``"other"``: not exact conditionals drawn once (trapezoidal and RK-2 extrapolate rates,
  low-confidence remasking keeps the most probable draws, ReMDM remasks). Not covered; for
  example trapezoidal with one step (2 calls) beats the 2-call limit on
  ``MarkovChain.random(2, 5, 0.3, seed=0)``.

"Today's" samplers are plain ``k-random`` (``steps = K``) and ``trapezoidal`` (``K // 2``
steps); :attr:`PerCallRow.ratio` is their best TV over the best candidate's TV.

**Bisection** (:class:`unmask.samplers.planned.bisection.Bisection`) reads no probabilities: it
assumes local (chain-like) dependence, reveals the middle of every masked run and packs extra,
evenly spaced positions into a run only when the calls left could not otherwise finish it. It is a
single plan, so the limit bounds it; on a Markov chain it reaches the limit's 0 once
``L <= 2^K - 1``.
"""

from .adaptive import ADAPTIVE, AdaptiveEntry, run_adaptive
from .candidate import SCORES, Candidate, candidates, semi_autoregressive_lengths
from .entry import Entry, evaluate
from .rows import PerCallRow, per_call_row, run_per_call
from .study import AIM_CALLS, AIM_GAP, AIM_RATIO, CONCENTRATION, TODAY, TV_FLOOR, chain
from .summaries import PerCallSummary, SamplerSummary, summary
from .tables import FEATURED, adaptive_markdown, markdown, summary_markdown

__all__ = [
    "ADAPTIVE",
    "AIM_CALLS",
    "AIM_GAP",
    "AIM_RATIO",
    "CONCENTRATION",
    "FEATURED",
    "SCORES",
    "TODAY",
    "TV_FLOOR",
    "AdaptiveEntry",
    "Candidate",
    "Entry",
    "PerCallRow",
    "PerCallSummary",
    "SamplerSummary",
    "adaptive_markdown",
    "candidates",
    "chain",
    "evaluate",
    "markdown",
    "per_call_row",
    "run_adaptive",
    "run_per_call",
    "semi_autoregressive_lengths",
    "summary",
    "summary_markdown",
]
