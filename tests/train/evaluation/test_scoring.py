"""``score_rows``: a sequence's estimate depends only on the seed, its id and its tokens."""

from __future__ import annotations

import pytest
import torch

from unmask.train.evaluation.scoring import EXACT_AUTOREGRESSIVE, score_rows


def sequences(length: int, count: int) -> torch.Tensor:
    return torch.randint(0, 4, (count, length), generator=torch.Generator().manual_seed(3))


def test_scores_do_not_depend_on_the_other_rows(denoiser_run):
    """Six sequences scored at once equal the two shards [0, 3) and [3, 6) scored apart with their
    global ids; the same sequence under another row id gets other draws."""
    x = sequences(8, 6)
    whole = score_rows(denoiser_run, x, torch.arange(6), seed=1, samples=16)
    parts = [
        score_rows(denoiser_run, x[a:b], torch.arange(a, b), seed=1, samples=16) for a, b in ((0, 3), (3, 6))
    ]
    assert torch.equal(whole.nll, torch.cat([part.nll for part in parts]))
    assert torch.equal(whole.stderr, torch.cat([part.stderr for part in parts]))
    moved = score_rows(denoiser_run, x[:1], torch.tensor([7]), seed=1, samples=16)
    assert not torch.equal(moved.nll, whole.nll[:1])
    assert (
        whole.method == "time-free" and bool((whole.samples == 16).all()) and bool((whole.stderr > 0).all())
    )


def test_monte_carlo_estimate_agrees_with_the_exact_nelbo(denoiser_run):
    """The time-free estimate lies within 4 standard errors of the model's exact NELBO
    (enumeration of the mask sets, standard error 0): options reach the estimator."""
    x = sequences(8, 3)
    exact = score_rows(denoiser_run, x, torch.arange(3), seed=0, method="exact")
    estimate = score_rows(denoiser_run, x, torch.arange(3), seed=0, samples=512)
    assert bool((exact.stderr == 0).all())
    assert bool(((estimate.nll - exact.nll).abs() <= 4 * estimate.stderr).all()), (estimate.nll, exact.nll)
    assert torch.allclose(estimate.bits_per_token, estimate.nll / (8 * torch.log(torch.tensor(2.0))).double())


def test_autoregressive_scores_are_its_exact_log_likelihood(autoregressive_run):
    """An autoregressive model is scored by -log_prob, with standard error 0 and a point interval.

    Scored in batches of 2 (the last of one row) against one batch of 5: equal up to the float32
    network's rounding, since CPU kernels may take another path for a one-row batch."""
    x = sequences(3, 5)
    scored = score_rows(autoregressive_run, x, torch.arange(5), seed=0, batch_size=2)
    with torch.no_grad():
        expected = -autoregressive_run.model.log_prob(x).double()
    assert torch.allclose(scored.nll, expected, rtol=1e-6, atol=1e-5), (scored.nll, expected)
    assert scored.method == EXACT_AUTOREGRESSIVE
    assert bool((scored.stderr == 0).all()) and torch.equal(scored.low, scored.high)
    assert scored.nfe == 3


def test_bad_sequences_are_refused(denoiser_run):
    """The mask id, a wrong length or a row-id count that does not match are ValueErrors."""
    with pytest.raises(ValueError, match="ids must lie in 0..3"):
        score_rows(denoiser_run, torch.full((1, 8), 4), torch.arange(1), seed=0)
    with pytest.raises(ValueError, match=r"shape \[N, 8\]"):
        score_rows(denoiser_run, sequences(5, 2), torch.arange(2), seed=0)
    with pytest.raises(ValueError, match="one row per row id"):
        score_rows(denoiser_run, sequences(8, 2), torch.arange(3), seed=0)


@pytest.mark.parametrize("run", ["denoiser_run", "autoregressive_run"])
def test_a_process_without_rows_scores_nothing(run, request):
    """A process of a job with fewer rows than processes gets no row, and returns empty scores."""
    trained = request.getfixturevalue(run)
    scored = score_rows(trained, torch.zeros(0, trained.length, dtype=torch.long), torch.arange(0), seed=0)
    assert scored.nll.shape == (0,) and scored.nfe == 0
