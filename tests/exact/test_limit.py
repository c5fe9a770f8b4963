"""The limit of factorised samplers with exact conditionals (``unmask.exact.limit``): plan laws
against a plain-Python enumeration and against k-random, the additive KL identity, exhaustive
optima, and the adaptive dynamic program."""

from __future__ import annotations

import itertools
import math
import random

import pytest
import torch

from problems import random_table
from unmask.exact import kl, output_law, tv
from unmask.exact.limit import (
    best_adaptive_plan,
    best_mixture,
    best_plan,
    count_plans,
    plan_kl,
    plan_law,
)
from unmask.samplers import get
from unmask.targets import HMM, Copies, MarkovChain

#: Laws and entropies are float64 sums of a few hundred products; identities hold to this.
EXACT = 1e-12


def chain() -> MarkovChain:
    """A peaked random Markov chain (V=3, L=5): K=3 calls already suffice (reveal x_2, then the
    conditionally independent x_1, x_3, then x_0, x_4)."""
    return MarkovChain.random(vocab_size=3, length=5, concentration=0.3, seed=0)


def targets() -> dict:
    """Fresh small targets: the chain above, a peaked full-support table with no conditional
    independences (V=3, L=5), an HMM (V=3, L=4) and the copies target (sparse support: parallel
    blocks leak mass, so impossible contexts occur)."""
    return {
        "chain": chain(),
        "table": random_table(3, 5, seed=4, concentration=0.3),
        "hmm": HMM.random(hidden_size=2, vocab_size=3, length=4, concentration=0.7, seed=2),
        "copies": Copies(vocab_size=3, length=4),
    }


def ordered_partitions(length: int, calls: int):
    """Every ordered partition of ``0..L-1`` into ``calls`` non-empty blocks (the surjections)."""
    for labels in itertools.product(range(calls), repeat=length):
        blocks = [tuple(i for i in range(length) if labels[i] == j) for j in range(calls)]
        if all(blocks):
            yield tuple(blocks)


def enumerated_law(table: torch.Tensor, blocks) -> torch.Tensor:
    """The fixed-order sampler's law in plain Python: for each sequence ``x`` multiply, block by
    block, ``pi(x_i | x_A) = pi(x_{A+i}) / pi(x_A)`` (``1/V`` when ``pi(x_A) = 0``), with marginals
    summed entry by entry."""
    vocab_size, length = table.shape[0], table.dim()
    configs = list(itertools.product(range(vocab_size), repeat=length))
    p = dict(zip(configs, table.reshape(-1).tolist(), strict=True))

    def marginal(subset, x):
        return sum(px for c, px in p.items() if all(c[i] == x[i] for i in subset))

    law = torch.zeros(table.shape, dtype=torch.float64)
    for x in configs:
        q, revealed = 1.0, []
        for block in blocks:
            pa = marginal(revealed, x)
            for i in block:
                q *= marginal([*revealed, i], x) / pa if pa > 0 else 1.0 / vocab_size
            revealed += list(block)
        law[x] = q
    return law


@pytest.mark.parametrize("name", ["chain", "copies"])
def test_plan_law_matches_plain_enumeration(name: str) -> None:
    """``plan_law`` equals the law of the fixed-order sampler built here in plain Python, entry by
    entry to 1e-12, for three plans (one of them with blocks of several positions) on the chain
    and on the copies target (whose parallel blocks reach impossible contexts)."""
    target = targets()[name]
    table = target.probs()
    length = target.length
    for blocks in [[[length - 1], list(range(length - 1))], [[0, 2], [1], list(range(3, length))]]:
        expected = enumerated_law(table, blocks)
        assert torch.allclose(plan_law(target, blocks), expected, rtol=0, atol=EXACT)
        assert abs(float(plan_law(target, blocks).sum()) - 1) <= EXACT


@pytest.mark.parametrize("name", sorted(targets()))
def test_one_block_per_position_is_exact(name: str) -> None:
    """With K = L (one position per call, in any order) the plan reproduces the target: TV below
    1e-12 for the best plans by both metrics and for a reversed order."""
    target = targets()[name]
    length = target.length
    for metric in ("kl", "tv"):
        plan = best_plan(target, length, metric)
        assert plan.tv <= EXACT and abs(plan.kl) <= EXACT
    reversed_law = plan_law(target, [[i] for i in reversed(range(length))])
    assert tv(target.probs(), reversed_law) <= EXACT


