"""``unmask.generate`` on tiny BERT and LLaDA-style models: the layout (a row gives the same
tokens alone, padded, or in any batch; the prompt is never changed; a single block is exactly
``unmask.sample`` on ``[prompt][masks]``), chat templates, per-row stopping at EOS (finished rows
cost fewer calls, within a block too), steps split over blocks, classifier-free guidance (``w =
0`` is the plain model; the unconditional pass has its prompt masked), and errors before any
work."""

from __future__ import annotations

import pytest
import torch

import unmask
from unmask.generate import generate as public_generate
from unmask.hf import HFDenoiser
from unmask.hf.generation import generate
from unmask.hf.guidance import Guided

from .models import bert, diffusion, word_tokenizer
from .models import transformers as _transformers  # noqa: F401  (skips without the hf extra)

MaskedLMOutput = _transformers.modeling_outputs.MaskedLMOutput

PROMPTS = ["the cat sat", "a dog ran to the park", "paris"]


class Spy(torch.nn.Module):
    """A model that records every ``input_ids`` it is called with and forwards to ``inner``."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.config = inner.config
        self.inputs: list[torch.Tensor] = []
        self.eval()

    def forward(self, input_ids, **kwargs):
        self.inputs.append(input_ids.clone())
        return self.inner(input_ids=input_ids, **kwargs)


@pytest.fixture(scope="module")
def tokenizer():
    return word_tokenizer()


@pytest.fixture(scope="module")
def adapters(tokenizer):
    return {
        "bert": HFDenoiser(bert(tokenizer), tokenizer, allow_eos=True),
        "diffusion": HFDenoiser(diffusion(tokenizer), tokenizer, allow_eos=True),
    }


@pytest.mark.parametrize("name", ["bert", "diffusion"])
def test_a_row_gives_the_same_tokens_alone_padded_and_in_any_batch(adapters, name) -> None:
    adapter = adapters[name]
    batched = generate(adapter, None, PROMPTS, max_new_tokens=6, block_length=3, generator=5)
    one_by_one = generate(adapter, None, PROMPTS, max_new_tokens=6, block_length=3, generator=5, batch_size=1)
    assert torch.equal(batched.tokens, one_by_one.tokens)
    assert torch.equal(batched.nfe_per_row, one_by_one.nfe_per_row)
    for row, prompt in enumerate(PROMPTS):
        alone = generate(
            adapter, None, [prompt], max_new_tokens=6, block_length=3, generator=5, row_ids=[row]
        )
        assert torch.equal(alone.tokens[0], batched.tokens[row])
        assert alone.texts[0] == batched.texts[row]


def test_the_prompt_reaches_every_call_unchanged(tokenizer) -> None:
    spy = Spy(bert(tokenizer))
    adapter = HFDenoiser(spy, tokenizer, allow_eos=True)
    out = generate(adapter, None, PROMPTS, max_new_tokens=4, generator=0, stop_at_eos=False)
    cls = adapter.token_id("cls")
    prompts = [adapter.vocabulary.to_model(torch.tensor([cls, *adapter.encode(p)])) for p in PROMPTS]
    assert out.prompt_lengths.tolist() == [len(p) for p in prompts]
    assert spy.inputs
    for inputs in spy.inputs:
        for row, prompt in enumerate(prompts):
            assert torch.equal(inputs[row, : len(prompt)], prompt)


def test_one_block_is_unmask_sample_on_the_prompt_then_masks(adapters) -> None:
    adapter = adapters["bert"]
    out = generate(adapter, None, ["the cat sat"], max_new_tokens=5, generator=3, stop_at_eos=False)
    ids = [adapter.token_id("cls"), *adapter.encode("the cat sat")]
    start = torch.tensor([ids + [adapter.mask_id] * 5])
    direct = unmask.sample(
        adapter, "low-confidence-remasking", vocab_size=adapter.vocab_size, prompt=start, generator=3
    )
    assert torch.equal(out.tokens[0], direct.tokens[0, len(ids) :])
    assert out.nfe == direct.nfe == 5


def test_a_chat_template_wraps_each_prompt_as_a_user_message() -> None:
    tokenizer = word_tokenizer()
    tokenizer.chat_template = (
        "{% for m in messages %}[BOS] {{ m['content'] }} [SEP]{% endfor %}"
        "{% if add_generation_prompt %} the{% endif %}"
    )
    adapter = HFDenoiser(bert(tokenizer), tokenizer, allow_eos=True)
    out = generate(adapter, None, ["a dog"], max_new_tokens=3, generator=0)
    assert out.prompts == ["[BOS] a dog [SEP] the"]
    assert out.prompt_lengths.tolist() == [len(adapter.encode("[BOS] a dog [SEP] the"))]
    plain = generate(adapter, None, ["a dog"], max_new_tokens=3, generator=0, chat_template=False)
    assert plain.prompts == ["a dog"]
    with pytest.raises(ValueError, match="no chat template"):
        generate(HFDenoiser(bert(word_tokenizer()), word_tokenizer()), None, ["a"], chat_template=True)


def test_finished_rows_stop_costing_calls_and_are_padded_after_their_eos(adapters) -> None:
    adapter = adapters["bert"]
    out = generate(adapter, None, PROMPTS, max_new_tokens=8, block_length=4, generator=0)
    eos, pad = adapter.token_id("eos"), adapter.token_id("pad")
    assert out.finished.any() and (~out.finished).any(), "the fixture (seed 0) must finish some rows only"
    assert out.nfe_per_row[out.finished].max() < out.nfe_per_row[~out.finished].min()
    for row in range(len(PROMPTS)):
        n = int(out.lengths[row])
        assert not (out.tokens[row, :n] == eos).any()
        if out.finished[row]:
            assert out.tokens[row, n] == eos
            assert (out.tokens[row, n + 1 :] == pad).all()
    full = generate(adapter, None, PROMPTS, max_new_tokens=8, block_length=4, generator=0, stop_at_eos=False)
    assert (full.nfe_per_row == 8).all() and not full.finished.any()
    assert torch.equal(
        full.tokens[:, :4], out.tokens[:, :4].where(out.tokens[:, :4] != pad, full.tokens[:, :4])
    )


class EosLeaning(torch.nn.Module):
    """``inner`` with ``bias`` added to the EOS logit everywhere, so that rows end early."""

    def __init__(self, inner: torch.nn.Module, eos: int, bias: float) -> None:
        super().__init__()
        self.inner, self.config, self.eos, self.bias = inner, inner.config, eos, bias
        self.eval()

    def forward(self, input_ids, **kwargs):
        logits = self.inner(input_ids=input_ids, **kwargs).logits.clone()
        logits[..., self.eos] += self.bias
        return MaskedLMOutput(logits=logits)


def test_a_row_ends_within_a_block_once_everything_before_its_eos_is_revealed(tokenizer) -> None:
    """One block of 8, one token per call: a row whose EOS has every position before it revealed
    takes no more calls; what it generated up to its EOS is what the same seed gives without
    stopping, and it gives the same alone as in the batch."""
    adapter = HFDenoiser(EosLeaning(bert(tokenizer), tokenizer.eos_token_id, 2.0), tokenizer, allow_eos=True)
    out = generate(adapter, None, PROMPTS, max_new_tokens=8, generator=0)
    full = generate(adapter, None, PROMPTS, max_new_tokens=8, generator=0, stop_at_eos=False)
    assert (full.nfe_per_row == 8).all()
    assert out.finished.any() and (out.nfe_per_row[out.finished] < 8).any(), (
        "the fixture must end a row early"
    )
    for row in range(len(PROMPTS)):
        n = int(out.lengths[row])
        if out.finished[row]:
            assert torch.equal(out.tokens[row, : n + 1], full.tokens[row, : n + 1])
            assert (out.tokens[row, n + 1 :] == adapter.token_id("pad")).all()
        alone = generate(adapter, None, [PROMPTS[row]], max_new_tokens=8, generator=0, row_ids=[row])
        assert torch.equal(alone.tokens[0], out.tokens[row]) and alone.nfe_per_row[0] == out.nfe_per_row[row]


def test_steps_are_split_over_the_blocks(adapters) -> None:
    out = generate(
        adapters["bert"], None, PROMPTS, max_new_tokens=8, block_length=4, steps=4, stop_at_eos=False
    )
    assert (out.nfe_per_row == 4).all()
    assert out.nfe == 4
    assert ((out.tokens >= 0) & (out.tokens < adapters["bert"].vocab_size)).all()


def test_guidance_zero_is_the_plain_model_and_the_unconditional_pass_masks_the_prompt(tokenizer) -> None:
    adapter = HFDenoiser(bert(tokenizer), tokenizer, allow_eos=True)
    x = torch.tensor([[2, 8, 9, adapter.mask_id, adapter.mask_id]])
    prompt = torch.tensor([[True, True, True, False, False]])
    t = torch.ones(1)
    assert torch.allclose(Guided(adapter, 0.0)(x, t, prompt_positions=prompt), adapter(x, t), atol=1e-5)
    spy = Spy(bert(tokenizer))
    guided_adapter = HFDenoiser(spy, tokenizer, allow_eos=True)
    out = generate(guided_adapter, None, ["the cat sat"], max_new_tokens=3, guidance=2.0, generator=0)
    assert out.model_calls == 2 * out.nfe
    mask = tokenizer.mask_token_id
    p = int(out.prompt_lengths[0])
    for inputs in spy.inputs:
        assert inputs.shape[0] == 2
        assert (inputs[1, :p] == mask).all() and not (inputs[0, :p] == mask).any()
        assert torch.equal(inputs[0, p:], inputs[1, p:])
    plain = generate(HFDenoiser(spy, tokenizer, allow_eos=True), None, ["the cat sat"], max_new_tokens=3)
    assert plain.model_calls == plain.nfe


def test_a_transformers_model_is_wrapped_with_eos_allowed(tokenizer) -> None:
    model = bert(tokenizer)
    direct = generate(model, tokenizer, PROMPTS, max_new_tokens=4, generator=1)
    wrapped = generate(
        HFDenoiser(model, tokenizer, allow_eos=True), None, PROMPTS, max_new_tokens=4, generator=1
    )
    assert torch.equal(direct.tokens, wrapped.tokens)
    assert public_generate(model, tokenizer, PROMPTS, max_new_tokens=4, generator=1).texts == direct.texts


def test_bad_input_is_refused_before_any_call(tokenizer) -> None:
    spy = Spy(bert(tokenizer))
    adapter = HFDenoiser(spy, tokenizer)
    with pytest.raises(ValueError, match="context of 64.*max_new_tokens to at most"):
        generate(adapter, None, ["the " * 40], max_new_tokens=32)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(adapter, None, ["a"], max_new_tokens=0)
    with pytest.raises(ValueError, match="blocks"):
        generate(adapter, None, ["a"], max_new_tokens=8, block_length=2, steps=3)
    with pytest.raises(ValueError, match="takes no steps"):
        generate(adapter, None, ["a"], sampler="first-hitting", steps=3)
    with pytest.raises(ValueError, match="guidance"):
        generate(adapter, None, ["a"], guidance=-1.0)
    with pytest.raises(TypeError, match="tokenizer"):
        generate(spy, None, ["a"])
    with pytest.raises(ValueError, match="prompts is empty"):
        generate(adapter, None, [])
    assert spy.inputs == []
    with pytest.raises(ValueError, match="mask"):
        generate(bert(tokenizer), word_tokenizer(mask=False), ["a"])
