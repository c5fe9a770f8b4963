"""EB-Sampler (spec §2.5, §4.7): exact at ``gamma = 0``, fewer calls as ``gamma`` grows, and the
dependence bound ``KL(pi || law) <= gamma E[#calls]``."""

from __future__ import annotations

import math

import pytest
import torch

import unmask
from unmask.exact import kl, run_law, tv
from unmask.samplers.planned import EntropyBounded, TopK

from .planner_cases import chain

GAMMAS = (0.0, 0.1, 0.3, 0.6, 1.0, 2.0, 5.0)


class CountingEB(EntropyBounded):
    """The EB-Sampler recording one ``calls`` per row per step, so that the exact law runner
    reports the expected number of denoiser calls (its diagnostics are expectations)."""

    def step(self, ctx, z, t, s, index):
        ctx.record("calls", torch.ones(len(z), dtype=torch.float64, device=z.device))
        return super().step(ctx, z, t, s, index)


@pytest.mark.parametrize("proxy", ["entropy", "confidence", "margin"])
def test_gamma_zero_is_exact(proxy: str) -> None:
    """``gamma = 0`` reveals one uncertain token per call, each from its exact conditional: its
    exact law equals the chain's within 1e-12 (TV) whatever the proxy that orders positions."""
    target = chain()
    law = run_law(target, EntropyBounded(gamma=0.0, proxy=proxy)).law
    assert tv(law, target.probs()) < 1e-12


def test_top_one_is_exact() -> None:
    """Control for the tie and order machinery: top-k with k = 1 (any score) is exact too (TV <
    1e-12), while k = 2 is not (TV > 0.05)."""
    target = chain()
    for score in ("confidence", "margin", "entropy"):
        assert tv(run_law(target, TopK(k=1, score=score)).law, target.probs()) < 1e-12
    assert tv(run_law(target, TopK(k=2)).law, target.probs()) > 0.05


@pytest.mark.parametrize("seed", [0, 1])
def test_calls_fall_and_kl_stays_within_the_bound(seed: int) -> None:
    """On the chains with seeds 0 and 1 (V = 3, L = 5, concentration 0.3), over gamma in
    0, 0.1, 0.3, 0.6, 1, 2, 5: the exact expected number of calls never rises with gamma, is L = 5
    at gamma = 0 and 1 at gamma = 5 (everything at once); and KL(pi || law) <= gamma L at every
    gamma (spec §4.7: KL <= gamma E_ref[#steps], and a step reveals at least one of the L = 5
    tokens)."""
    target = unmask.targets.MarkovChain.random(vocab_size=3, length=5, concentration=0.3, seed=seed)
    calls, kls = [], []
    for gamma in GAMMAS:
        result = run_law(target, CountingEB(gamma=gamma))
        calls.append(result.diagnostics["calls"])
        kls.append(kl(target.probs(), result.law))
        assert kls[-1] <= gamma * 5 + 1e-12, f"gamma={gamma}: KL {kls[-1]:.4g} > {gamma * 5:.4g}"
    assert all(b <= a + 1e-12 for a, b in zip(calls[:-1], calls[1:], strict=True)), calls
    assert math.isclose(calls[0], 5.0) and math.isclose(calls[-1], 1.0), calls


def test_sampled_calls_match_the_exact_expectation() -> None:
    """On the chain with seed 1 at gamma = 0.3, where the number of calls is random (exact mean
    about 3.01), the mean of ``nfe_per_row`` over 20,000 rows is within 5 standard errors of the
    exact expected number of calls."""
    target = unmask.targets.MarkovChain.random(vocab_size=3, length=5, concentration=0.3, seed=1)
    expected = run_law(target, CountingEB(gamma=0.3)).diagnostics["calls"]
    result = unmask.sample(
        target.denoiser(), EntropyBounded(gamma=0.3), vocab_size=3, length=5, batch_size=20_000, generator=7
    )
    calls = result.nfe_per_row.to(torch.float64)
    se = float(calls.std()) / math.sqrt(len(calls))
    assert se > 0, "the number of calls should vary between rows here"
    assert abs(float(calls.mean()) - expected) <= 5 * se, (float(calls.mean()), expected, se)