@pytest.mark.parametrize("name", sorted(targets()))
def test_one_call_is_the_product_of_marginals(name: str) -> None:
    """With K = 1 the law is the product of the table's single-site marginals (to 1e-12), and its
    KL is the total correlation ``sum_i H(x_i) - H(x)``."""
    target = targets()[name]
    table = target.probs()
    length = table.dim()
    product = torch.ones([1] * length, dtype=torch.float64)
    for i in range(length):
        product = product * table.sum(dim=tuple(k for k in range(length) if k != i), keepdim=True)
    plan = best_plan(target, 1)
    assert plan.blocks == (tuple(range(length)),)
    assert torch.allclose(plan.law, product.expand(table.shape), rtol=0, atol=EXACT)

    def entropy(p):
        p = p[p > 0]
        return float(-(p * p.log()).sum())

    singles = sum(entropy(product.sum(dim=tuple(k for k in range(length) if k != i))) for i in range(length))
    if name != "copies":  # copies: q leaks, the identity holds but kl is finite only on supp pi
        assert abs(plan.kl - (singles - entropy(table.reshape(-1)))) <= EXACT


@pytest.mark.parametrize("name", sorted(targets()))
def test_kl_is_additive_over_blocks(name: str) -> None:
    """``KL(pi || plan_law)`` equals ``sum_j [sum_{i in B_j} H(x_i | x_prev) - H(x_{B_j} | x_prev)]``
    (``plan_kl``) to 1e-12, for every ordered partition into 2 and 3 blocks (exact identity: with
    a fixed order the path is a function of x)."""
    target = targets()[name]
    table = target.probs()
    for calls in (2, 3):
        for blocks in ordered_partitions(target.length, calls):
            law_kl = kl(table, plan_law(target, blocks))
            assert abs(law_kl - plan_kl(target, blocks)) <= EXACT, blocks


@pytest.mark.parametrize("name", ["chain", "table", "hmm"])
def test_optimum_is_below_every_plan(name: str) -> None:
    """For every K the KL- and TV-optimal plans reach the minimum over the exhaustive list of
    ordered partitions (to 1e-12; the list has K! S(L, K) entries, ``Plan.plans``), and the
    optimal KL does not increase with K."""
    target = targets()[name]
    table = target.probs()
    previous = math.inf
    for calls in range(1, target.length + 1):
        plans = list(ordered_partitions(target.length, calls))
        laws = [plan_law(target, blocks) for blocks in plans]
        best_kl, best_tv = best_plan(target, calls, "kl"), best_plan(target, calls, "tv")
        assert best_kl.plans == best_tv.plans == len(plans)
        assert abs(best_kl.kl - min(kl(table, law) for law in laws)) <= EXACT
        assert abs(best_tv.tv - min(tv(table, law) for law in laws)) <= EXACT
        assert best_tv.tv <= best_kl.tv + EXACT and best_kl.kl <= best_tv.kl + EXACT
        assert best_kl.kl <= previous + EXACT
        previous = best_kl.kl


def test_optimum_is_below_random_plans_at_larger_length() -> None:
    """On a V=2, L=7 table (1,806 plans at K=3), the optimal TV and KL are at most those of 200
    random ordered partitions (drawn with random.Random(0))."""
    target = random_table(2, 7, seed=5, concentration=0.3)
    table = target.probs()
    best_kl, best_tv = best_plan(target, 3, "kl"), best_plan(target, 3, "tv")
    assert best_tv.plans == count_plans(7, 3) == 1806
    rng = random.Random(0)
    for _ in range(200):
        labels = [rng.randrange(3) for _ in range(7)]
        blocks = [[i for i in range(7) if labels[i] == j] for j in range(3)]
        if not all(blocks):
            continue
        law = plan_law(target, blocks)
        assert best_tv.tv <= tv(table, law) + EXACT
        assert best_kl.kl <= kl(table, law) + EXACT


