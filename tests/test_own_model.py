"""The README's "Your own model" section states the denoiser contract as the library applies it;
these tests hold each statement to the code."""

from __future__ import annotations

import pytest
import torch

import unmask

V, L = 4, 5


class Probe(torch.nn.Module):
    """A small model that records what each call receives."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(V + 1, 8)
        self.head = torch.nn.Linear(8, V)
        self.seen: list[dict] = []

    def forward(self, x_t, t, **cond):
        self.seen.append(
            {
                "t_dtype": t.dtype,
                "t_shape": tuple(t.shape),
                "batch": x_t.shape[0],
                "grad": torch.is_grad_enabled(),
                "cond": sorted(cond),
                "mask_id": bool((x_t == V).any()),
            }
        )
        return self.head(self.embed(x_t))


def _steps(name: str, process: str = "masked") -> int | None:
    return 3 if unmask.samplers.get(name, process).takes_steps else None


@pytest.mark.parametrize(
    ("process", "name"),
    [(unmask.MaskedProcess(), n) for n in unmask.samplers.names("masked")]
    + [(unmask.UniformProcess(), n) for n in unmask.samplers.names("uniform")],
)
def test_every_sampler_passes_float64_times_per_row_without_gradients(process, name) -> None:
    """``t`` is float64 ``[B]`` (one time per row of the call), and sampling builds no graph."""
    model = Probe()
    unmask.sample(
        model,
        name,
        vocab_size=V,
        length=L,
        batch_size=3,
        steps=_steps(name, process.name),
        process=process,
        generator=0,
    )
    assert model.seen
    for call in model.seen:
        assert call["t_dtype"] == torch.float64
        assert call["t_shape"] == (call["batch"],)
        assert not call["grad"]
        assert call["cond"] == []


def test_the_masked_process_shows_the_mask_id_and_differentiable_keeps_gradients() -> None:
    model = Probe()
    run = unmask.sample(
        model, "euler", vocab_size=V, length=L, batch_size=3, steps=3, generator=0, differentiable=True
    )
    assert model.seen[0]["mask_id"]
    assert all(call["grad"] for call in model.seen)
    assert run.log_prob.requires_grad


def test_nelbo_passes_float64_times_no_conditioning_and_keeps_gradients() -> None:
    """``nelbo`` calls ``f(x_t, t)`` with gradients on; under ``torch.no_grad()`` it builds none."""
    model = Probe()
    x = torch.randint(0, V, (2, L), generator=torch.Generator().manual_seed(0))
    record = unmask.likelihood.nelbo(model, x, vocab_size=V, samples=8, generator=0)
    assert record.nll.requires_grad
    assert all(c["t_dtype"] == torch.float64 and c["cond"] == [] and c["grad"] for c in model.seen)
    assert max(c["batch"] for c in model.seen) > x.shape[0]  # sequences and draws share a call
    with torch.no_grad():
        assert not unmask.likelihood.nelbo(model, x, vocab_size=V, samples=8, generator=0).nll.requires_grad


def test_conditioning_arrives_as_keyword_arguments() -> None:
    model = Probe()
    exists = torch.ones(3, L, dtype=torch.bool)
    exists[0, 3:] = False
    unmask.sample(
        model, "euler", vocab_size=V, steps=3, prompt=torch.full((3, L), V), attention_mask=exists,
        cond={"style": torch.zeros(3, 2)}, generator=0,
    )  # fmt: skip
    assert all(call["cond"] == ["attention_mask", "style"] for call in model.seen)


def test_a_model_without_the_keyword_is_refused_before_any_call() -> None:
    calls = []

    def plain(x_t, t):
        calls.append(1)
        return torch.zeros(*x_t.shape, V)

    with pytest.raises(TypeError, match="attention_mask"):
        unmask.sample(
            plain, "euler", vocab_size=V, steps=3, prompt=torch.full((2, L), V),
            attention_mask=torch.ones(2, L, dtype=torch.bool), generator=0,
        )  # fmt: skip
    assert calls == []


def test_a_mask_column_is_refused() -> None:
    def wide(x_t, t):
        return torch.zeros(*x_t.shape, V + 1)

    with pytest.raises(ValueError, match="mask column"):
        unmask.sample(wide, "euler", vocab_size=V, length=L, batch_size=2, steps=3, generator=0)


def test_time_agnostic_saves_calls() -> None:
    """The same model declared time-agnostic is called less often (unchanged rows reuse a call)."""
    target = unmask.targets.MarkovChain.random(vocab_size=V, length=L, concentration=0.3, seed=0)
    exact = target.denoiser()

    def plain(x_t, t):
        return exact(x_t, t)

    kwargs = dict(vocab_size=V, length=L, batch_size=4, steps=32, generator=0)
    agnostic = unmask.sample(exact, "euler", **kwargs)
    assert exact.time_agnostic and agnostic.nfe < unmask.sample(plain, "euler", **kwargs).nfe
