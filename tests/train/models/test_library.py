"""The denoisers are valid denoisers for the library: its samplers and likelihood estimators run
on them and accept every output (shape, dtype, no NaN, no position without a possible token)."""

from __future__ import annotations

import math

import pytest
import torch

import unmask

from .helpers import DENOISER_KINDS, L, V, tiny


@pytest.mark.parametrize("time_conditioning", [False, True])
@pytest.mark.parametrize("kind", DENOISER_KINDS)
def test_first_hitting_sampling_runs_and_gives_clean_tokens(kind, time_conditioning) -> None:
    """``unmask.sample(model, "first-hitting", ...)`` returns clean tokens ``[B, L]`` after at most
    L calls (one token per call), reproducibly for a fixed seed, with a finite path log-probability."""
    model = tiny(kind, noise=0.05, time_conditioning=time_conditioning)
    with torch.no_grad():
        run, again = (
            unmask.sample(model, "first-hitting", vocab_size=V, length=L, batch_size=5, generator=0)
            for _ in range(2)
        )
    assert run.tokens.shape == (5, L)
    assert ((run.tokens >= 0) & (run.tokens < V)).all()
    assert run.nfe <= L
    assert torch.isfinite(run.log_prob).all()
    assert torch.equal(run.tokens, again.tokens)


@pytest.mark.parametrize("kind", DENOISER_KINDS)
def test_sampling_with_padding_and_a_prompt_runs(kind) -> None:
    """A padded, prompted run passes ``attention_mask`` to the model; prompt tokens and padding
    stay as they are and every free real position ends clean."""
    model = tiny(kind, noise=0.05)
    prompt = torch.full((3, L), V)
    prompt[:, 0] = torch.tensor([0, 1, 2])
    mask = torch.arange(L) < torch.tensor([[8], [5], [2]])
    with torch.no_grad():
        run = unmask.sample(
            model, "euler", vocab_size=V, prompt=prompt, attention_mask=mask, steps=4, generator=1
        )
    assert torch.equal(run.tokens[:, 0], prompt[:, 0])
    assert ((run.tokens[mask] >= 0) & (run.tokens[mask] < V)).all()


@pytest.mark.parametrize("kind", DENOISER_KINDS)
def test_nelbo_is_finite_and_near_l_log_v_for_a_fresh_model(kind) -> None:
    """``unmask.likelihood.nelbo`` runs under ``torch.no_grad()`` and gives finite bounds; a freshly
    initialised model is close to uniform, so each is within 20% of ``L log V``."""
    model = tiny(kind)
    x = torch.randint(0, V, (3, L), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        record = unmask.likelihood.nelbo(model, x, vocab_size=V, samples=16, generator=0)
    assert record.nll.shape == (3,)
    assert torch.isfinite(record.nll).all() and torch.isfinite(record.stderr).all()
    assert ((record.nll - L * math.log(V)).abs() < 0.2 * L * math.log(V)).all()