def k_random_gap(name: str, sizes: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(average of plan_law over the ordered partitions with block sizes sizes, k-random's exact
    output law)`` on ``targets()[name]``."""
    target = targets()[name]
    plans = [p for p in ordered_partitions(target.length, len(sizes)) if tuple(map(len, p)) == sizes]
    average = sum(plan_law(target, blocks) for blocks in plans) / len(plans)
    return average, output_law(target, get("k-random", sizes=sizes))


@pytest.mark.parametrize(
    ("name", "sizes"),
    [
        ("chain", (2, 3)),
        ("chain", (2, 2, 1)),
        ("chain", (1, 3, 1)),
        ("copies", (2, 2)),
        ("copies", (1, 2, 1)),
    ],
)
def test_k_random_is_the_average_over_plans(name: str, sizes: tuple[int, ...]) -> None:
    """k-random with sizes ``k_j`` picks each block uniformly among the masked positions, so its
    exact output law is the average of ``plan_law`` over all ordered partitions with those block
    sizes (equal weights). Checked entry by entry against ``unmask.exact.output_law`` to float64
    rounding (the subset probabilities ``r / m`` of the exact law are float64)."""
    average, law = k_random_gap(name, sizes)
    assert torch.allclose(average, law, rtol=0, atol=EXACT)


def path_kl_of_rule(table: torch.Tensor, rule, calls: int) -> float:
    """``E_pi sum_j [log pi(x_B | x_A) - sum_{i in B} log pi(x_i | x_A)]`` following ``rule`` along
    each sequence ``x`` (the adaptive path is a function of x), in plain Python."""
    vocab_size, length = table.shape[0], table.dim()

    def marginal(subset, x):
        dims = tuple(k for k in range(length) if k not in subset)
        m = table.sum(dim=dims) if dims else table
        return float(m[tuple(x[k] for k in sorted(subset))]) if subset else 1.0

    total = 0.0
    for x in itertools.product(range(vocab_size), repeat=length):
        px = float(table[x])
        if px == 0:
            continue
        revealed: list[int] = []
        for j in range(calls):
            z = tuple(x[k] if k in revealed else vocab_size for k in range(length))
            block = rule[(j, z)]
            pa = marginal(revealed, x)
            total += px * math.log(marginal([*revealed, *block], x) / pa)
            total -= px * sum(math.log(marginal([*revealed, i], x) / pa) for i in block)
            revealed += list(block)
    return total


@pytest.mark.parametrize("name", ["table", "hmm", "copies"])
def test_adaptive_plan(name: str) -> None:
    """The KL-optimal adaptive plan: its law sums to 1; its KL equals the path sum along its own
    rule (plain Python, 1e-12); it is at most the best non-adaptive KL at every K, equal to it at
    K = 1 (one choice), and exact at K = L."""
    target = targets()[name]
    table = target.probs()
    for calls in range(1, target.length + 1):
        plan = best_adaptive_plan(target, calls)
        assert abs(float(plan.law.sum()) - 1) <= EXACT
        assert abs(plan.kl - path_kl_of_rule(table, plan.rule, calls)) <= EXACT
        fixed = best_plan(target, calls)
        assert plan.kl <= fixed.kl + EXACT
        if calls == 1:
            assert abs(plan.kl - fixed.kl) <= EXACT and abs(plan.tv - fixed.tv) <= EXACT
    assert plan.tv <= EXACT


@pytest.mark.parametrize(("name", "calls"), [("table", 2), ("chain", 2), ("chain", 3)])
def test_mixture_of_plans(name: str, calls: int) -> None:
    """The KL-optimal mixture of plans (k-random is one mixture: uniform over the plans with its
    sizes): its certified lower bound ``kl_lower`` is at most its KL; the optimum (>= kl_lower) is at
    most the best single plan's KL and k-random's KL; its weights sum to 1 and its law is
    ``sum_p w_p plan_law(p)`` (1e-12). On the table at K = 2 it beats every single plan by more
    than 0.05 nats, and k-random beats the best single plan too (0.224 < 0.272)."""
    target = targets()[name]
    table = target.probs()
    mixture = best_mixture(target, calls, max_iterations=5000)
    single = best_plan(target, calls)
    k_random = kl(table, output_law(target, get("k-random", blocks=calls)))
    assert mixture.kl_lower <= mixture.kl + EXACT
    assert mixture.kl_lower <= single.kl + EXACT and mixture.kl_lower <= k_random + 1e-9
    assert abs(float(mixture.weights.sum()) - 1) <= EXACT
    law = sum(w * plan_law(target, p) for w, p in zip(mixture.weights.tolist(), mixture.plans, strict=True))
    assert torch.allclose(mixture.law, law, rtol=0, atol=EXACT)
    if name == "table":
        assert mixture.kl < single.kl - 0.05 and k_random < single.kl


def test_count_plans() -> None:
    """``count_plans(L, K) = K! S(L, K)`` equals the number of surjections, and sums to the ordered
    Bell numbers 1, 3, 13, 75, 541 over K."""
    for length in range(1, 6):
        counts = [count_plans(length, k) for k in range(1, length + 1)]
        assert counts == [len(list(ordered_partitions(length, k))) for k in range(1, length + 1)]
        assert sum(counts) == [1, 3, 13, 75, 541][length - 1]
    assert count_plans(3, 4) == 0


def test_errors() -> None:
    """Clear errors: more calls than positions, a TV search above ``max_plans`` (naming K! S(L, K)
    and the count), blocks that do not partition the positions, an unknown metric."""
    target = chain()
    with pytest.raises(ValueError, match="more than the length"):
        best_plan(target, 6)
    with pytest.raises(ValueError, match=r"K! S\(L, K\) = 3! S\(5, 3\) = 150"):
        best_plan(target, 3, "tv", max_plans=100)
    with pytest.raises(ValueError, match="partition"):
        plan_law(target, [[0, 1], [1, 2, 3, 4]])
    with pytest.raises(ValueError, match="non-empty"):
        plan_law(target, [[0, 1, 2, 3, 4], []])
    with pytest.raises(ValueError, match="metric"):
        best_plan(target, 2, "js")
    with pytest.raises(TypeError, match="exact target"):
        best_plan(object(), 2)
