"""``draw_rows``: a row's tokens depend only on the seed and its global id."""

from __future__ import annotations

import itertools

import pytest
import torch

from stats import CHI_SQUARE_LEVEL, chi_square_pvalue
from unmask.train.evaluation.sampling import draw_rows


@pytest.mark.parametrize("run", ["denoiser_run", "autoregressive_run"])
def test_rows_do_not_depend_on_batches_or_shards(run, request):
    """Rows 0..9 drawn at once, in batches of 3, or as the shards [0, 4) and [4, 10) of two
    processes are the same rows; another seed gives other rows."""
    trained = request.getfixturevalue(run)
    options = {"sampler": "euler", "steps": 4} if not trained.scores_exactly else {}
    whole = draw_rows(trained, torch.arange(10), seed=5, **options)
    batched = draw_rows(trained, torch.arange(10), seed=5, batch_size=3, **options)
    shards = [draw_rows(trained, torch.arange(a, b), seed=5, **options) for a, b in ((0, 4), (4, 10))]
    assert whole.tokens.shape == (10, trained.length)
    assert torch.equal(whole.tokens, batched.tokens)
    assert torch.equal(whole.tokens, torch.cat([shard.tokens for shard in shards]))
    assert torch.equal(whole.nfe_per_row, torch.cat([shard.nfe_per_row for shard in shards]))
    assert not torch.equal(whole.tokens, draw_rows(trained, torch.arange(10), seed=6, **options).tokens)
    assert whole.tokens.min() >= 0 and whole.tokens.max() < trained.vocab_size
    nothing = draw_rows(trained, torch.arange(0), seed=5, **options)  # a process without rows
    assert nothing.tokens.shape == (0, trained.length) and nothing.nfe == 0


def test_autoregressive_rows_follow_the_models_law(autoregressive_run):
    """Ancestral draws with per-row streams follow exp(log_prob) of the model: Pearson's chi-square
    over all V^L = 64 sequences at level 1e-3, on 6000 rows."""
    trained = autoregressive_run
    every = torch.tensor(list(itertools.product(range(4), repeat=3)))
    with torch.no_grad():
        law = trained.model.log_prob(every).exp().reshape(4, 4, 4)
    assert abs(float(law.sum()) - 1) < 1e-5
    drawn = draw_rows(trained, torch.arange(6000), seed=0, batch_size=2000)
    assert chi_square_pvalue(drawn.tokens, law / law.sum()) > CHI_SQUARE_LEVEL
    assert drawn.nfe == 3 * 3 and bool((drawn.nfe_per_row == 3).all())


def test_autoregressive_model_takes_no_sampler(autoregressive_run):
    """A sampler or steps for an autoregressive model is a ValueError saying it samples itself."""
    with pytest.raises(ValueError, match="samples token by token"):
        draw_rows(autoregressive_run, torch.arange(2), seed=0, sampler="euler", steps=4)
