"""``loglikelihood``: log p(continuation | context) through every masked-process estimator, padded
batches that equal single rows, the greedy check, the harness form and the errors."""

from __future__ import annotations

import types

import pytest
import torch

import unmask
from unmask.hf import HFDenoiser, as_harness, encode_pair, loglikelihood

from .models import bert, diffusion, word_tokenizer

PAIRS = [("the cat", " sat on"), ("a dog ran to", " the park"), ("", "the bird flew")]


@pytest.fixture(scope="module")
def tokenizer():
    return word_tokenizer()


@pytest.fixture(scope="module")
def adapter(tokenizer):
    return HFDenoiser(diffusion(tokenizer), tokenizer, top_k=2)  # processing is dropped for scoring


@pytest.fixture(scope="module")
def exact(adapter):
    return loglikelihood(adapter, None, PAIRS, method="exact")


def test_pairs_are_tokenised_as_the_whole_text_with_a_leading_cls_token(tokenizer) -> None:
    context, continuation = encode_pair(tokenizer, "the cat ", "sat on")
    assert tokenizer.decode(context) == "[CLS] the cat" and tokenizer.decode(continuation) == "sat on"
    ids = tokenizer.convert_tokens_to_ids(["the", "cat", "sat"])
    assert encode_pair(tokenizer, "the cat", " sat", add_bos=False) == (ids[:2], ids[2:])


def test_the_exact_method_is_minus_the_exact_conditional_nelbo_of_each_row_alone(
    adapter, exact, tokenizer
) -> None:
    """Padding is neither attended nor scored: each pair's value in a padded batch equals
    -conditional_nelbo of its unpadded row under the model's own law (no top-k)."""
    assert exact.continuation_tokens.tolist() == [2, 2, 3]
    assert exact.context_tokens.tolist() == [3, 5, 1]
    assert (exact.stderr == 0).all() and (exact.logprob < 0).all()
    plain = adapter.plain()
    for index, (context, continuation) in enumerate(PAIRS):
        prompt_ids, response_ids = encode_pair(tokenizer, context, continuation)
        prompt = adapter.vocabulary.to_unmask(torch.tensor([prompt_ids]))
        response = adapter.vocabulary.to_unmask(torch.tensor([response_ids]))
        with torch.no_grad():
            alone = unmask.likelihood.conditional_nelbo(
                plain, prompt, response, adapter.vocab_size, method="exact"
            )
        assert float(exact.logprob[index]) == pytest.approx(-float(alone.nll[0]), abs=1e-4)


def test_a_batch_size_of_one_gives_the_same_exact_values(adapter, exact) -> None:
    single = loglikelihood(adapter, None, PAIRS, method="exact", batch_size=1, greedy=False)
    assert torch.allclose(single.logprob, exact.logprob, atol=1e-4)


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("time-free", {}),
        ("uniform-count", {}),
        ("time-integral", {}),
        ("time-integral", {"variant": "antithetic"}),
        ("discrete", {"steps": 64}),
    ],
)
def test_every_monte_carlo_method_agrees_with_the_exact_value_within_its_error_bars(
    adapter, exact, method, options
) -> None:
    """|estimate - exact| <= 5 standard errors (+0.05 nats for the time-integral clip and the
    64-step grid)."""
    result = loglikelihood(
        adapter, None, PAIRS, method=method, samples=256, greedy=False, generator=0, **options
    )
    assert (result.stderr > 0).all()
    assert ((result.logprob - exact.logprob).abs() <= 5 * result.stderr + 0.05).all(), (
        result.logprob,
        exact.logprob,
    )


def test_a_seed_gives_the_same_numbers_and_another_seed_other_numbers(adapter) -> None:
    first, again, other = (
        loglikelihood(adapter, None, PAIRS, samples=16, greedy=False, generator=seed) for seed in (3, 3, 4)
    )
    assert torch.equal(first.logprob, again.logprob) and not torch.equal(first.logprob, other.logprob)


def test_the_methods_list_is_covered() -> None:
    assert set(unmask.likelihood.METHODS) == {
        "time-free",
        "uniform-count",
        "time-integral",
        "discrete",
        "exact",
    }


