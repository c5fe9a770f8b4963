"""The shifted path (diffusion models initialised from autoregressive ones) on a tiny GPT-2: the
output at position i is the model's logits at i - 1, position 0 is neutral and must be prompt."""

from __future__ import annotations

import pytest
import torch

import unmask
from unmask.hf import HFDenoiser, loglikelihood

from .models import gpt2, word_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return word_tokenizer(bos=True)


@pytest.fixture(scope="module")
def model(tokenizer):
    return gpt2(tokenizer)


def test_position_i_reads_the_model_at_i_minus_1_and_position_0_is_uniform(model, tokenizer) -> None:
    adapter = HFDenoiser(model, tokenizer, kind="shifted", suppress_special=False)
    x = torch.tensor([[adapter.token_id("bos"), 7, adapter.mask_id, 9, adapter.mask_id]])
    with torch.no_grad():
        out = adapter(x, torch.ones(1, dtype=torch.float64))
        raw = model(input_ids=adapter.vocabulary.to_model(x)).logits
    assert out.shape == (1, 5, adapter.vocab_size)
    assert torch.equal(out[:, 1:], adapter.vocabulary.clean_logits(raw[:, :-1]))
    assert torch.equal(out[:, 0], torch.zeros(1, adapter.vocab_size))


def test_position_0_must_be_part_of_the_prompt(model, tokenizer) -> None:
    adapter = HFDenoiser(model, tokenizer, kind="shifted")
    prompt = torch.full((2, 5), adapter.mask_id)
    with pytest.raises(ValueError, match="shifted model .* no prediction for position 0"):
        adapter.check_prompt(None)
    with pytest.raises(ValueError, match="prompt row 0 leaves position 0 free"):
        adapter.check_prompt(prompt)
    prompt[:, 0] = adapter.token_id("bos")
    adapter.check_prompt(prompt)
    HFDenoiser(model, tokenizer, kind="shifted").replace(kind="diffusion").check_prompt(None)  # no rule


@pytest.mark.parametrize("name", ["first-hitting", "euler", "top-k"])
def test_samplers_fill_after_a_bos_prompt(model, tokenizer, name) -> None:
    adapter = HFDenoiser(model, tokenizer, kind="shifted")
    prompt = torch.full((2, 6), adapter.mask_id)
    prompt[:, 0] = adapter.token_id("bos")
    adapter.check_prompt(prompt)
    steps = 3 if unmask.samplers.get(name, "masked").takes_steps else None
    out = unmask.sample(adapter, name, vocab_size=adapter.vocab_size, prompt=prompt, steps=steps, generator=0)
    assert (out.tokens[:, 0] == adapter.token_id("bos")).all()
    special = adapter.vocabulary.columns(tokenizer.all_special_ids)
    assert not torch.isin(out.tokens[:, 1:], torch.tensor(special)).any()


def test_the_log_likelihood_of_a_shifted_model_needs_a_first_token(model, tokenizer) -> None:
    """With a BOS token every pair has position 0 in its context; without one, an empty context is
    refused. A causal model's exact conditional NELBO is finite and at most 0 in log-probability."""
    result = loglikelihood(
        model, tokenizer, [("", "the cat"), ("a dog", " ran")], kind="shifted", method="exact"
    )
    assert result.context_tokens.tolist() == [1, 3]
    assert torch.isfinite(result.logprob).all() and (result.logprob < 0).all()
    with pytest.raises(ValueError, match=r"pairs\[0\] has an empty context"):
        loglikelihood(model, tokenizer, [("", "the cat")], kind="shifted", add_bos=False)
