"""The hollow denoiser: output ``i`` never depends on input ``i``, and the library's informed
corrector reads its leave-one-out logits in one call."""

from __future__ import annotations

import pytest
import torch

import unmask

from .helpers import L, V, tiny, tokens

SETTINGS = [
    pytest.param({}, id="plain"),
    pytest.param({"time_conditioning": True}, id="time-conditioned"),
    pytest.param({"attention_mask": True}, id="padded"),
]


@pytest.mark.parametrize("setting", SETTINGS)
def test_changing_input_i_leaves_output_i_unchanged_exactly_and_moves_the_others(setting) -> None:
    """For random states (with masks) and every position ``i``, replacing ``x_i`` by every other
    id leaves ``loo[:, i]`` bit-identical, while some other position's logits change."""
    overrides = {k: v for k, v in setting.items() if k != "attention_mask"}
    model = tiny("hollow", noise=0.05, **overrides)
    x = tokens(4, seed=7)
    padded = torch.arange(L) < torch.tensor([[8], [6], [8], [3]])
    cond = {"attention_mask": padded} if setting.get("attention_mask") else {}
    t = torch.rand(4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    reference = model.loo(x, t, **cond)
    real = cond.get("attention_mask", torch.ones(4, L, dtype=torch.bool))
    for i in range(L):
        for shift in range(1, V + 1):
            changed = x.clone()
            changed[:, i] = (x[:, i] + shift) % (V + 1)
            out = model.loo(changed, t, **cond)
            assert torch.equal(out[:, i], reference[:, i])
            others = torch.ones(L, dtype=torch.bool)
            others[i] = False
            rows = real[:, i]  # a change at a padded position must change nothing (tested elsewhere)
            if rows.any():
                assert not torch.equal(out[rows][:, others], reference[rows][:, others])


def test_the_gradient_of_output_i_in_the_embedding_of_input_i_is_exactly_zero() -> None:
    """``d loo[:, i] / d embedding(x)[:, i] == 0`` exactly for every ``i``, while the gradient in the
    embedding of every other position is nonzero."""
    model = tiny("hollow", noise=0.05)
    embedded: list[torch.Tensor] = []

    def keep(module, inputs, output):
        output.retain_grad()
        embedded.append(output)

    model.embedding.register_forward_hook(keep)
    x = tokens(3, seed=8)
    weights = torch.randn(3, L, V, generator=torch.Generator().manual_seed(1))
    for i in range(L):
        embedded.clear()
        (model.loo(x, 0.5)[:, i] * weights[:, i]).sum().backward()
        grad = embedded[0].grad
        assert torch.equal(grad[:, i], torch.zeros_like(grad[:, i]))
        others = [j for j in range(L) if j != i]
        assert (grad[:, others].abs().sum(-1) > 0).all()


def test_loo_is_the_raw_logits_and_forward_carries_unmasked_tokens_over() -> None:
    """``raw_logits == loo``; ``forward`` equals ``loo`` at masked positions and is a point mass
    at unmasked ones (the carry-over rule)."""
    model = tiny("hollow", noise=0.05)
    x = tokens(5, seed=9)
    loo = model.loo(x, 0.5)
    assert torch.equal(model.raw_logits(x, 0.5), loo)
    out = model(x, 0.5)
    masked = x == V
    assert torch.equal(out[masked], loo[masked])
    assert (out[~masked].argmax(-1) == x[~masked]).all()
    assert torch.isneginf(out[~masked]).sum() == (~masked).sum() * (V - 1)


def test_the_informed_corrector_reads_loo_in_one_call_per_move() -> None:
    """``unmask.sample`` with the predictor-corrector sampler (informed corrector) calls ``loo``
    itself (not only through ``forward``), so a run of ``steps`` predictor steps each followed by
    one corrector move costs at most ``2 * steps`` calls (without ``loo`` a move costs L calls),
    and returns clean tokens."""
    model = tiny("hollow")
    steps = 4
    loo_calls, forward_calls = [], []
    original = model.loo

    def counted(x_t, t, **cond):
        loo_calls.append(x_t.shape[0])
        return original(x_t, t, **cond)

    model.loo = counted  # forward reads self.loo too: its calls are counted by the hook below
    model.register_forward_hook(lambda module, inputs, output: forward_calls.append(1))
    sampler = unmask.samplers.get("predictor-corrector", predictor="euler", corrector="informed")
    with torch.no_grad():
        result = unmask.sample(model, sampler, vocab_size=V, length=L, batch_size=6, steps=steps, generator=0)
    assert result.tokens.shape == (6, L)
    assert ((result.tokens >= 0) & (result.tokens < V)).all()
    assert len(loo_calls) - len(forward_calls) >= 1
    assert result.nfe <= 2 * steps
