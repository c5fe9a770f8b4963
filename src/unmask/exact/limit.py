"""The limit: the best a factorised sampler with exact conditionals can do in ``K`` calls.

A *plan* is an ordered partition ``(B_1, ..., B_K)`` of the positions ``0..L-1`` into ``K``
non-empty blocks. Call ``j`` reveals the positions of ``B_j`` at once, each drawn independently from
its exact conditional given the tokens revealed so far, ``A_{j-1} = B_1 ∪ ... ∪ B_{j-1}``. Its
output law is

    q(x) = prod_j prod_{i in B_j} pi(x_i | x_{A_{j-1}}),

with ``pi(x_i | x_A) = pi(x_{A ∪ {i}}) / pi(x_A)`` read off marginals of the table (and ``1/V`` when
``pi(x_A) = 0``, the targets' convention for impossible contexts). Because the order is fixed, the
path is a function of ``x`` and the KL is additive over blocks (an exact identity, not a bound):

    KL(pi || q) = sum_j [ sum_{i in B_j} H(x_i | x_{A_{j-1}}) - H(x_{B_j} | x_{A_{j-1}}) ],

the total correlation of each block given the past. :func:`best_plan` finds the exact optimum over
all ``K! S(L, K)`` plans: for KL by a dynamic program over revealed sets (``K 3^L`` transitions),
for TV by branch and bound, using that the TV between the marginals of ``pi`` and ``q`` on the
revealed set can only grow as more positions are revealed (data processing).

An *adaptive* plan chooses each next block from the values revealed so far. Its KL is additive in
the same way, per partial state; :func:`best_adaptive_plan` finds the KL-optimal adaptive plan by a
dynamic program over partial states (tiny targets only).

Every table here is float64 ``[V] * L``; a marginal onto a set ``S`` of positions keeps all ``L``
dimensions, with size 1 on the positions outside ``S``, so tables broadcast against each other.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import torch

from .. import checks
from .metrics import kl as kl_divergence
from .metrics import tv as tv_distance

#: Most ordered partitions the TV branch and bound accepts by default (every plan of ``L = 8``).
MAX_PLANS = 200_000
#: Most entries ``2^L * V^L`` the subset marginals may take (the KL dynamic program).
MAX_SUBSET_WORK = 2**26
#: Most entries ``plans * V^L`` the mixture search stores.
MAX_MIXTURE_ENTRIES = 2**23
#: Most partial states ``(V + 1)^L`` the adaptive dynamic program accepts.
MAX_ADAPTIVE_STATES = 20_000


def count_plans(length: int, calls: int) -> int:
    """``K! S(L, K)``: ordered partitions of ``L`` positions into ``K`` non-empty blocks (the
    Fubini numbers summed over ``K``); 0 when ``K > L``."""
    stirling = [1] + [0] * calls  # S(n, k) for the current n, k = 0..K
    for _ in range(length):
        stirling = [0] + [k * stirling[k] + stirling[k - 1] for k in range(1, calls + 1)]
    return math.factorial(calls) * stirling[calls]


@dataclass(frozen=True)
class Plan:
    """A non-adaptive plan and its exact errors.

    Attributes:
        blocks: ``K`` tuples of positions, revealed in this order (each tuple sorted).
        tv: ``TV(pi, q)``.
        kl: ``KL(pi || q)`` (``inf`` when ``q`` misses part of the support of ``pi``).
        law: float64 tensor ``[V] * L``, the plan's output law ``q`` (sums to 1).
        metric: what the plan minimises, ``"kl"`` or ``"tv"``.
        plans: ``K! S(L, K)``, the number of plans the optimum is over.
        plans_searched: (revealed set, next block) pairs the search evaluated: dynamic-program
            transitions for KL, branch-and-bound nodes for TV; compare with ``plans``.
    """

    blocks: tuple[tuple[int, ...], ...]
    tv: float
    kl: float
    law: torch.Tensor
    metric: str
    plans: int
    plans_searched: int


@dataclass(frozen=True)
class AdaptivePlan:
    """The KL-optimal adaptive plan and its exact errors.

    Attributes:
        rule: ``{(call j, z): block}`` for every partial state the plan reaches with positive
            probability: ``z`` a tuple of ``L`` tokens with the mask id ``V`` on masked positions
            after ``j`` calls, ``block`` the sorted positions call ``j + 1`` reveals.
        tv: ``TV(pi, q)``.
        kl: ``KL(pi || q)``, equal to the dynamic program's optimum.
        law: float64 tensor ``[V] * L``, the plan's output law ``q``.
        plans_searched: (partial-state set, next block) pairs the dynamic program evaluated.
    """

    rule: dict[tuple[int, tuple[int, ...]], tuple[int, ...]]
    tv: float
    kl: float
    law: torch.Tensor
    plans_searched: int


@dataclass(frozen=True)
class Mixture:
    """The KL-optimal random choice of a non-adaptive plan (each run draws one plan).

    Attributes:
        plans: all ``K! S(L, K)`` plans, as in :attr:`Plan.blocks`.
        weights: float64 tensor ``[K! S(L, K)]``, their probabilities (sum to 1; all positive,
            most near 0 at the optimum).
        kl: ``KL(pi || q)`` of the mixture law ``q = sum_p w_p q_p``.
        kl_lower: a certified lower bound on the optimum, ``kl - log max_p sum_x pi(x) q_p(x) / q(x)``
            (zero gap at the optimum).
        tv: ``TV(pi, q)`` of this mixture (not TV-optimal over mixtures).
        law: float64 tensor ``[V] * L``, the mixture law ``q``.
        iterations: multiplicative (EM) updates taken.
    """

    plans: tuple[tuple[tuple[int, ...], ...], ...]
    weights: torch.Tensor
    kl: float
    kl_lower: float
    tv: float
    law: torch.Tensor
    iterations: int


def _as_table(target: Any) -> torch.Tensor:
    """The float64 table ``[V] * L`` of an exact target (``.probs()``) or of a table itself."""
    table = target if torch.is_tensor(target) else getattr(target, "probs", None)
    if table is None:
        raise TypeError(
            "target must be an exact target with .probs() (for example "
            "unmask.targets.MarkovChain.random(vocab_size=3, length=5)) or a probability table "
            f"[V] * L, got {type(target).__name__}"
        )
    if not torch.is_tensor(table):
        table = table()
    table = table.detach().to(torch.float64)
    if table.dim() == 0 or len(set(table.shape)) != 1:
        raise ValueError(f"a probability table has shape [V] * L, got {tuple(table.shape)}")
    total = float(table.sum())
    if abs(total - 1) > checks.sum_tolerance(table.dtype, table.numel()):
        raise ValueError(f"the table must sum to 1, got a sum of {total:.6g}")
    return table


def _bits(mask: int) -> tuple[int, ...]:
    """Positions (bit ``i`` = position ``i``) of a set of positions held as a bit mask."""
    return tuple(i for i in range(mask.bit_length()) if mask >> i & 1)


def _submasks(mask: int):
    """Every non-empty subset of ``mask``, largest first."""
    sub = mask
    while sub:
        yield sub
        sub = (sub - 1) & mask


class _Marginals:
    """Cached marginals ``pi(x_S) [V or 1] * L`` and conditionals ``pi(x_i | x_A)`` of one table."""

    def __init__(self, table: torch.Tensor) -> None:
        self.table = table
        self.length = table.dim()
        self.vocab_size = table.shape[0]
        self.full = (1 << self.length) - 1
        self._marginal: dict[int, torch.Tensor] = {}
        self._conditional: dict[tuple[int, int], torch.Tensor] = {}
        self._entropy: dict[int, float] = {}

    def marginal(self, mask: int) -> torch.Tensor:
        """``pi(x_S)``, size ``V`` on the positions of ``S`` and 1 elsewhere."""
        if mask not in self._marginal:
            others = tuple(i for i in range(self.length) if not mask >> i & 1)
            self._marginal[mask] = self.table.sum(dim=others, keepdim=True) if others else self.table
        return self._marginal[mask]

    def conditional(self, revealed: int, i: int) -> torch.Tensor:
        """``pi(x_i | x_A)`` on ``A ∪ {i}`` (``1/V`` where ``pi(x_A) = 0``)."""
        key = (revealed, i)
        if key not in self._conditional:
            joint, given = self.marginal(revealed | 1 << i), self.marginal(revealed)
            ratio = joint / torch.where(given > 0, given, 1.0)
            self._conditional[key] = torch.where(given > 0, ratio, 1.0 / self.vocab_size)
        return self._conditional[key]

    def entropy(self, mask: int) -> float:
        """Joint entropy ``H(x_S)`` in nats (0 for the empty set)."""
        if mask not in self._entropy:
            p = self.marginal(mask).reshape(-1)
            p = p[p > 0]
            self._entropy[mask] = float(-(p * p.log()).sum()) if mask else 0.0
        return self._entropy[mask]

    def block_cost(self, revealed: int, block: int) -> float:
        """``sum_{i in B} H(x_i | x_A) - H(x_B | x_A)``: the KL one call adds."""
        h = self.entropy(revealed)
        singles = sum(self.entropy(revealed | 1 << i) - h for i in _bits(block))
        return singles - (self.entropy(revealed | block) - h)


def _check_blocks(blocks: Any, length: int) -> tuple[tuple[int, ...], ...]:
    if isinstance(blocks, (str, bytes)) or not hasattr(blocks, "__iter__"):
        raise TypeError(f"blocks must be a sequence of sequences of positions, got {blocks!r}")
    result = []
    for block in blocks:
        if isinstance(block, (str, bytes)) or not hasattr(block, "__iter__"):
            raise TypeError(f"each block must be a sequence of positions, got {block!r}")
        block = tuple(sorted(int(i) for i in block))
        if not block:
            raise ValueError(f"blocks must be non-empty, got {blocks!r}")
        result.append(block)
    flat = sorted(i for block in result for i in block)
    if flat != list(range(length)):
        raise ValueError(
            f"blocks must partition the positions 0..{length - 1}, each exactly once, got {blocks!r}"
        )
    return tuple(result)


def _law(marginals: _Marginals, blocks: tuple[tuple[int, ...], ...]) -> torch.Tensor:
    law = torch.ones([1] * marginals.length, dtype=torch.float64)
    revealed = 0
    for block in blocks:
        for i in block:
            law = law * marginals.conditional(revealed, i)
        for i in block:
            revealed |= 1 << i
    return law.expand(marginals.table.shape).contiguous()


def plan_law(target: Any, blocks: Any) -> torch.Tensor:
    """Output law ``q [V] * L`` of the non-adaptive plan ``blocks`` on ``target``.

    ``q(x) = prod_j prod_{i in B_j} pi(x_i | x_{B_1 ∪ ... ∪ B_{j-1}})``. ``target`` is an exact
    target (its ``probs()`` is used) or a table ``[V] * L``; ``blocks`` a sequence of non-empty
    sequences of positions that together hold each of ``0..L-1`` once.
    """
    table = _as_table(target)
    return _law(_Marginals(table), _check_blocks(blocks, table.dim()))


def plan_kl(target: Any, blocks: Any) -> float:
    """``KL(pi || q)`` of the plan by the additive formula
    ``sum_j [sum_{i in B_j} H(x_i | x_{A_{j-1}}) - H(x_{B_j} | x_{A_{j-1}})]`` (entropies of the
    table's marginals; equal to ``kl(pi, plan_law(...))`` up to rounding when ``q > 0`` on the
    support of ``pi``)."""
    table = _as_table(target)
    return _marginals_kl(_Marginals(table), _check_blocks(blocks, table.dim()))


def _marginals_kl(marginals: _Marginals, blocks: tuple[tuple[int, ...], ...]) -> float:
    """The additive KL of ``blocks`` from cached entropies."""
    total, revealed = 0.0, 0
    for block in blocks:
        mask = sum(1 << i for i in block)
        total += marginals.block_cost(revealed, mask)
        revealed |= mask
    return total


def _check_calls(calls: Any, length: int) -> int:
    calls = checks.positive_int("calls", calls)
    if calls > length:
        raise ValueError(
            f"calls = {calls} is more than the length L = {length}: a plan splits the L positions "
            "into calls non-empty blocks (K = L already reproduces the target exactly)"
        )
    return calls


def _kl_program(marginals: _Marginals, calls: int) -> tuple[tuple[tuple[int, ...], ...], int]:
    """KL-optimal plan: ``F[k][S] = min_{T ⊂ S} F[k-1][S \\ T] + cost(S \\ T, T)``, ``F[0][{}] = 0``."""
    length, full = marginals.length, marginals.full
    best: list[dict[int, tuple[float, int]]] = [{0: (0.0, 0)}]
    work = 0
    for k in range(1, calls + 1):
        layer: dict[int, tuple[float, int]] = {}
        targets = [full] if k == calls else [s for s in range(1, full + 1) if s.bit_count() >= k]
        for s in targets:
            # the blocks after this one still need calls - k positions outside s
            if length - s.bit_count() < calls - k:
                continue
            for block in _submasks(s):
                before = s & ~block
                if before not in best[k - 1]:
                    continue
                work += 1
                value = best[k - 1][before][0] + marginals.block_cost(before, block)
                if s not in layer or value < layer[s][0]:
                    layer[s] = (value, block)
        best.append(layer)
    blocks, s = [], full
    for k in range(calls, 0, -1):
        block = best[k][s][1]
        blocks.append(_bits(block))
        s &= ~block
    return tuple(reversed(blocks)), work


def _tv_search(
    marginals: _Marginals, calls: int, incumbent: tuple[float, tuple[tuple[int, ...], ...]]
) -> tuple[tuple[tuple[int, ...], ...], int]:
    """TV-optimal plan by depth-first branch and bound from ``incumbent = (tv, blocks)``.

    A prefix with revealed set ``A`` fixes the marginal ``q(x_A)``; every completion has
    ``TV(pi, q) >= TV(pi_A, q_A)``, with equality when the rest is revealed one position per call
    (then ``q(x) = q(x_A) pi(x_rest | x_A)``), so such a prefix is a leaf.
    """
    full = marginals.full
    best_tv, best_blocks = incumbent
    work = 0

    def visit(revealed: int, law: torch.Tensor, blocks: list[int], left: int) -> None:
        nonlocal best_tv, best_blocks, work
        rest = full & ~revealed
        size = rest.bit_count()
        children = []
        for block in _submasks(rest):
            if (left == 1 and block != rest) or size - block.bit_count() < left - 1:
                continue
            work += 1
            child = law
            for i in _bits(block):
                child = child * marginals.conditional(revealed, i)
            bound = float(0.5 * (marginals.marginal(revealed | block) - child).abs().sum())
            children.append((bound, block, child))
        children.sort(key=lambda c: c[0])
        for bound, block, child in children:
            if bound >= best_tv:
                break
            remaining = rest & ~block
            if left - 1 == remaining.bit_count():
                singles = [1 << i for i in _bits(remaining)]
                best_tv, best_blocks = bound, tuple(_bits(b) for b in [*blocks, block, *singles])
            else:
                visit(revealed | block, child, [*blocks, block], left - 1)

    visit(0, torch.ones([1] * marginals.length, dtype=torch.float64), [], calls)
    return best_blocks, work


def _check_subset_work(length: int, vocab_size: int, calls: int) -> None:
    work = 2**length * vocab_size**length
    if work > MAX_SUBSET_WORK:
        raise ValueError(
            f"the search marginalises the table onto all 2^L position subsets: 2^{length} * "
            f"{vocab_size}^{length} = {work:,} entries, above the limit {MAX_SUBSET_WORK:,} "
            f"(there are K! S(L, K) = {count_plans(length, calls):,} plans); use a shorter length"
        )


def best_plan(target: Any, calls: int, metric: str = "kl", *, max_plans: int = MAX_PLANS) -> Plan:
    """The best non-adaptive plan of ``calls = K`` blocks on ``target`` (exact, over all
    ``K! S(L, K)`` ordered partitions).

    ``metric="kl"`` minimises ``KL(pi || q)`` by a dynamic program over revealed sets
    (``K 3^L`` transitions, any number of plans). ``metric="tv"`` minimises ``TV(pi, q)`` by
    branch and bound, started from the KL-optimal plan; it refuses more than ``max_plans`` plans
    (``ValueError``). Ties are broken by search order. ``target``: an exact target or a table
    ``[V] * L``. More calls never raise the optimal KL (splitting a block only conditions on more).
    """
    metric = checks.one_of("metric", metric, ("kl", "tv"))
    table = _as_table(target)
    length, vocab_size = table.dim(), table.shape[0]
    calls = _check_calls(calls, length)
    plans = count_plans(length, calls)
    _check_subset_work(length, vocab_size, calls)
    if metric == "tv" and plans > max_plans:
        raise ValueError(
            f"the TV search is over K! S(L, K) = {calls}! S({length}, {calls}) = {plans:,} ordered "
            f"partitions, above max_plans = {max_plans:,}; use metric='kl' (a dynamic program "
            "over subsets), a shorter length, or raise max_plans"
        )
    marginals = _Marginals(table)
    blocks, work = _kl_program(marginals, calls)
    if metric == "tv":
        incumbent = (tv_distance(table, _law(marginals, blocks)), blocks)
        blocks, searched = _tv_search(marginals, calls, incumbent)
        work += searched
    law = _law(marginals, blocks)
    return Plan(
        blocks=blocks,
        tv=tv_distance(table, law),
        kl=kl_divergence(table, law),
        law=law,
        metric=metric,
        plans=plans,
        plans_searched=work,
    )


def best_adaptive_plan(target: Any, calls: int) -> AdaptivePlan:
    """The KL-optimal adaptive plan of exactly ``calls = K`` calls on ``target`` (tiny targets).

    Each call's block may depend on the tokens revealed so far. With ``W_m(A, a) = pi(a) *`` (the
    least KL still to come from revealed values ``x_A = a`` with ``m`` calls left),

        W_m(A, a) = min_B [ pi(a) (sum_{i in B} H(x_i | a) - H(x_B | a))
                            + sum_{x_B} W_{m-1}(A ∪ B, (a, x_B)) ],

    ``W_0(all, x) = 0``, and ``KL(pi || q) = W_K({}, ())``. Partial states with ``pi(a) = 0`` cost
    nothing whatever the choice (their mass is lost either way), so any allowed block is taken
    there. The plan's KL is at most the best non-adaptive one's.
    """
    table = _as_table(target)
    length, vocab_size = table.dim(), table.shape[0]
    calls = _check_calls(calls, length)
    states = (vocab_size + 1) ** length
    if states > MAX_ADAPTIVE_STATES:
        raise ValueError(
            f"the adaptive dynamic program runs over all (V + 1)^L = {vocab_size + 1}^{length} = "
            f"{states:,} partial states, above the limit {MAX_ADAPTIVE_STATES:,}; use a shorter "
            "length (non-adaptive plans: best_plan)"
        )
    marginals = _Marginals(table)
    full = marginals.full

    def plogp(mask: int) -> torch.Tensor:
        p = marginals.marginal(mask)
        return torch.where(p > 0, p * p.log(), 0.0)

    def summed(tensor: torch.Tensor, mask: int) -> torch.Tensor:
        dims = _bits(mask)
        return tensor.sum(dim=dims, keepdim=True) if dims else tensor

    # value[m][A]: W_m(A, .) on A; choice[m][A]: the block taken, per value of x_A
    value: list[dict[int, torch.Tensor]] = [{full: torch.zeros(table.shape, dtype=torch.float64)}]
    choice: list[dict[int, tuple[list[int], torch.Tensor]]] = [{}]
    work = 0
    for m in range(1, calls + 1):
        layer, picks = {}, {}
        starts = [0] if m == calls else [a for a in range(full) if length - a.bit_count() >= m]
        for revealed in starts:
            rest = full & ~revealed
            base = plogp(revealed)
            options, costs = [], []
            for block in _submasks(rest):
                after = revealed | block
                if after not in value[m - 1] or (m == 1 and block != rest):
                    continue
                work += 1
                # pi(a) (sum_i H(x_i | a) - H(x_B | a)) from plogp of the marginals
                cost = summed(plogp(after), block) + (block.bit_count() - 1) * base
                for i in _bits(block):
                    cost = cost - summed(plogp(revealed | 1 << i), 1 << i)
                options.append(block)
                costs.append(cost + summed(value[m - 1][after], block))
            stacked = torch.stack([c.expand(base.shape) for c in costs])
            best, index = stacked.min(dim=0)
            layer[revealed], picks[revealed] = best, (options, index)
        value.append(layer)
        choice.append(picks)

    # forward pass: the plan's law and its rule on the partial states it reaches
    mask_id = vocab_size
    frontier = {(mask_id,) * length: 1.0}
    rule: dict[tuple[int, tuple[int, ...]], tuple[int, ...]] = {}
    for j in range(calls):
        m = calls - j
        step: dict[tuple[int, ...], float] = {}
        for z, mass in frontier.items():
            revealed = sum(1 << i for i in range(length) if z[i] != mask_id)
            options, index = choice[m][revealed]
            where = tuple(z[i] if z[i] != mask_id else 0 for i in range(length))
            block = options[int(index[where])]
            rule[(j, z)] = _bits(block)
            positions = _bits(block)
            conds = [marginals.conditional(revealed, i) for i in positions]
            for values in _product(len(positions), vocab_size):
                new = list(z)
                for i, v in zip(positions, values, strict=True):
                    new[i] = v
                p = mass
                for i, cond in zip(positions, conds, strict=True):
                    at = tuple(new[k] if (revealed >> k & 1 or k == i) else 0 for k in range(length))
                    p *= float(cond[at])
                if p > 0:
                    step[tuple(new)] = step.get(tuple(new), 0.0) + p
        frontier = step
    law = torch.zeros(table.shape, dtype=torch.float64)
    for x, mass in frontier.items():
        law[x] += mass
    return AdaptivePlan(
        rule=rule, tv=tv_distance(table, law), kl=kl_divergence(table, law), law=law, plans_searched=work
    )


def _product(count: int, vocab_size: int):
    """Every tuple of ``count`` tokens in ``0..V-1``."""
    return itertools.product(range(vocab_size), repeat=count)


def _ordered_partitions(length: int, calls: int):
    """Every ordered partition of ``0..L-1`` into ``calls`` non-empty blocks, as bit masks."""

    def extend(rest: int, left: int, prefix: list[int]):
        if left == 1:
            yield [*prefix, rest]
            return
        for block in _submasks(rest):
            if (rest & ~block).bit_count() >= left - 1:
                yield from extend(rest & ~block, left - 1, [*prefix, block])

    yield from extend((1 << length) - 1, calls, [])


def best_mixture(
    target: Any, calls: int, *, tolerance: float = 1e-9, max_iterations: int = 50_000
) -> Mixture:
    """The KL-optimal mixture of non-adaptive plans of ``calls = K`` blocks on ``target``.

    A sampler that draws its plan at random (k-random draws it uniformly among the plans with
    given block sizes) has the law ``q = sum_p w_p q_p``, and such mixtures can beat every single
    plan. ``KL(pi || q)`` is convex in ``w``; the multiplicative (EM) update
    ``w_p <- w_p sum_x pi(x) q_p(x) / q(x)`` from positive weights (here half on the KL-optimal plan,
    half uniform) converges to the optimum, and
    ``g = log max_p sum_x pi(x) q_p(x) / q(x)`` bounds the distance to it (``kl - g <= optimum``).
    Stops when ``g <= tolerance`` or after ``max_iterations`` updates (the gap is then reported
    through ``kl_lower``). Refuses more than ``MAX_MIXTURE_ENTRIES`` stored law entries.
    """
    table = _as_table(target)
    length, vocab_size = table.dim(), table.shape[0]
    calls = _check_calls(calls, length)
    plans = count_plans(length, calls)
    if plans * vocab_size**length > MAX_MIXTURE_ENTRIES:
        raise ValueError(
            f"the mixture search stores the law of every plan: K! S(L, K) = {plans:,} plans of "
            f"{vocab_size}^{length} entries, above the limit {MAX_MIXTURE_ENTRIES:,}; use best_plan"
        )
    marginals = _Marginals(table)
    blocks = [tuple(_bits(b) for b in plan) for plan in _ordered_partitions(length, calls)]
    laws = torch.stack([_law(marginals, plan).reshape(-1) for plan in blocks], dim=1)  # [V^L, n]
    pi = table.reshape(-1)
    support = pi > 0
    q_support, pi_support = laws[support], pi[support]
    # start halfway between uniform weights and the KL-optimal plan (EM keeps weights positive)
    best, _ = _kl_program(marginals, calls)
    weights = torch.full((len(blocks),), 0.5 / len(blocks), dtype=torch.float64)
    weights[blocks.index(best)] += 0.5
    iterations = 0
    if _marginals_kl(marginals, best) <= tolerance:  # a single plan is already optimal
        weights = torch.zeros_like(weights)
        weights[blocks.index(best)] = 1.0
    while True:
        gain = q_support.T @ (pi_support / (q_support @ weights))
        gap = float(gain.max().log())
        if gap <= tolerance or iterations >= max_iterations:
            break
        weights = weights * gain
        weights = weights / weights.sum()
        iterations += 1
    law = (laws @ weights).reshape(table.shape)
    value = kl_divergence(table, law)
    return Mixture(
        plans=tuple(blocks),
        weights=weights,
        kl=value,
        kl_lower=value - max(gap, 0.0),
        tv=tv_distance(table, law),
        law=law,
        iterations=iterations,
    )
