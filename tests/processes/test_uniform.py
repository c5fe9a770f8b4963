"""The uniform process (spec §1.2): kernels, scores, reverse rates, the Tweedie law and their
inverses, each against a brute-force computation from explicit matrices."""

from __future__ import annotations

import pytest
import torch

from stats import CHI_SQUARE_LEVEL, chi_square_pvalue
from unmask import UniformProcess
from unmask.schedules import ConstantRateSchedule, CosineSchedule

PROCESSES = {
    "constant-rate(10)": UniformProcess(),
    "constant-rate(2)": UniformProcess(ConstantRateSchedule(horizon=2.0), t_min=0.1),
    "cosine": UniformProcess(CosineSchedule(), t_min=0.05),
}


def _problem(seed: int, vocab: int = 4, rows: int = 3, length: int = 5):
    """Posterior marginals ``p [rows, length, vocab]`` (one has a zero), states and times."""
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(rows, length, vocab, generator=g, dtype=torch.float64) + 0.05
    p[0, 0, 2] = 0.0
    p = p / p.sum(-1, keepdim=True)
    z = torch.randint(0, vocab, (rows, length), generator=g)
    t = torch.tensor([0.9, 0.5, 0.2], dtype=torch.float64)[:rows]
    return p, z, t


def _kernel(process: UniformProcess, weight: float, vocab: int) -> torch.Tensor:
    """``abar I + (1 - abar) E/S`` built by hand."""
    return weight * torch.eye(vocab, dtype=torch.float64) + (1 - weight) / vocab


@pytest.mark.parametrize("name", list(PROCESSES))
def test_transition_matrix_is_the_kernel(name):
    """transition_matrix(t) = abar_t I + (1 - abar_t) E/S, rows sum to 1, and
    Chapman-Kolmogorov K_s K_{t|s} = K_t with K_{t|s} of weight abar_t / abar_s."""
    process = PROCESSES[name]
    vocab = 4
    for t in (0.0, 0.3, 1.0):
        abar = float(process.kernel_weight(t))
        torch.testing.assert_close(process.transition_matrix(t, vocab), _kernel(process, abar, vocab))
    k_t = process.transition_matrix(0.7, vocab)
    k_s = process.transition_matrix(0.3, vocab)
    weight = float(process.kernel_weight(0.7) / process.kernel_weight(0.3))
    torch.testing.assert_close(k_s @ _kernel(process, weight, vocab), k_t)
    torch.testing.assert_close(k_t.sum(-1), torch.ones(vocab, dtype=torch.float64))


