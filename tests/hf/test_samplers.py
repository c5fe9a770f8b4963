"""Every registered masked-process sampler runs on a tiny BERT and a tiny LLaDA-style model through
``HFDenoiser`` with its default hyperparameters, and never produces the mask token or a
suppressed special token."""

from __future__ import annotations

import pytest
import torch

import unmask
from unmask.hf import HFDenoiser

from .models import bert, diffusion, word_tokenizer

L = 6


@pytest.fixture(scope="module")
def adapters():
    tokenizer = word_tokenizer()
    return {
        "bert": HFDenoiser(bert(tokenizer), tokenizer),
        "diffusion": HFDenoiser(diffusion(tokenizer), tokenizer),
    }


@pytest.mark.parametrize("model", ["bert", "diffusion"])
@pytest.mark.parametrize("name", unmask.samplers.names("masked"))
def test_every_masked_sampler_fills_every_position_with_a_clean_non_special_token(
    adapters, model, name
) -> None:
    adapter = adapters[model]
    steps = 4 if unmask.samplers.get(name, "masked").takes_steps else None
    out = unmask.sample(
        adapter, name, vocab_size=adapter.vocab_size, length=L, batch_size=2, steps=steps, generator=0
    )
    assert out.tokens.shape == (2, L)
    assert ((out.tokens >= 0) & (out.tokens < adapter.vocab_size)).all()
    model_ids = adapter.vocabulary.to_model(out.tokens)
    assert not (model_ids == adapter.tokenizer.mask_token_id).any()
    special = adapter.vocabulary.columns(adapter.tokenizer.all_special_ids)
    assert not torch.isin(out.tokens, torch.tensor(special)).any()
    assert out.nfe >= 1
