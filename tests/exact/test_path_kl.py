"""Path-space KL and the information profile (spec §4.2, §7, T7): ``unmask.exact.path_kl`` against
a direct enumeration of paths, the bound KL(pi || phat) <= pathKL, and the profile identities."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from problems import masked_law_targets, random_table
from unmask.exact import entropy, information_profile, kl, output_law, path_kl
from unmask.grids import uniform_time
from unmask.processes import MaskedProcess
from unmask.samplers import get
from unmask.samplers.base import force_last

#: Both sides are float64 sums of a few hundred terms.
TOLERANCE = 1e-10


class PathEnumeration:
    """Direct path enumeration on a table ``[V] * L`` in plain Python (no library code).

    A random-order sampler with block sizes ``k_1, k_2, ...`` reveals the blocks of a uniformly
    random permutation in turn; with exact conditionals its path law has, per block ``B`` after
    the revealed set ``A``, the factor ``prod_{i in B} pi(x_i | x_A)`` where the exact reverse
    process has ``pi(x_B | x_A)``. So

        pathKL = E_{x ~ pi, order} sum_blocks [ log pi(x_B | x_A) - sum_{i in B} log pi(x_i | x_A) ],

    with every conditional a ratio of marginals ``pi(x_S)`` computed by summing the table.
    """

    def __init__(self, table: torch.Tensor) -> None:
        self.length = table.dim()
        self.vocab_size = table.shape[0]
        self.configs = list(itertools.product(range(self.vocab_size), repeat=self.length))
        self.p = dict(zip(self.configs, table.reshape(-1).tolist(), strict=True))
        self._marginals: dict[tuple[int, ...], dict[tuple[int, ...], float]] = {}

    def marginal(self, subset: tuple[int, ...], x: tuple[int, ...]) -> float:
        """``pi(x_S)`` for the positions ``subset`` (sorted) of the sequence ``x``."""
        if subset not in self._marginals:
            table: dict[tuple[int, ...], float] = {}
            for config, p in self.p.items():
                key = tuple(config[i] for i in subset)
                table[key] = table.get(key, 0.0) + p
            self._marginals[subset] = table
        return self._marginals[subset][tuple(x[i] for i in subset)]

    def block_path_kl(self, sizes: list[int]) -> float:
        """pathKL of deterministic block sizes (zero sizes allowed; the sizes sum to ``L``)."""
        orders = list(itertools.permutations(range(self.length)))
        total = 0.0
        for x, px in self.p.items():
            if px == 0:
                continue
            for order in orders:
                revealed: list[int] = []
                start = 0
                for size in sizes:
                    block = list(order[start : start + size])
                    start += size
                    if not block:
                        continue
                    a = tuple(sorted(revealed))
                    pa = self.marginal(a, x)
                    joint = self.marginal(tuple(sorted(revealed + block)), x) / pa
                    single = [self.marginal(tuple(sorted([*revealed, i])), x) / pa for i in block]
                    total += px * (math.log(joint) - sum(math.log(c) for c in single))
                    revealed += block
        return total / len(orders)

    def binomial_path_kl(self, reveal: list[float]) -> float:
        """pathKL of an ancestral sampler: step ``j`` reveals each masked token with probability
        ``reveal[j]`` (last = 1), so the sizes are successive Binomials; enumerate size sequences."""
        total = 0.0
        for sizes in itertools.product(range(self.length + 1), repeat=len(reveal)):
            if sum(sizes) != self.length:
                continue
            weight, left = 1.0, self.length
            for size, q in zip(sizes, reveal, strict=True):
                weight *= math.comb(left, size) * q**size * (1 - q) ** (left - size)
                left -= size
            if weight > 0:
                total += weight * self.block_path_kl(list(sizes))
        return total


@pytest.fixture(scope="module")
def table_target():
    """A peaked full-support random table, V=3, L=4."""
    return random_table(3, 4, seed=7, concentration=0.5)


@pytest.fixture(scope="module")
def brute(table_target):
    return PathEnumeration(table_target.probs())


@pytest.mark.parametrize(
    "sizes", [(4,), (2, 2), (1, 3), (3, 1), (2, 1, 1), (1, 1, 2), (1, 2, 1), (1, 1, 1, 1)]
)
def test_path_kl_of_fixed_sizes_matches_path_enumeration(table_target, brute, sizes) -> None:
    """For k-random with deterministic sizes, ``path_kl`` (the profile formula
    ``sum_j k_j H_{s_{j-1}} - H(pi)``) equals the direct enumeration over sequences and orders to
    1e-10; blocks of one give 0 and one block of L gives the total correlation."""
    want = brute.block_path_kl(list(sizes))
    got = path_kl(table_target, get("k-random", sizes=sizes))
    assert abs(got - want) <= TOLERANCE, f"sizes {sizes}: path_kl {got!r}, enumeration {want!r}"
    if sizes == (1, 1, 1, 1):
        assert abs(got) <= TOLERANCE
    if sizes == (4,):
        probs = table_target.probs()
        marginals = [probs.sum(dim=[j for j in range(4) if j != i]) for i in range(4)]
        total_correlation = sum(entropy(m) for m in marginals) - entropy(probs)
        assert abs(got - total_correlation) <= TOLERANCE


def test_path_kl_of_k_and_steps_matches_path_enumeration(table_target, brute) -> None:
    """``k-random`` with ``k = 3`` (blocks 3, then the last 1) and with ``steps = 3`` (even sizes
    2, 1, 1) have the path KL of their block sizes, by direct enumeration, to 1e-10."""
    assert abs(path_kl(table_target, get("k-random", k=3)) - brute.block_path_kl([3, 1])) <= TOLERANCE
    assert abs(path_kl(table_target, "k-random", 3) - brute.block_path_kl([2, 1, 1])) <= TOLERANCE


@pytest.mark.parametrize("name", ["euler", "tau-leaping", "tweedie"])
def test_path_kl_of_ancestral_samplers_matches_path_enumeration(table_target, brute, name) -> None:
    """For the ancestral samplers (random Binomial block sizes) with N = 2 and 3 uniform steps,
    ``path_kl`` equals the size-weighted direct enumeration to 1e-10."""
    process = MaskedProcess()
    for steps in (2, 3):
        times = uniform_time(steps)
        reveal = force_last(get(name).reveal_probability(process, times[:-1], times[1:]), times[1:])
        want = brute.binomial_path_kl(reveal.tolist())
        got = path_kl(table_target, name, steps)
        assert abs(got - want) <= TOLERANCE, f"N={steps}: path_kl {got!r}, enumeration {want!r}"


@pytest.mark.parametrize("name", sorted(masked_law_targets()))
def test_kl_is_bounded_by_path_kl(name: str) -> None:
    """KL(pi || phat) <= pathKL (spec §4.2 (b)) for Euler and Tweedie at N = 2, 4, 8 and for
    k-random with k = 2 and with 2 and 3 blocks, on every law target (including the copies
    target, where both sides are finite because pathKL counts the mass that leaks); first-hitting
    and k-random with k = 1 have pathKL = 0 (to 1e-12)."""
    target = masked_law_targets()[name]
    probs = target.probs()
    cases = [(n, s) for n in ("euler", "tweedie") for s in (2, 4, 8)]
    cases += [(get("k-random", k=2), None), ("k-random", 2), ("k-random", 3)]
    for sampler, steps in cases:
        bound = path_kl(target, sampler, steps)
        error = kl(probs, output_law(target, sampler, steps))
        assert error <= bound + 1e-12, f"{sampler} N={steps}: KL {error:.4g} > pathKL {bound:.4g}"
    assert abs(path_kl(target, "first-hitting")) <= 1e-12
    assert abs(path_kl(target, get("k-random", k=1))) <= 1e-12


def test_path_kl_of_euler_is_first_order() -> None:
    """pathKL of Euler (linear schedule, uniform grid) falls like 1/N (spec §4.2 (c)): local
    log-log slopes over N = 16 .. 256 lie in [-1.1, -0.9]."""
    target = masked_law_targets()["markov"]
    steps = [16, 32, 64, 128, 256]
    values = [path_kl(target, "euler", n) for n in steps]
    slopes = [math.log(values[j + 1] / values[j]) / math.log(2) for j in range(len(steps) - 1)]
    assert all(-1.1 <= s <= -0.9 for s in slopes), f"local slopes {slopes}"


@pytest.mark.parametrize("name", sorted(masked_law_targets()))
def test_information_profile_identities(name: str) -> None:
    """The information profile ``H_i`` (spec §7.1) sums to H(pi) (chain rule over a random order),
    is non-increasing, starts at the mean marginal entropy (``d H_0 - H(pi) = TC``) and ends at
    the mean entropy of a token given all others (``H(pi) - d H_{d-1} = DTC``), all to 1e-12."""
    target = masked_law_targets()[name]
    probs = target.probs()
    d = target.length
    profile = information_profile(probs)
    assert profile.shape == (d,)
    assert abs(float(profile.sum()) - entropy(probs)) <= 1e-12
    assert bool((profile[1:] <= profile[:-1] + 1e-12).all()), profile.tolist()
    others = [[j for j in range(d) if j != i] for i in range(d)]
    marginal_entropy = sum(entropy(probs.sum(dim=o)) for o in others)
    assert abs(d * float(profile[0]) - marginal_entropy) <= 1e-12
    # H(x_i | x_-i) = H(pi) - H(x_-i)
    leave_one_out = sum(entropy(probs) - entropy(probs.sum(dim=i)) for i in range(d))
    assert abs(d * float(profile[-1]) - leave_one_out) <= 1e-12
