"""The uniform-process NELBO (spec §1.2): exact identities on a tiny target, the per-sequence bound
on the model's own NLL, and Monte Carlo against the enumerated value.

Ground truth by dense linear algebra on ``V^L = 27`` states: ``T_t[x, z] = prod_i K_t[x_i, z_i]``
is the Kronecker power of the one-token kernel.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from unmask import UniformProcess
from unmask.exact import output_law
from unmask.likelihood import nelbo
from unmask.schedules import ConstantRateSchedule
from unmask.targets import MarkovChain
from unmask.targets.base import flat_index

from .helpers import Z_LIMIT, all_sequences

V, L = 3, 3


@pytest.fixture(scope="module")
def problem():
    """A peaked random chain (V = 3, L = 3) under a constant rate 3 (prior mismatch 0.05 per token)
    run down to t_min = 0.05."""
    target = MarkovChain.random(V, L, concentration=0.5, seed=1)
    process = UniformProcess(ConstantRateSchedule(horizon=3.0), t_min=0.05)
    return target, process


def _kron(kernel: torch.Tensor) -> torch.Tensor:
    out = kernel
    for _ in range(L - 1):
        out = torch.kron(out, kernel)
    return out


def _factorisation_gap(joint: torch.Tensor) -> torch.Tensor:
    """E_z KL(p(w | z) || prod_i p(w_i | z)) for a joint law ``joint [z, w]`` over V^L x V^L."""
    p_z = joint.sum(1)
    conditional = (joint / p_z[:, None]).reshape(-1, *[V] * L)
    product = torch.ones_like(conditional)
    for i in range(L):
        others = tuple(1 + j for j in range(L) if j != i)
        product = product * conditional.sum(others, keepdim=True)
    terms = torch.where(conditional > 0, conditional * (conditional.log() - product.log()), 0.0)
    return (p_z * terms.reshape(len(p_z), -1).sum(-1)).sum()


def _prior_and_entropy(target, process):
    pi = target.probs().reshape(-1)
    p_1 = pi @ _kron(process.transition_matrix(1.0, V))
    entropy = -(pi * pi.log()).sum()
    return pi, entropy, (p_1 * (p_1 * V**L).log()).sum()


def _final_gap(pi, process):
    """E_{z ~ p_tmin} KL(pi(x | z) || prod_i pi(x_i | z))."""
    return _factorisation_gap((pi[:, None] * _kron(process.transition_matrix(process.t_min, V))).T)


def test_continuous_time_identity(problem):
    """With the exact denoiser, sum_x pi(x) NELBO(x) = H(pi) + KL(p_1 || U) + the final factorisation
    gap at t_min (the exact reverse rates make the path KL vanish) to 1e-9; so the average is
    >= H(pi), while single sequences may fall below -log pi(x)."""
    target, process = problem
    x = all_sequences(V, L)
    pi, entropy, prior = _prior_and_entropy(target, process)
    result = nelbo(target.uniform_denoiser(process), x, V, "exact", process=process)
    predicted = entropy + prior + _final_gap(pi, process)
    assert abs(float((pi * result.nll).sum() - predicted)) < 1e-9, (
        float((pi * result.nll).sum()),
        float(predicted),
    )
    assert bool((result.nll < -pi.log()).any())


def test_discrete_time_identity_and_model_bound(problem):
    """N Tweedie steps: sum_x pi NELBO_N = H(pi) + KL(p_1 || U) + sum_j E KL(p(z_s | z_t) || prod_i
    p(z_s^i | z_t)) + final gap (1e-10), which decreases towards the continuous value as N grows;
    per sequence NELBO_N(x) >= -log phat_N(x), the exact law of the uniform "tweedie" sampler from
    the uniform prior with a final denoise."""
    target, process = problem
    x = all_sequences(V, L)
    pi, entropy, prior = _prior_and_entropy(target, process)
    denoiser = target.uniform_denoiser(process)
    averages = []
    for steps in (2, 8):
        result = nelbo(denoiser, x, V, "exact", process=process, steps=steps)
        grid = torch.linspace(1.0, process.t_min, steps + 1, dtype=torch.float64)
        gaps = 0.0
        for t, s in zip(grid[:-1].tolist(), grid[1:].tolist(), strict=True):
            k_s, k_t = _kron(process.transition_matrix(s, V)), _kron(process.transition_matrix(t, V))
            abar = float(process.kernel_weight(t) / process.kernel_weight(s))
            k_ts = _kron(abar * torch.eye(V, dtype=torch.float64) + (1 - abar) / V)
            # joint of (z_t, z_s): sum_x pi(x) K_s[x, z_s] K_{t|s}[z_s, z_t]
            joint = ((pi @ k_s)[:, None] * k_ts).T  # [z_t, z_s]
            gaps = gaps + _factorisation_gap(joint)
            assert torch.allclose(joint.sum(1), pi @ k_t)
        predicted = entropy + prior + gaps + _final_gap(pi, process)
        average = (pi * result.nll).sum()
        assert abs(float(average - predicted)) < 1e-10, (steps, float(average), float(predicted))
        averages.append(float(average))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            law = output_law(target, "tweedie", steps, process=process, start="prior", final_denoise=True)
        assert bool((result.nll >= -law.reshape(-1)[flat_index(x, V)].log() - 1e-12).all()), steps
    continuous = float((pi * nelbo(denoiser, x, V, "exact", process=process).nll).sum())
    assert averages[0] > averages[1] > continuous


@pytest.mark.parametrize("method,steps", [("time-integral", None), ("discrete", 6)])
def test_monte_carlo_matches_the_enumerated_value(problem, method, steps):
    """Monte Carlo (3000 draws, 4 sequences) is within 3 of its own standard errors of the exact
    enumerated NELBO, continuous or N = 6 steps."""
    target, process = problem
    x = target.sample(4, generator=torch.Generator().manual_seed(0))
    denoiser = target.uniform_denoiser(process)
    exact = nelbo(denoiser, x, V, "exact", process=process, steps=steps)
    result = nelbo(denoiser, x, V, method, samples=3000, generator=1, process=process, steps=steps)
    z = (result.nll - exact.nll) / result.stderr
    assert bool((z.abs() <= Z_LIMIT).all()), z
    assert result.process == "uniform" and bool(
        (result.nfe_per_row == 3000 * (2 if steps is None else 1)).all()
    )


def test_wrong_uniform_denoiser_bound_is_above_the_entropy(problem):
    """A tempered uniform denoiser: the exact continuous NELBO averaged over pi is >= H(pi)."""
    target, process = problem
    exact = target.uniform_denoiser(process)

    def tempered(z, t):
        return exact(z, t).clamp(min=-1e9) * 0.6

    x = all_sequences(V, L)
    pi, entropy, _ = _prior_and_entropy(target, process)
    average = (pi * nelbo(tempered, x, V, "exact", process=process).nll).sum()
    assert float(average) > float(entropy) + 1e-3
