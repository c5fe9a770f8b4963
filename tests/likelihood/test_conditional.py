"""Conditional likelihood -log p(response | prompt): the prompt is never masked and scores nothing."""

from __future__ import annotations

import torch

from problems import likelihood_targets
from unmask.likelihood import conditional_nelbo, draw_moments, nelbo

from .helpers import Z_LIMIT


def _conditional_nll(target, x: torch.Tensor, response: torch.Tensor) -> torch.Tensor:
    """-log pi(x_R | x_P) per row by summing the dense table over the response positions."""
    table = target.probs()
    out = []
    for row, mask in zip(x, response, strict=True):
        prompt = (~mask).nonzero().squeeze(-1).tolist()
        marginal = (
            table.sum(dim=tuple(i for i in range(target.length) if i not in prompt))
            if prompt
            else table.sum()
        )
        out.append(-target.log_prob(row[None])[0] + marginal[tuple(row[prompt].tolist())].log())
    return torch.stack(out)


def _responses(length: int) -> torch.Tensor:
    """Four rows with different prompts: none, the first 1 and 2 positions, and an infilling gap."""
    rows = [[True] * length, [False] + [True] * (length - 1), [False, False] + [True] * (length - 2)]
    rows.append([False] + [True] * (length - 2) + [False])
    return torch.tensor(rows)


def test_exact_conditional_nelbo_is_the_conditional_nll():
    """method="exact" with a per-row response mask equals -log pi(response | prompt) to 1e-10."""
    for target in likelihood_targets()[:2]:
        x = target.sample(4, generator=torch.Generator().manual_seed(0))
        response = _responses(target.length)
        result = nelbo(target.denoiser(), x, target.vocab_size, "exact", response=response)
        torch.testing.assert_close(result.nll, _conditional_nll(target, x, response), rtol=0, atol=1e-10)
        assert result.tokens.tolist() == response.sum(-1).tolist()


def test_monte_carlo_conditional_estimators_are_unbiased():
    """Every Monte-Carlo method with per-row response lengths (5, 4, 3, 3 positions) averages to
    -log pi(response | prompt) within 3 exact standard errors (2000 draws); time-free and
    uniform-count means are exact to 1e-12 (chain rule over the response)."""
    target = likelihood_targets()[0]
    x = target.sample(4, generator=torch.Generator().manual_seed(1))
    response = _responses(target.length)
    truth = _conditional_nll(target, x, response)
    for seed, (method, options) in enumerate(
        [("time-free", {}), ("uniform-count", {}), ("time-integral", {"eps": 1e-2})]
    ):
        exact = draw_moments(target.denoiser(), x, 3, method, response=response, **options)
        if method != "time-integral":
            torch.testing.assert_close(exact.mean, truth, rtol=0, atol=1e-12)
        result = nelbo(
            target.denoiser(), x, 3, method, samples=2000, generator=seed, response=response, **options
        )
        z = (result.nll - exact.mean) / (exact.variance / 2000).sqrt()
        assert bool((z.abs() <= Z_LIMIT).all()), (method, z)


def test_prompt_is_never_masked():
    """No denoiser call ever sees a mask id at a prompt position, for any method."""
    target = likelihood_targets()[0]
    exact = target.denoiser()
    prompt_length = 2

    def spy(z, t):
        assert not bool((z[:, :prompt_length] == target.vocab_size).any()), "a prompt position was masked"
        return exact(z, t)

    x = target.sample(3, generator=torch.Generator().manual_seed(2))
    response = torch.arange(target.length) >= prompt_length
    for method, options in [
        ("time-free", {}),
        ("uniform-count", {}),
        ("time-integral", {}),
        ("discrete", {"steps": 4}),
    ]:
        nelbo(spy, x, 3, method, samples=64, generator=0, response=response, **options)


def test_conditional_nelbo_takes_prompt_and_response_tensors():
    """conditional_nelbo(prompt, response) is nelbo on the concatenation with a response mask: same
    numbers for the same seed, bits per token over response tokens only."""
    target = likelihood_targets()[0]
    x = target.sample(3, generator=torch.Generator().manual_seed(3))
    split = conditional_nelbo(
        target.denoiser(), x[:, :2], x[:, 2:], 3, method="uniform-count", samples=50, generator=9
    )
    joined = nelbo(
        target.denoiser(), x, 3, "uniform-count", samples=50, generator=9, response=torch.arange(5) >= 2
    )
    torch.testing.assert_close(split.nll, joined.nll, rtol=0, atol=0)
    torch.testing.assert_close(
        split.bits_per_token, split.nll / (3 * torch.log(torch.tensor(2.0, dtype=torch.float64)))
    )
