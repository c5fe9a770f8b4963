"""Path log-probabilities (``SampleResult.log_prob``): the log-probability of the drawn path under
the sampler's kernel, checked against the path probability computed independently from the
trajectory, with gradients to the model's outputs and to the time grid."""

from __future__ import annotations

import math

import pytest
import torch

import unmask
from problems import masked_strong_chain
from unmask.samplers import get

V = 3


def _euler_path_log_prob(target, trajectory: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``sum_j log P(z_{j+1} | z_j)`` ``[B]`` for masked Euler: each masked position of ``z_j``
    stays masked with probability ``1 - p_j`` or is revealed to ``v`` with ``p_j q(v | z_j)``,
    ``p_j = min(1, (t_j - t_{j+1}) / t_j)`` (linear schedule), 1 on the last step."""
    total = torch.zeros(trajectory.shape[1], dtype=torch.float64)
    for j in range(trajectory.shape[0] - 1):
        now, after = trajectory[j], trajectory[j + 1]
        t, s = float(grid[j]), float(grid[j + 1])
        p = 1.0 if s == 0 else min(1.0, (t - s) / t)
        q = target.conditionals(now)
        masked = now == V
        revealed = masked & (after != V)
        chosen = q.gather(-1, after.clamp(max=V - 1).unsqueeze(-1)).squeeze(-1)
        terms = torch.where(revealed, math.log(p) + chosen.log(), 0.0)
        if p < 1:
            stayed = torch.full(now.shape, math.log1p(-p), dtype=torch.float64)
            terms = terms + torch.where(masked & ~revealed, stayed, 0.0)
        total += terms.sum(-1)
    return total


def _k_random_path_log_prob(target, trajectory: torch.Tensor) -> torch.Tensor:
    """``sum_j [-log C(m_j, k_j) + sum_{i revealed} log q(x_i | z_j)]`` ``[B]``: a uniform subset of
    the ``m_j`` masked positions of size ``k_j`` (read off the trajectory), values from ``q``."""
    total = torch.zeros(trajectory.shape[1], dtype=torch.float64)
    for j in range(trajectory.shape[0] - 1):
        now, after = trajectory[j], trajectory[j + 1]
        q = target.conditionals(now)
        revealed = (now == V) & (after != V)
        m, k = (now == V).sum(-1), revealed.sum(-1)
        subset = torch.tensor(
            [math.log(math.comb(int(a), int(b))) for a, b in zip(m, k, strict=True)], dtype=torch.float64
        )
        chosen = q.gather(-1, after.clamp(max=V - 1).unsqueeze(-1)).squeeze(-1)
        total += torch.where(revealed, chosen.log(), 0.0).sum(-1) - subset
    return total


@pytest.mark.parametrize("steps", [3, 7])
def test_euler_log_prob_is_the_probability_of_the_drawn_path(steps: int) -> None:
    """Masked Euler on an exact target: ``log_prob`` equals the path log-probability computed from
    the trajectory and the target's conditionals, to 1e-10, for every row."""
    target = masked_strong_chain()
    result = unmask.sample(
        target.denoiser(), "euler", vocab_size=V, length=target.length, batch_size=400, steps=steps,
        generator=4, return_trajectory=True,
    )  # fmt: skip
    expected = _euler_path_log_prob(target, result.trajectory, result.grid)
    assert torch.allclose(result.log_prob, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "sampler", [get("k-random", k=2), get("k-random", sizes=(1, 2, 1)), get("first-hitting")]
)
def test_k_random_log_prob_is_the_probability_of_the_drawn_path(sampler) -> None:
    """k-random and first-hitting: ``log_prob`` equals ``sum_j [-log C(m_j, k_j) + log q]`` read off
    the trajectory (a uniform subset of the masked positions, values from the conditionals), to
    1e-10, for every row."""
    target = masked_strong_chain()
    result = unmask.sample(
        target.denoiser(), sampler, vocab_size=V, length=target.length, batch_size=400, generator=5,
        return_trajectory=True,
    )  # fmt: skip
    expected = _k_random_path_log_prob(target, result.trajectory)
    assert torch.allclose(result.log_prob, expected, rtol=0, atol=1e-10)


class Parametric(torch.nn.Module):
    """``logits[b, i, v] = theta[i, v] + phi[v] * (clean tokens equal to v in row b)``, float64."""

    def __init__(self, length: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.theta = torch.nn.Parameter(torch.randn(length, V, generator=g, dtype=torch.float64))
        self.phi = torch.nn.Parameter(torch.randn(V, generator=g, dtype=torch.float64) * 0.3)
        self.graph_seen: list[bool] = []

    def forward(self, x_t, t):
        self.graph_seen.append(torch.is_grad_enabled())
        counts = torch.nn.functional.one_hot(x_t.clamp(max=V - 1), V) * (x_t < V).unsqueeze(-1)
        return self.theta + self.phi * counts.sum(1, keepdim=True).to(torch.float64)


@pytest.mark.parametrize("name", ["euler", "tweedie", "trapezoidal", "k-random"])
def test_log_prob_gradients_pass_a_float64_gradient_check(name: str) -> None:
    """With ``differentiable=True`` the gradient of ``log_prob`` (of the path drawn with a fixed
    seed) in the model's parameters and in the interior grid times matches finite differences
    (``torch.autograd.gradcheck`` in float64)."""
    length = 4
    model = Parametric(length)
    grid_sampler = get(name).uses_grid

    def log_prob(theta, phi, interior):
        def denoiser(x_t, t):
            counts = torch.nn.functional.one_hot(x_t.clamp(max=V - 1), V) * (x_t < V).unsqueeze(-1)
            return theta + phi * counts.sum(1, keepdim=True).to(torch.float64)

        options = {"steps": 3} if name == "k-random" else {}
        if grid_sampler:
            one, zero = torch.ones(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
            options = {"grid": torch.cat([one, interior, zero])}
        result = unmask.sample(
            denoiser, name, vocab_size=V, length=length, batch_size=6, generator=3, differentiable=True,
            **options,
        )  # fmt: skip
        return result.log_prob

    theta = model.theta.detach().clone().requires_grad_()
    phi = model.phi.detach().clone().requires_grad_()
    interior = torch.tensor([0.7, 0.4], dtype=torch.float64, requires_grad=grid_sampler)
    assert torch.autograd.gradcheck(log_prob, (theta, phi, interior), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_without_differentiable_no_graph_is_built() -> None:
    """By default sampling runs without autograd: the model sees grad mode off and ``log_prob``
    carries no graph, even though the model's parameters require gradients."""
    model = Parametric(4)
    result = unmask.sample(model, "euler", vocab_size=V, length=4, batch_size=5, steps=3, generator=1)
    assert model.graph_seen and not any(model.graph_seen)
    assert not result.log_prob.requires_grad
    differentiable = unmask.sample(
        model, "euler", vocab_size=V, length=4, batch_size=5, steps=3, generator=1, differentiable=True
    )
    assert differentiable.log_prob.requires_grad
    assert torch.allclose(differentiable.log_prob.detach(), result.log_prob, rtol=0, atol=1e-12)
    assert torch.equal(differentiable.tokens, result.tokens)


def test_record_keeps_every_call() -> None:
    """``record=True`` keeps one entry per denoiser call, with the rows it evaluated and their
    logits; the entries' rows add up to ``nfe_per_row``."""
    target = masked_strong_chain()
    result = unmask.sample(
        target.denoiser(), "first-hitting", vocab_size=V, length=target.length, batch_size=7, generator=2,
        record=True,
    )  # fmt: skip
    assert len(result.records) == result.nfe
    counts = torch.zeros(7, dtype=torch.long)
    for entry in result.records:
        assert entry.logits.shape == (len(entry.rows), target.length, V)
        counts.index_add_(0, entry.rows, torch.ones_like(entry.rows))
    assert torch.equal(counts, result.nfe_per_row)
    assert (
        unmask.sample(target.denoiser(), "first-hitting", vocab_size=V, length=4, batch_size=2).records
        is None
    )
