"""The copies target in closed form (spec §4.1, T2): the only error of the ancestral samplers is
the factorisation error of the first non-empty step.

Derivation (``x_1 = ... = x_d ~ Unif(S)``, exact denoiser). Step ``k`` reveals each still-masked
token with probability ``q_k`` (``q_N = 1``), so a token's reveal step ``K`` is independent across
tokens with ``P(K = k) = r_k = q_k prod_{j<k} (1 - q_j)``. Let ``M`` be the number of tokens
revealed at the first non-empty step: with ``F_k = r_1 + ... + r_k``,

    P(M = m) = sum_k C(d, m) r_k^m (1 - F_k)^(d - m).

Those ``M`` tokens are drawn independently from the marginal ``Unif(S)``: all equal with
probability ``S^(1-M)``, and then every later conditional is a point mass on that value (the
output is a copy, uniform over the ``S`` copies by symmetry); otherwise the output has two
different values and lies outside the support (whatever the impossible-context convention does
afterwards). Hence ``phat(copy) = E[S^(1-M)] / S``,

    TV = 1 - E[S^(1-M)],     KL(pi || phat) = -log E[S^(1-M)].

For the linear schedule on a uniform grid, Euler and Tweedie have ``q_k = 1/(N - k + 1)``, so
``r_k = 1/N`` and ``P(M = m) = sum_{k=1}^N C(d, m) N^-m (1 - k/N)^(d-m)`` (spec §4.1); for
``N >> d``, ``P(M = 2) ~ d / (2N)`` dominates and ``TV N / d -> (1 - 1/S) / 2``.
"""

from __future__ import annotations

import math

import pytest

from unmask import MaskedProcess
from unmask.exact import kl, run_law, tv
from unmask.grids import uniform_time
from unmask.samplers import get
from unmask.samplers.base import force_last
from unmask.schedules import CosineSchedule
from unmask.targets import Copies


def first_block_law(reveal: list[float], d: int) -> list[float]:
    """``P(M = m)`` for ``m = 0..d`` given the per-step reveal probabilities ``reveal = [q_1..q_N]``."""
    law = [0.0] * (d + 1)
    survive = 1.0  # P(K > k - 1) = prod_{j<k} (1 - q_j)
    revealed = 0.0  # F_{k-1}
    for q in reveal:
        r = survive * q
        for m in range(1, d + 1):
            law[m] += math.comb(d, m) * r**m * (1.0 - revealed - r) ** (d - m)
        revealed += r
        survive *= 1.0 - q
    return law


def spec_first_block_law(steps: int, d: int) -> list[float]:
    """Spec §4.1: ``P(M = m) = sum_{k=1}^N C(d, m) N^-m (1 - k/N)^(d-m)`` (linear, uniform grid)."""
    return [0.0] + [
        sum(math.comb(d, m) * steps**-m * (1 - k / steps) ** (d - m) for k in range(1, steps + 1))
        for m in range(1, d + 1)
    ]


def closed_form(reveal: list[float], d: int, vocab_size: int) -> tuple[float, float]:
    """``(TV, KL(pi || phat))`` of an ancestral sampler on ``Copies(vocab_size, d)``."""
    law = first_block_law(reveal, d)
    agree = sum(p * vocab_size ** (1 - m) for m, p in enumerate(law) if m >= 1)
    return 1.0 - agree, -math.log(agree)


def reveal_probabilities(name: str, process: MaskedProcess, steps: int) -> list[float]:
    """The per-step reveal probabilities ``q_k`` the sampler uses on a uniform grid."""
    times = uniform_time(steps)
    t, s = times[:-1], times[1:]
    return force_last(get(name).reveal_probability(process, t, s), s).tolist()


def test_general_formula_reduces_to_the_spec_formula() -> None:
    """For the linear schedule on a uniform grid (Euler and Tweedie: ``q_k = 1/(N - k + 1)``), the
    reveal step is uniform and the general ``P(M = m)`` equals the spec's sum to 1e-14; both sum
    to 1."""
    for steps in (3, 8, 64):
        for name in ("euler", "tweedie"):
            general = first_block_law(reveal_probabilities(name, MaskedProcess(), steps), 4)
            spec = spec_first_block_law(steps, 4)
            assert max(abs(a - b) for a, b in zip(general, spec, strict=True)) <= 1e-14
            assert abs(sum(general) - 1.0) <= 1e-14


CASES = [
    ("euler", "linear", 2, 4),
    ("tweedie", "linear", 2, 4),
    ("tau-leaping", "linear", 2, 4),
    ("tweedie", "cosine", 2, 4),
    ("euler", "linear", 3, 3),
]


@pytest.mark.parametrize("name, schedule, vocab_size, d", CASES)
def test_exact_law_matches_the_closed_form(name: str, schedule: str, vocab_size: int, d: int) -> None:
    """The exact output law on ``Copies(S, d)`` has TV = 1 - E[S^(1-M)] and
    KL(pi || phat) = -log E[S^(1-M)] to 1e-12, for N = 8, 16, 32, 64 (Euler and Tweedie with the
    linear schedule as in spec §4.1, and the general reveal probabilities of tau-leaping and of
    the cosine schedule)."""
    process = MaskedProcess() if schedule == "linear" else MaskedProcess(CosineSchedule())
    target = Copies(vocab_size, d)
    for steps in (8, 16, 32, 64):
        law = run_law(target, name, steps, process=process).law
        want_tv, want_kl = closed_form(reveal_probabilities(name, process, steps), d, vocab_size)
        got_tv, got_kl = tv(law, target.probs()), kl(target.probs(), law)
        assert abs(got_tv - want_tv) <= 1e-12, f"N={steps}: TV {got_tv!r} vs closed form {want_tv!r}"
        assert abs(got_kl - want_kl) <= 1e-12, f"N={steps}: KL {got_kl!r} vs closed form {want_kl!r}"


@pytest.mark.parametrize("vocab_size, d", [(2, 4), (3, 3)])
def test_tv_times_steps_over_d_tends_to_its_limit(vocab_size: int, d: int) -> None:
    """``TV N / d -> (1 - 1/S) / 2`` for N >> d (spec T2): within 5% at N = 64 on the exact Euler
    law, within 0.1% at N = 2^14 on the closed form, and approaching monotonically in N."""
    limit = (1 - 1 / vocab_size) / 2
    target = Copies(vocab_size, d)
    law = run_law(target, "euler", 64).law
    assert abs(tv(law, target.probs()) * 64 / d - limit) <= 0.05 * limit
    scaled = []
    for steps in (64, 256, 1024, 2**14):
        value, _ = closed_form(reveal_probabilities("euler", MaskedProcess(), steps), d, vocab_size)
        scaled.append(value * steps / d)
    assert abs(scaled[-1] - limit) <= 1e-3 * limit, f"TV N/d = {scaled} vs {limit}"
    gaps = [abs(v - limit) for v in scaled]
    assert all(b < a for a, b in zip(gaps, gaps[1:], strict=False)), f"TV N/d = {scaled} vs {limit}"
