"""The id map between a model's vocabulary and unmask's (clean ids 0..V-1, mask id V)."""

from __future__ import annotations

import pytest
import torch

from unmask.hf import HFDenoiser, HFVocabulary

from .models import bert, diffusion, word_tokenizer


@pytest.mark.parametrize("mask", [0, 3, 9])
def test_the_maps_are_inverse_bijections_and_send_the_mask_token_to_v(mask: int) -> None:
    """Model id m <-> unmask id V; ids below m keep their number, ids above it move down by one."""
    vocabulary = HFVocabulary(tokenizer_size=10, model_size=16, mask_token_id=mask)
    v = vocabulary.vocab_size
    assert v == 9 and vocabulary.mask_id == 9
    unmask_ids = torch.arange(v + 1)
    model_ids = torch.arange(10)
    assert torch.equal(vocabulary.to_unmask(vocabulary.to_model(unmask_ids)), unmask_ids)
    assert torch.equal(vocabulary.to_model(vocabulary.to_unmask(model_ids)), model_ids)
    assert int(vocabulary.to_model(torch.tensor(v))) == mask
    expected = [j if j < mask else j - 1 for j in range(10) if j != mask]
    assert vocabulary.to_unmask(torch.tensor([j for j in range(10) if j != mask])).tolist() == expected
    assert [vocabulary.unmask_id(j) for j in range(10)] == vocabulary.to_unmask(model_ids).tolist()
    assert [vocabulary.model_id(u) for u in range(v + 1)] == vocabulary.to_model(unmask_ids).tolist()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_clean_logits_drop_the_mask_column_and_the_padding_columns(dtype: torch.dtype) -> None:
    """Column u of the clean logits is the model's column to_model[u]; the mask column and the
    columns past len(tokenizer) never appear; the dtype is kept."""
    vocabulary = HFVocabulary(tokenizer_size=10, model_size=16, mask_token_id=4)
    logits = torch.randn(2, 3, 16).to(dtype)
    logits[..., 4] = 1000.0
    logits[..., 10:] = 2000.0
    clean = vocabulary.clean_logits(logits)
    assert clean.shape == (2, 3, 9) and clean.dtype == dtype
    assert torch.equal(clean, logits[..., vocabulary.to_model(torch.arange(9))])
    assert float(clean.max()) < 1000.0


def test_a_padded_output_layer_gives_v_from_the_tokenizer() -> None:
    """A model with more output columns than tokenizer ids (padded embeddings): V = len(tokenizer) - 1."""
    tokenizer = word_tokenizer()
    model = diffusion(tokenizer)
    assert model.config.vocab_size > len(tokenizer)
    adapter = HFDenoiser(model, tokenizer)
    x = torch.full((1, 5), adapter.mask_id)
    assert adapter.vocab_size == len(tokenizer) - 1
    assert adapter(x, torch.ones(1)).shape == (1, 5, len(tokenizer) - 1)


def test_a_model_with_fewer_columns_than_the_tokenizer_is_refused_naming_both_sizes() -> None:
    tokenizer = word_tokenizer()
    model = bert(tokenizer, vocab_size=len(tokenizer) - 2)
    with pytest.raises(ValueError, match=rf"{len(tokenizer) - 2} columns.*{len(tokenizer)} tokens") as error:
        HFDenoiser(model, tokenizer)
    assert "resize_token_embeddings" in str(error.value)


def test_a_tokenizer_without_a_mask_token_is_refused_unless_the_id_is_given() -> None:
    tokenizer = word_tokenizer(mask=False)
    model = bert(tokenizer)
    with pytest.raises(ValueError, match="trained with a mask token") as error:
        HFDenoiser(model, tokenizer)
    assert "mask_token_id=" in str(error.value) and "kind='shifted'" in str(error.value)
    adapter = HFDenoiser(model, tokenizer, mask_token_id=4)
    assert adapter.vocabulary.mask_token_id == 4 and adapter.vocab_size == len(tokenizer) - 1


def test_a_mask_id_outside_the_tokenizer_is_refused() -> None:
    with pytest.raises(ValueError, match="mask_token_id=12 is not a token"):
        HFVocabulary(tokenizer_size=10, model_size=16, mask_token_id=12)


def test_the_model_output_must_match_its_config() -> None:
    vocabulary = HFVocabulary(tokenizer_size=10, model_size=16, mask_token_id=4)
    with pytest.raises(ValueError, match="15 columns.*vocab_size=16"):
        vocabulary.clean_logits(torch.zeros(1, 2, 15))


def test_the_config_names_the_mask_token_when_the_tokenizer_does_not() -> None:
    """LLaDA and Dream keep mask_token_id in their config; a disagreement with the tokenizer is refused."""
    model = diffusion(word_tokenizer())
    model.config.mask_token_id = 4
    assert HFDenoiser(model, word_tokenizer(mask=False)).vocabulary.mask_token_id == 4
    model.config.mask_token_id = 5
    with pytest.raises(ValueError, match="mask token has id 4 but the model config says mask_token_id=5"):
        HFDenoiser(model, word_tokenizer())
    assert HFDenoiser(model, word_tokenizer(), mask_token_id=4).vocabulary.mask_token_id == 4