@pytest.mark.parametrize("name", list(PROCESSES))
def test_score_against_brute_force(name):
    """score[v] = sum_a p(a) K_t[a, v] / K_t[a, z] from the explicit matrix, and score[z] = 1."""
    process = PROCESSES[name]
    vocab = 4
    p, z, t = _problem(0, vocab)
    score = process.score(p, z, t)
    for b in range(len(t)):
        k = process.transition_matrix(t[b], vocab)
        for i in range(z.shape[1]):
            expected = (p[b, i, :, None] * k / k[:, z[b, i], None]).sum(0)
            torch.testing.assert_close(score[b, i], expected, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(
        score.gather(-1, z[..., None]).squeeze(-1), torch.ones_like(t[:, None]).expand_as(z)
    )


@pytest.mark.parametrize("name", list(PROCESSES))
def test_posterior_from_score_inverts_score(name):
    """posterior_from_score(score(p)) = p (the S x S solve of spec §1.2), away from abar -> 0."""
    process = PROCESSES[name]
    p, z, t = _problem(1)
    back = process.posterior_from_score(process.score(p, z, t), z, t)
    torch.testing.assert_close(back, p, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", list(PROCESSES))
def test_reverse_rates_and_their_inverse(name):
    """reverse_rates = sigma(t)/S * score off the diagonal and 0 on it; rates_to_probs inverts it."""
    process = PROCESSES[name]
    vocab = 4
    p, z, t = _problem(2, vocab)
    rates = process.reverse_rates(p, z, t)
    stay = torch.nn.functional.one_hot(z, vocab).bool()
    assert bool((rates[stay] == 0).all())
    expected = process.schedule.rate(t)[:, None, None] / vocab * process.score(p, z, t)
    torch.testing.assert_close(rates[~stay], expected[~stay])
    torch.testing.assert_close(process.rates_to_probs(rates, z, t), p, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", list(PROCESSES))
def test_tweedie_law_against_brute_force(name):
    """tweedie_law[b] = sum_a p(a) K_{t|s}[b, z] K_s[a, b] / K_t[a, z] from explicit matrices
    (Chapman-Kolmogorov makes it sum to 1 without normalisation)."""
    process = PROCESSES[name]
    vocab = 4
    p, z, t = _problem(3, vocab)
    s = t * 0.6
    law = process.tweedie_law(p, z, t, s)
    torch.testing.assert_close(law.sum(-1), torch.ones_like(law.sum(-1)))
    for b in range(len(t)):
        k_t = process.transition_matrix(t[b], vocab)
        k_s = process.transition_matrix(s[b], vocab)
        k_ts = _kernel(process, float(process.kernel_weight(t[b]) / process.kernel_weight(s[b])), vocab)
        for i in range(z.shape[1]):
            c = z[b, i]
            expected = (p[b, i, :, None] * k_ts[:, c][None, :] * k_s / k_t[:, c, None]).sum(0)
            assert float(expected.sum()) == pytest.approx(1.0, abs=1e-12)
            torch.testing.assert_close(law[b, i], expected, rtol=1e-12, atol=1e-14)


def test_corrupt_matches_the_kernel():
    """corrupt draws z_t from K_t[x, .]: for each clean token a, the counts of z given x = a pass
    Pearson's chi-square test against K_t[a, .] at significance CHI_SQUARE_LEVEL."""
    process = UniformProcess(ConstantRateSchedule(horizon=2.0))
    vocab, n = 3, 30_000
    t = 0.4
    kernel = process.transition_matrix(t, vocab)
    g = torch.Generator().manual_seed(7)
    x = torch.arange(vocab).repeat_interleave(n).reshape(vocab, n)
    z = process.corrupt(x, torch.full((vocab,), t, dtype=torch.float64), vocab, generator=g)
    for a in range(vocab):
        assert chi_square_pvalue(z[a].unsqueeze(-1), kernel[a]) > CHI_SQUARE_LEVEL


@pytest.mark.parametrize("name", ["tweedie", "euler", "posterior"])
def test_closed_form_leave_probabilities_equal_the_rows(name: str) -> None:
    """The jump laws' leave probabilities in closed form (one log-probability per position) equal
    ``sum_{v != z} law(v) / sum_v law(v)`` summed from the laws' rows, to 1e-12; Euler's clipped
    stay mass too (a large step makes it positive)."""
    from unmask.probabilities import Probabilities

    process = UniformProcess()
    g = torch.Generator().manual_seed(9)
    logits = torch.randn(6, 5, 4, generator=g, dtype=torch.float64) * 2
    z = torch.randint(0, 4, (6, 5), generator=g)
    t = torch.linspace(0.9, 0.1, 6, dtype=torch.float64)
    s = t * torch.linspace(0.2, 0.95, 6, dtype=torch.float64)
    probs = Probabilities(logits)
    law = {
        "tweedie": lambda: process.tweedie_jump(probs, z, t, s),
        "euler": lambda: process.euler_jump(probs, z, t, s),
        "posterior": lambda: process.posterior_jump(probs, z),
    }[name]()
    where = torch.ones(6, 5, dtype=torch.bool)
    closed, clipped = law.leave_and_clipped(where)
    rule, law.leave = law.leave, None
    summed, summed_clipped = law.leave_and_clipped(where)
    assert rule is not None
    assert torch.allclose(closed, summed, rtol=0, atol=1e-12)
    assert torch.allclose(clipped, summed_clipped, rtol=0, atol=1e-12)
    if name == "euler":
        assert float(clipped.max()) > 0
