"""The masked process (spec §1.1): forward corruption, reveal probabilities and conversions."""

from __future__ import annotations

import pytest
import torch

from unmask import MaskedProcess
from unmask.schedules import SCHEDULES, GeometricSchedule

#: The masked process under every registered schedule (default hyperparameters).
PROCESSES = {name: MaskedProcess(cls()) for name, cls in SCHEDULES.items()}

#: Two-sided normal quantile for significance CHI_SQUARE_LEVEL (1e-3).
Z_LIMIT = 3.2905


def test_corrupt_masks_with_probability_one_minus_alpha():
    """Each token is masked independently with probability 1 - alpha(t[b]) and kept otherwise:
    per row, the masked count is within Z_LIMIT binomial standard deviations (two-sided test at
    significance 1e-3) and every unmasked entry equals the clean token."""
    process = MaskedProcess(SCHEDULES["cosine"]())
    vocab, rows, length = 4, 5, 20_000
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, vocab, (rows, length), generator=g)
    t = torch.tensor([0.0, 0.2, 0.5, 0.9, 1.0], dtype=torch.float64)
    z = process.corrupt(x, t, vocab, generator=g)
    masked = z == vocab
    assert torch.equal(z[~masked], x[~masked])
    m = process.schedule.masked_fraction(t)
    counts = masked.sum(-1).double()
    sd = (length * m * (1 - m)).sqrt()
    assert counts[0] == 0 and counts[-1] == length
    inner = slice(1, -1)
    assert bool(((counts[inner] - length * m[inner]).abs() <= Z_LIMIT * sd[inner]).all()), counts


@pytest.mark.parametrize("name", list(PROCESSES))
def test_unmask_probability_formula(name):
    """unmask_probability(t, s) = (alpha_s - alpha_t) / (1 - alpha_t) for 0 <= s < t <= 1, within
    [0, 1]; it is 1 at s = 0 for schedules with alpha(0) = 1 and 0 at s = t."""
    process = PROCESSES[name]
    schedule = process.schedule
    t = torch.tensor([1.0, 0.7, 0.3, 0.05], dtype=torch.float64)
    for fraction in (0.0, 0.25, 0.5, 0.99):
        s = t * fraction
        exact = (schedule.alpha(s) - schedule.alpha(t)) / (1 - schedule.alpha(t))
        p = process.unmask_probability(t, s)
        torch.testing.assert_close(p, exact, rtol=1e-9, atol=1e-12)
        assert bool(((p >= 0) & (p <= 1)).all())
    if not isinstance(schedule, GeometricSchedule):
        assert torch.equal(process.unmask_probability(t, torch.zeros(4, dtype=torch.float64)), torch.ones(4))
    assert torch.equal(process.unmask_probability(t, t), torch.zeros(4, dtype=torch.float64))


def test_hazard_is_the_schedule_hazard():
    """MaskedProcess.hazard is the schedule's -alpha'/(1 - alpha)."""
    for process in PROCESSES.values():
        t = torch.linspace(0.01, 1, 7, dtype=torch.float64)
        assert torch.equal(process.hazard(t), process.schedule.hazard(t))


def _random_problem(seed: int, vocab: int = 5, rows: int = 4, length: int = 6):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, length, vocab, generator=g, dtype=torch.float64) * 3
    logits[0, 0, 1] = float("-inf")  # a token of probability 0
    z = torch.randint(0, vocab + 1, (rows, length), generator=g)
    z[:, 0] = vocab  # at least one masked position per row
    t = torch.rand(rows, generator=g, dtype=torch.float64) * 0.9 + 0.05
    return logits, z, t


@pytest.mark.parametrize("name", ["linear", "cosine", "log-linear", "geometric"])
def test_logits_score_probs_round_trip(name):
    """logits -> score -> probs gives softmax(logits) at masked positions and 0 elsewhere; the
    score sums to alpha/(1 - alpha) at masked positions (spec §1.1)."""
    process = PROCESSES[name]
    vocab = 5
    logits, z, t = _random_problem(1, vocab)
    score = process.logits_to_score(logits, z, t, vocab)
    masked = (z == vocab).unsqueeze(-1)
    assert score.dtype == torch.float64
    assert bool((score[~masked.expand_as(score)] == 0).all())
    alpha = process.schedule.alpha(t)[:, None]
    total = score.sum(-1)
    torch.testing.assert_close(total[z == vocab], (alpha / (1 - alpha)).expand_as(total)[z == vocab])
    probs = process.score_to_probs(score)
    expected = torch.where(masked, torch.softmax(logits, -1), 0.0)
    torch.testing.assert_close(probs, expected, rtol=1e-12, atol=1e-15)


def test_reverse_rates_and_rates_to_probs():
    """Reverse rates are lambda(t) p(v | z) at masked positions and 0 elsewhere (total exit rate
    lambda(t)); rates_to_probs inverts them at masked positions."""
    process = PROCESSES["linear"]
    vocab = 5
    logits, z, t = _random_problem(2, vocab)
    probs = torch.softmax(logits, -1)
    rates = process.reverse_rates(probs, z, t, vocab)
    masked = z == vocab
    torch.testing.assert_close(rates.sum(-1)[masked], process.hazard(t)[:, None].expand_as(z)[masked])
    assert bool((rates[~masked] == 0).all())
    back = process.rates_to_probs(rates)
    torch.testing.assert_close(back[masked], probs[masked], rtol=1e-12, atol=1e-15)