class Favourite(torch.nn.Module):
    """A model that gives one token a large logit at every position."""

    def __init__(self, size: int, favourite: int) -> None:
        super().__init__()
        self.config = types.SimpleNamespace(vocab_size=size, model_type="fake", max_position_embeddings=64)
        self.size, self.favourite = size, favourite

    def forward(self, input_ids, attention_mask=None):
        logits = torch.zeros(*input_ids.shape, self.size)
        logits[..., self.favourite] = 5.0
        return types.SimpleNamespace(logits=logits)


def test_is_greedy_says_whether_the_greedy_fill_reproduces_the_continuation(tokenizer) -> None:
    cat = tokenizer.convert_tokens_to_ids("cat")
    model = Favourite(len(tokenizer), cat).eval()
    pairs = [("the", " cat cat"), ("the", " cat dog"), ("a dog", " cat")]
    result = loglikelihood(model, tokenizer, pairs, method="exact")
    assert result.is_greedy.tolist() == [True, False, True]
    assert result.to_list()[1] == (float(result.logprob[1]), False)


def test_the_harness_form_answers_requests_with_args(adapter, exact) -> None:
    harness = as_harness(adapter, method="exact", greedy=True)
    requests = [types.SimpleNamespace(args=pair) for pair in PAIRS[:2]] + [PAIRS[2]]
    answers = harness(requests)
    assert answers == exact.to_list()
    assert all(isinstance(logprob, float) and isinstance(greedy, bool) for logprob, greedy in answers)
    assert harness([]) == []
    with pytest.raises(TypeError, match="unexpected keyword argument 'sample'"):
        as_harness(adapter, sample=3)
    with pytest.raises(ValueError, match="unknown method 'exactly'"):
        as_harness(adapter, method="exactly")


def test_a_bert_masked_lm_scores_too(tokenizer) -> None:
    result = loglikelihood(bert(tokenizer), tokenizer, PAIRS[:2], samples=32, greedy=False)
    assert torch.isfinite(result.logprob).all() and torch.isfinite(result.stderr).all()


def test_long_contexts_lose_tokens_on_the_left(adapter) -> None:
    result = loglikelihood(adapter, None, [("a dog ran to", " the park")], method="exact", max_length=4)
    assert result.context_tokens.tolist() == [2] and result.continuation_tokens.tolist() == [2]
    with pytest.raises(ValueError, match=r"continuation of 2 tokens, more than max_length=1"):
        loglikelihood(adapter, None, [("a", " the park")], max_length=1)


@pytest.mark.parametrize(
    ("pairs", "options", "error", "match"),
    [
        ("the cat", {}, TypeError, "pairs must be a list"),
        ([("the", 3)], {}, TypeError, r"pairs\[0\] must be a \(context, continuation\) pair"),
        ([("the", "")], {}, ValueError, r"pairs\[0\] has an empty continuation"),
        ([("the [MASK]", " cat")], {}, ValueError, "holds the mask token in its context"),
        (PAIRS, {"method": "nope"}, ValueError, "unknown method 'nope'"),
        (PAIRS, {"response": None}, TypeError, "unexpected keyword argument 'response'"),
        (PAIRS, {"batch_size": 0}, ValueError, "batch_size must be an integer >= 1"),
        (PAIRS, {"greedy": 1}, TypeError, "greedy must be True or False"),
        (PAIRS, {"kind": "shifted"}, ValueError, "disagrees with the adapter's kind 'diffusion'"),
    ],
)
def test_bad_input_is_refused_before_any_call(adapter, pairs, options, error, match) -> None:
    with pytest.raises(error, match=match):
        loglikelihood(adapter, None, pairs, **options)


def test_a_model_needs_its_tokenizer(tokenizer, adapter) -> None:
    with pytest.raises(ValueError, match="needs its tokenizer"):
        loglikelihood(adapter.model, None, PAIRS)
    with pytest.raises(ValueError, match="give the tokenizer once"):
        loglikelihood(adapter, word_tokenizer(), PAIRS)
