"""First-hitting draws from the target (spec §2.2, T1): sampled frequencies against ``target.probs()``
and, with a prompt, against the target's conditional law of the free positions."""

from __future__ import annotations

import math

import pytest
import torch

import unmask
from problems import masked_law_targets, random_table

from .helpers import CHI_SQUARE_LEVEL, chi_square_pvalue, processes

BATCH = 20_000


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("name", sorted(masked_law_targets()))
def test_first_hitting_samples_follow_the_target(name: str, schedule: str) -> None:
    """20,000 first-hitting draws from the exact denoiser pass Pearson's chi-square test against
    ``target.probs()`` at significance 1e-3 (cells with expected count < 5 pooled), never fall
    outside the support, and hold no mask id."""
    target = masked_law_targets()[name]
    result = unmask.sample(
        target.denoiser(),
        "first-hitting",
        vocab_size=target.vocab_size,
        length=target.length,
        batch_size=BATCH,
        process=processes()[schedule],
        generator=torch.Generator().manual_seed(11),
    )
    assert bool((result.tokens < target.vocab_size).all())
    p = chi_square_pvalue(result.tokens, target.probs())
    assert p > CHI_SQUARE_LEVEL, f"{name}/{schedule}: chi-square p = {p:.2e}"


def _conditional_law(table: torch.Tensor, fixed: dict[int, int]) -> torch.Tensor:
    """``pi(x_free | x_fixed)`` as a table over the free positions (in position order)."""
    index = tuple(fixed.get(i, slice(None)) for i in range(table.dim()))
    law = table[index]
    return law / law.sum()


def test_infilling_follows_the_target_conditionals() -> None:
    """With a prompt, first-hitting draws the free positions from the target's conditional law
    given the fixed ones. Two patterns share one batch (rows alternate): ``[1, _, 0, _]`` and
    ``[_, _, _, 2]`` on a random table (V=3, L=4). In each half the free positions pass a
    chi-square test (significance 1e-3) against ``pi(x_free | x_fixed)``, and the fixed positions
    are returned unchanged."""
    target = random_table(3, 4, seed=5, concentration=0.7)
    V, M = target.vocab_size, target.vocab_size
    patterns = [({0: 1, 2: 0}, [1, 3]), ({3: 2}, [0, 1, 2])]
    prompt = torch.full((2 * 10_000, 4), M)
    for row, (fixed, _) in enumerate(patterns):
        for i, v in fixed.items():
            prompt[row::2, i] = v
    result = unmask.sample(
        target.denoiser(),
        "first-hitting",
        vocab_size=V,
        prompt=prompt,
        generator=torch.Generator().manual_seed(12),
    )
    given = prompt != M
    assert torch.equal(result.tokens[given], prompt[given])
    for row, (fixed, free) in enumerate(patterns):
        law = _conditional_law(target.probs(), fixed)
        p = chi_square_pvalue(result.tokens[row::2][:, free], law)
        assert p > CHI_SQUARE_LEVEL, f"pattern {fixed}: chi-square p = {p:.2e}"


class TimeRecorder:
    """The exact denoiser, declared time-conditioned, recording the times it is called at."""

    def __init__(self, denoiser) -> None:
        self.denoiser = denoiser
        self.times: list[torch.Tensor] = []

    def __call__(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.times.append(t.clone())
        return self.denoiser(z, t)


def _kolmogorov_pvalue(u: torch.Tensor) -> float:
    """Asymptotic p-value of the one-sample Kolmogorov-Smirnov test of ``u`` against U(0, 1)."""
    n = u.numel()
    u = u.sort().values
    ranks = torch.arange(1, n + 1, dtype=torch.float64)
    d = float(torch.maximum(ranks / n - u, u - (ranks - 1) / n).max())
    x = d * math.sqrt(n)
    return min(1.0, max(0.0, 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * x * x) for k in range(1, 101))))


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_first_hitting_passes_the_exact_hitting_times(schedule: str) -> None:
    """A time-conditioned denoiser is called at the exact first-hitting times (spec §2.2, §9.8):
    with ``n`` tokens masked at ``tau_{j-1}``, the masked fraction ``m = 1 - alpha`` at the next
    call satisfies ``m(tau_j) = m(tau_{j-1}) U^(1/n)``, so ``(m(tau_j) / m(tau_{j-1}))^n`` are
    i.i.d. U(0, 1) (``m(tau_0) = 1``). Over 5,000 rows x L = 4 calls they pass a
    Kolmogorov-Smirnov test at significance 1e-3, and the times decrease strictly."""
    target = random_table(3, 4, seed=6, concentration=0.7)
    process = processes()[schedule]
    recorder = TimeRecorder(target.denoiser())
    unmask.sample(
        recorder,
        "first-hitting",
        vocab_size=3,
        length=4,
        batch_size=5_000,
        process=process,
        generator=torch.Generator().manual_seed(13),
    )
    assert len(recorder.times) == 4
    times = torch.stack(recorder.times)  # [L, B]
    assert bool((times[1:] < times[:-1]).all())
    masked = process.schedule.masked_fraction(times)
    previous = torch.cat([torch.ones(1, masked.shape[1], dtype=torch.float64), masked[:-1]])
    remaining = torch.arange(4, 0, -1, dtype=torch.float64)[:, None]
    u = (masked / previous) ** remaining
    p = _kolmogorov_pvalue(u.reshape(-1))
    assert p > CHI_SQUARE_LEVEL, f"{schedule}: KS p = {p:.2e}"
