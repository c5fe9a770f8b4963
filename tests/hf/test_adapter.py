"""``HFDenoiser`` on a tiny BERT masked LM and a tiny LLaDA-style diffusion LM: kinds, attention
masks and padding, special tokens, conditioning, dtype, and the errors for bad input."""

from __future__ import annotations

import types

import pytest
import torch

import unmask
from unmask.hf import KINDS, HFDenoiser, resolve_kind

from .models import bert, diffusion, gpt2, word_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return word_tokenizer()


@pytest.fixture(scope="module", params=["bert", "diffusion"])
def adapter(request, tokenizer):
    build = {"bert": bert, "diffusion": diffusion}[request.param]
    return HFDenoiser(build(tokenizer), tokenizer)


def _t(batch: int) -> torch.Tensor:
    return torch.ones(batch, dtype=torch.float64)


def test_auto_reads_masked_lms_and_diffusion_models_and_refuses_causal_lms(tokenizer) -> None:
    assert HFDenoiser(bert(tokenizer), tokenizer).kind.name == "masked-lm"
    assert HFDenoiser(diffusion(tokenizer), tokenizer).kind.name == "diffusion"
    with pytest.raises(ValueError, match="GPT2LMHeadModel.*kind='shifted'.*kind='diffusion'"):
        HFDenoiser(gpt2(tokenizer), tokenizer)
    dream = types.SimpleNamespace(model_type="Dream", is_decoder=False)
    assert resolve_kind("auto", ["DreamModel"], dream) is KINDS["shifted"]
    decoder = types.SimpleNamespace(model_type="bert", is_decoder=True)
    with pytest.raises(ValueError, match="is_decoder=True"):
        resolve_kind("auto", ["BertModel"], decoder)


def test_a_bad_kind_is_refused(tokenizer) -> None:
    with pytest.raises(ValueError, match="kind must be one of 'auto', 'diffusion', 'masked-lm', 'shifted'"):
        HFDenoiser(bert(tokenizer), tokenizer, kind="causal")
    with pytest.raises(TypeError, match="kind must be a string"):
        HFDenoiser(bert(tokenizer), tokenizer, kind=None)


def test_the_output_is_logits_over_v_clean_tokens_in_the_model_dtype(tokenizer) -> None:
    """[B, L, V] with V = len(tokenizer) - 1; a bf16 model gives bf16 logits."""
    model = bert(tokenizer).to(torch.bfloat16)
    adapter = HFDenoiser(model, tokenizer, top_p=0.9, temperature=0.8)
    x = torch.full((2, 5), adapter.mask_id)
    out = adapter(x, _t(2))
    assert out.shape == (2, 5, len(tokenizer) - 1) and out.dtype == torch.bfloat16


def test_the_mask_id_reaches_the_model_as_its_mask_token(tokenizer) -> None:
    seen = []
    model = bert(tokenizer)
    model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["input_ids"]), with_kwargs=True
    )
    adapter = HFDenoiser(model, tokenizer)
    x = torch.tensor([[adapter.mask_id, 0, 5, 20]])
    adapter(x, _t(1))
    assert seen[0].tolist() == [[tokenizer.mask_token_id, 0, 6, 21]]


def test_a_padded_row_gives_the_logits_it_gives_alone(adapter) -> None:
    """With attention_mask False on the padding, the real positions do not see it."""
    generator = torch.Generator().manual_seed(0)
    short = torch.randint(0, adapter.vocab_size, (1, 4), generator=generator)
    short[0, 1] = adapter.mask_id
    long = torch.randint(0, adapter.vocab_size, (1, 7), generator=generator)
    padded = torch.cat([short, torch.tensor([[3, adapter.mask_id, 9]])], dim=1)
    batch = torch.cat([padded, long])
    exists = torch.ones(2, 7, dtype=torch.bool)
    exists[0, 4:] = False
    with torch.no_grad():
        together = adapter(batch, _t(2), attention_mask=exists)
        alone = adapter(short, _t(1))
        unmasked = adapter(batch, _t(2))
    assert torch.allclose(together[0, :4], alone[0], atol=1e-5)
    assert not torch.allclose(unmasked[0, :4], alone[0], atol=1e-3), "padding must matter without the mask"


