"""Suppression, temperature, top-k and top-p change the clean-token law exactly as defined, in the
logits' dtype, and a call reads nothing back from the device."""

from __future__ import annotations

import types

import pytest
import torch
from torch.overrides import TorchFunctionMode

from unmask.hf import HFDenoiser, LogitsProcessing

from .models import word_tokenizer

V = 12


def _logits(dtype: torch.dtype = torch.float64, seed: int = 0) -> torch.Tensor:
    return 2 * torch.randn(3, 4, V, generator=torch.Generator().manual_seed(seed)).to(dtype)


def _kept(logits: torch.Tensor) -> torch.Tensor:
    return torch.isfinite(logits)


def test_temperature_divides_the_logits() -> None:
    """softmax(processed) = softmax(logits / T): p_v^(1/T) renormalised."""
    logits = _logits()
    processed = LogitsProcessing(temperature=0.5)(logits.clone())
    expected = torch.log_softmax(logits / 0.5, -1)
    assert torch.allclose(torch.log_softmax(processed, -1), expected, atol=1e-12)
    assert not torch.allclose(torch.log_softmax(logits, -1), expected, atol=1e-3)


@pytest.mark.parametrize("k", [1, 3, V])
def test_top_k_keeps_the_k_largest_logits(k: int) -> None:
    """top_k=1 keeps the argmax only; top_k=k keeps the k largest; the kept logits are unchanged."""
    logits = _logits()
    processed = LogitsProcessing(top_k=k)(logits.clone())
    expected = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, logits.topk(k, -1).indices, True)
    assert torch.equal(_kept(processed), expected)
    assert torch.equal(processed[expected], logits[expected])
    if k == 1:
        assert torch.equal(processed.argmax(-1), logits.argmax(-1))


@pytest.mark.parametrize("p", [0.05, 0.3, 0.9, 0.999])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_top_p_keeps_the_smallest_most_probable_set_of_mass_at_least_p(p: float, dtype: torch.dtype) -> None:
    """Brute force per position in float64: sort the probabilities in decreasing order, keep the
    shortest prefix whose mass reaches p."""
    logits = _logits(dtype, seed=1)
    processed = LogitsProcessing(top_p=p)(logits.clone())
    assert processed.dtype == dtype
    probs = torch.softmax(logits.to(torch.float64), -1)
    for index in torch.cartesian_prod(torch.arange(3), torch.arange(4)).tolist():
        row = probs[tuple(index)]
        order = row.argsort(descending=True, stable=True)
        size = int((row[order].cumsum(0) < p - 1e-6).sum()) + 1
        expected = torch.zeros(V, dtype=torch.bool)
        expected[order[:size]] = True
        assert torch.equal(_kept(processed[tuple(index)]), expected), (index, p)


def test_suppression_comes_first_so_top_k_picks_among_the_others() -> None:
    logits = _logits()
    suppressed = torch.zeros(V, dtype=torch.bool)
    suppressed[logits[0, 0].argmax()] = True
    processed = LogitsProcessing(top_k=1)(logits.clone(), suppressed)
    assert not torch.isfinite(processed[..., suppressed]).any()
    second = logits[0, 0].masked_fill(suppressed, float("-inf")).argmax()
    assert int(processed[0, 0].argmax()) == int(second) and int(_kept(processed[0, 0]).sum()) == 1


def test_processing_keeps_gradients_and_leaves_the_input_alone_when_they_are_on() -> None:
    logits = _logits().requires_grad_(True)
    processed = LogitsProcessing(temperature=2.0, top_k=4, top_p=0.8)(logits)
    torch.log_softmax(processed, -1)[torch.isfinite(processed)].sum().backward()
    assert logits.grad is not None and torch.isfinite(logits).all()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"temperature": 0}, ValueError, "temperature must be a finite number > 0, got 0.0; for greedy"),
        ({"temperature": -1.0}, ValueError, "temperature"),
        ({"temperature": float("nan")}, ValueError, "temperature"),
        ({"temperature": "1"}, TypeError, "temperature must be a number"),
        ({"top_k": 0}, ValueError, "top_k must be an integer >= 1, got 0"),
        ({"top_k": 2.5}, TypeError, "top_k"),
        ({"top_p": 0.0}, ValueError, r"top_p must lie in \(0, 1\]"),
        ({"top_p": 1.5}, ValueError, "top_p"),
        ({"top_p": True}, TypeError, "top_p"),
    ],
)
def test_bad_options_are_refused_by_name(options: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        LogitsProcessing(**options)


class FakeDiffusion(torch.nn.Module):
    """A model with a config and ``.logits``, made of an embedding and a linear head."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.config = types.SimpleNamespace(vocab_size=size, model_type="fake")
        self.embed = torch.nn.Embedding(size, 8)
        self.head = torch.nn.Linear(8, size)

    def forward(self, input_ids, attention_mask=None):
        return types.SimpleNamespace(logits=self.head(self.embed(input_ids)))


class HostReads(TorchFunctionMode):
    """Records every tensor operation that copies a value to the host."""

    READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__", "__index__", "nonzero")

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in self.READS:
            self.seen.append(name)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("kind", ["diffusion", "shifted"])
def test_a_call_with_every_option_reads_nothing_back_from_the_device(kind: str) -> None:
    tokenizer = word_tokenizer()
    adapter = HFDenoiser(
        FakeDiffusion(len(tokenizer)).eval(), tokenizer, kind=kind, temperature=0.7, top_k=5, top_p=0.9
    )
    x = torch.full((2, 6), adapter.mask_id)
    x[:, 0] = 3
    exists = torch.ones(2, 6, dtype=torch.bool)
    with torch.no_grad():
        adapter(x, torch.ones(2, dtype=torch.float64), attention_mask=exists)  # tables on the device
        with HostReads() as reads:
            out = adapter(x, torch.ones(2, dtype=torch.float64), attention_mask=exists)
        with HostReads() as probe:
            bool(out.isfinite().any())
    assert reads.seen == []
    assert probe.seen, "the probe must see a host read, or the check above proves nothing"
