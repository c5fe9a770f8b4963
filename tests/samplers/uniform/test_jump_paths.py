"""The two ways a uniform-process jump is drawn give the same draws: in two stages when the law
leaves its value with a probability in closed form (the leave decision first, then values only
where positions leave), in one pass over each position's whole law otherwise."""

from __future__ import annotations

import pytest
import torch

import unmask
from problems import uniform_mild_chain
from unmask import UniformProcess


def _without_closed_form(method):
    def law(self, *args):
        made = method(self, *args)
        made.leave = None
        return made

    return law


@pytest.mark.parametrize("name", ["euler", "tweedie"])
def test_one_pass_jumps_draw_what_two_stage_jumps_draw(name: str, monkeypatch) -> None:
    """Sampling with the closed-form leave probabilities removed (one pass per position) draws
    exactly the same tokens, with the same path log-probabilities and clipped mass."""
    target, process = uniform_mild_chain()
    options = {"vocab_size": target.vocab_size, "length": target.length, "batch_size": 300,
               "steps": 4, "process": process, "generator": 12}  # fmt: skip
    two_stages = unmask.sample(target.uniform_denoiser(process), name, **options)
    method = f"{name}_jump"
    monkeypatch.setattr(UniformProcess, method, _without_closed_form(getattr(UniformProcess, method)))
    monkeypatch.setattr(UniformProcess, "posterior_jump", _without_closed_form(UniformProcess.posterior_jump))
    one_pass = unmask.sample(target.uniform_denoiser(process), name, **options)
    assert torch.equal(one_pass.tokens, two_stages.tokens)
    assert torch.allclose(one_pass.log_prob, two_stages.log_prob, rtol=0, atol=1e-12)
    assert one_pass.diagnostics.keys() == two_stages.diagnostics.keys()
    for key in one_pass.diagnostics:
        assert abs(one_pass.diagnostics[key] - two_stages.diagnostics[key]) < 1e-12


def test_one_pass_jump_log_prob_passes_a_gradient_check() -> None:
    """Uniform tau-leaping (drawn in one pass): the gradient of ``log_prob`` in the model's logits
    matches finite differences in float64."""
    process = UniformProcess()
    g = torch.Generator().manual_seed(0)
    theta0 = torch.randn(3, 3, generator=g, dtype=torch.float64)

    def log_prob(theta):
        def denoiser(x_t, t):
            return theta + 0.1 * torch.nn.functional.one_hot(x_t, 3).to(torch.float64)

        return unmask.sample(
            denoiser, "tau-leaping", vocab_size=3, length=3, batch_size=5, steps=3, process=process,
            generator=2, differentiable=True,
        ).log_prob  # fmt: skip

    assert torch.autograd.gradcheck(log_prob, (theta0.requires_grad_(),), eps=1e-6, atol=1e-6, rtol=1e-5)