def test_a_padded_row_samples_the_tokens_it_samples_alone(adapter) -> None:
    """unmask.sample with attention_mask: padding never changes, real positions match the row alone."""
    exists = torch.ones(2, 6, dtype=torch.bool)
    exists[1, 4:] = False
    batch = unmask.sample(adapter, "euler", vocab_size=adapter.vocab_size, length=6, batch_size=2, steps=4,
                          attention_mask=exists, generator=0)  # fmt: skip
    alone = unmask.sample(adapter, "euler", vocab_size=adapter.vocab_size, length=4, batch_size=1, steps=4,
                          row_ids=torch.tensor([1]), generator=0)  # fmt: skip
    assert (batch.tokens[1, 4:] == adapter.mask_id).all()
    assert torch.equal(batch.tokens[1, :4], alone.tokens[0])


def test_special_tokens_are_suppressed_unless_allowed(tokenizer) -> None:
    model = diffusion(tokenizer)
    vocabulary = HFDenoiser(model, tokenizer).vocabulary
    specials = vocabulary.columns([tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.cls_token_id,
                                   tokenizer.sep_token_id, tokenizer.eos_token_id])  # fmt: skip
    eos = vocabulary.unmask_id(tokenizer.eos_token_id)
    x = torch.full((1, 4), vocabulary.mask_id)

    def impossible(**options) -> set[int]:
        with torch.no_grad():
            out = HFDenoiser(model, tokenizer, **options)(x, _t(1))
        return set(torch.isneginf(out).all(1)[0].nonzero().flatten().tolist())

    assert impossible() == set(specials)
    assert impossible(allow_eos=True) == set(specials) - {eos}
    assert impossible(suppress_special=False) == set()
    assert impossible(suppress_special=[tokenizer.unk_token_id]) == {
        vocabulary.unmask_id(tokenizer.unk_token_id)
    }
    with pytest.raises(ValueError, match="every one of the"):
        HFDenoiser(model, tokenizer, suppress_special=range(len(tokenizer)))
    with pytest.raises(TypeError, match="suppress_special must be True, False or an iterable"):
        HFDenoiser(model, tokenizer, suppress_special="[PAD]")


def test_conditioning_tensors_reach_the_model(tokenizer) -> None:
    """cond={"token_type_ids": ...} arrives as the model's token_type_ids (BERT reads them)."""
    adapter = HFDenoiser(bert(tokenizer), tokenizer)
    x = torch.full((1, 4), adapter.mask_id)
    with torch.no_grad():
        zeros = adapter(x, _t(1), token_type_ids=torch.zeros_like(x))
        ones = adapter(x, _t(1), token_type_ids=torch.ones_like(x))
        default = adapter(x, _t(1))
    assert torch.equal(zeros, default) and not torch.allclose(zeros, ones)
    types_of = {"token_type_ids": torch.zeros(2, 4, dtype=torch.long)}
    run = unmask.sample(adapter, "first-hitting", vocab_size=adapter.vocab_size, length=4, batch_size=2,
                        cond=types_of, generator=0)  # fmt: skip
    plain = unmask.sample(
        adapter, "first-hitting", vocab_size=adapter.vocab_size, length=4, batch_size=2, generator=0
    )
    assert torch.equal(run.tokens, plain.tokens)


def test_a_model_in_training_mode_draws_a_warning(tokenizer) -> None:
    with pytest.warns(UserWarning, match=r"training mode.*model.eval\(\)"):
        HFDenoiser(bert(tokenizer).train(), tokenizer)


def test_bad_inputs_are_refused(adapter) -> None:
    with pytest.raises(TypeError, match=r"x_t must be a LongTensor \[B, L\]"):
        adapter(torch.zeros(1, 3), _t(1))
    with pytest.raises(ValueError, match="attention_mask must have the shape of x_t"):
        adapter(torch.zeros(1, 3, dtype=torch.long), _t(1), attention_mask=torch.ones(1, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="replace\\(\\) got an unexpected keyword argument 'topk'"):
        adapter.replace(topk=3)


def test_replace_plain_and_text_helpers(adapter, tokenizer) -> None:
    greedy = adapter.replace(top_k=1)
    x = torch.full((1, 3), adapter.mask_id)
    with torch.no_grad():
        assert int(torch.isfinite(greedy(x, _t(1))).sum(-1).max()) == 1
        assert torch.isfinite(adapter.plain()(x, _t(1))).all()
    ids = adapter.encode("the cat sat")
    assert adapter.decode(ids) == "the cat sat"
    assert adapter.token_id("eos") == adapter.vocabulary.unmask_id(tokenizer.eos_token_id)
    assert adapter.token_id("bos") is None
    assert adapter.encode("the [MASK] sat")[1] == adapter.mask_id
