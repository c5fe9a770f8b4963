"""The step context's operations for correctors and planners, in both contexts: a leave-one-out
Gibbs kernel keeps the target exactly, and the drawing and enumerating contexts agree for
weighted subsets, remasking and resampling (chi-square of samples against the exact law)."""

from __future__ import annotations

import pytest
import torch

import unmask
from problems import masked_strong_chain
from stats import CHI_SQUARE_LEVEL, chi_square_pvalue
from unmask.exact import run_law, tv
from unmask.targets import MarkovChain

from .kernels import FirstHittingThenGibbs, ForgetsToAlign, RevealRemask, WeightedReveal

BATCH = 20_000


class WithoutLoo:
    """The exact denoiser of a target without its ``loo`` method: leave-one-out outputs then come
    from one call per position with that position masked."""

    time_agnostic = True

    def __init__(self, target) -> None:
        self.exact = target.denoiser()

    def __call__(self, z, t):
        return self.exact(z, t)


@pytest.mark.parametrize("sweeps", [1, 3])
def test_gibbs_kernel_after_first_hitting_keeps_the_target_exactly(sweeps: int) -> None:
    """First-hitting then ``sweeps`` Gibbs steps (one uniformly chosen clean position resampled
    from its exact leave-one-out conditional): the exact law equals the target to 1e-12, with the
    target's own leave-one-out outputs and with one masked position at a time."""
    target = masked_strong_chain()
    for denoiser in (None, WithoutLoo(target)):
        law = run_law(target, FirstHittingThenGibbs(sweeps=sweeps), denoiser=denoiser).law
        assert torch.allclose(law, target.probs(), rtol=0, atol=1e-12)
        assert tv(law, target.probs()) < 1e-12


def test_gibbs_kernel_draws_its_exact_law_and_counts_its_calls() -> None:
    """The drawn Gibbs kernel passes a chi-square test against its exact law; without a ``loo``
    method each Gibbs step costs one call per position (L calls), with it one call."""
    target = masked_strong_chain()
    sampler = FirstHittingThenGibbs(sweeps=2)
    law = run_law(target, sampler).law
    length = target.length
    for denoiser, per_sweep in ((target.denoiser(), 1), (WithoutLoo(target), length)):
        drawn = unmask.sample(
            denoiser, sampler, vocab_size=target.vocab_size, length=length, batch_size=BATCH, generator=11
        )
        assert chi_square_pvalue(drawn.tokens, law) > CHI_SQUARE_LEVEL
        assert drawn.steps == length + 2
        assert bool((drawn.nfe_per_row == length + 2 * per_sweep).all())


@pytest.mark.parametrize("k", [1, 2, 3])
def test_weighted_subsets_draw_their_exact_law(k: int) -> None:
    """Successive sampling of ``k`` masked positions with weights ``1 + position``, then values
    from the model: samples follow the enumerated law (chi-square), which differs from the target
    for k > 1 and equals it for k = 1."""
    target = masked_strong_chain()
    sampler = WeightedReveal(k=k)
    law = run_law(target, sampler).law
    assert abs(float(law.sum()) - 1) < 1e-12
    if k == 1:
        assert tv(law, target.probs()) < 1e-12
    else:
        assert tv(law, target.probs()) > 1e-3
    drawn = unmask.sample(
        target.denoiser(), sampler, vocab_size=3, length=target.length, batch_size=BATCH, generator=20 + k
    )
    assert chi_square_pvalue(drawn.tokens, law) > CHI_SQUARE_LEVEL


def test_weighted_subset_probabilities_follow_the_weights() -> None:
    """With one pick and values that do not matter (a one-token vocabulary), the position revealed
    first is position i with probability w_i / sum(w) = (1 + i) / 10 (L = 4), exactly in the
    enumerating context and within sampling error in the drawing one."""
    target = MarkovChain.mixing(vocab_size=1, length=4, eps=0.5)
    weights = torch.arange(1, 5, dtype=torch.float64) / 10
    masked = target.vocab_size  # the mask id
    drawn = unmask.sample(
        target.denoiser(), WeightedReveal(k=1), vocab_size=1, length=4, batch_size=BATCH,
        generator=5, return_trajectory=True,
    )  # fmt: skip
    first = (drawn.trajectory[1] != masked).double().mean(0)
    assert torch.allclose(first, weights, atol=4 * (0.25 / BATCH) ** 0.5)


@pytest.mark.parametrize("rounds", [1, 3])
def test_remasking_draws_its_exact_law(rounds: int) -> None:
    """Reveal with probability 0.6, remask clean positions with probability 0.3, repeated, then a
    last reveal: samples follow the enumerated law (chi-square); the law is a distribution."""
    target = masked_strong_chain()
    sampler = RevealRemask(rounds=rounds)
    law = run_law(target, sampler).law
    assert abs(float(law.sum()) - 1) < 1e-12
    drawn = unmask.sample(
        target.denoiser(),
        sampler,
        vocab_size=3,
        length=target.length,
        batch_size=BATCH,
        generator=30 + rounds,
    )
    assert chi_square_pvalue(drawn.tokens, law) > CHI_SQUARE_LEVEL
    assert drawn.steps == rounds + 1


def test_operations_never_touch_fixed_positions() -> None:
    """With a prompt, remasking, resampling and weighted reveals leave the prompt's tokens alone,
    in the drawn samples and in every state the exact law enumerates (its prompt positions keep
    their values with probability 1)."""
    target = masked_strong_chain()
    prompt = torch.full((500, target.length), target.vocab_size)
    prompt[:, 1] = 2
    for sampler in (RevealRemask(rounds=2), FirstHittingThenGibbs(sweeps=2), WeightedReveal(k=2)):
        drawn = unmask.sample(
            target.denoiser(), sampler, vocab_size=3, prompt=prompt, generator=3, return_trajectory=True
        )
        assert bool((drawn.trajectory[:, :, 1] == 2).all())


def test_a_forgotten_align_fails_in_the_exact_context() -> None:
    """A step that reuses a per-row model output after a move without aligning it raises in the
    enumerating context (the rows changed), instead of giving a wrong law."""
    target = masked_strong_chain()
    with pytest.raises((ValueError, RuntimeError), match="align|size"):
        run_law(target, ForgetsToAlign())


def test_reveal_scored_gives_the_drawn_values_probabilities() -> None:
    """The drawing context's ``reveal_scored`` reveals what ``reveal`` does with the same draws and
    returns each drawn value's probability under the law (the one its draw computed), equal to a
    second read of the logits in float64; 0 where nothing was revealed."""
    from unmask.samplers.base import StepContext

    class Both(unmask.samplers.Sampler):
        name = "reveal-scored-probe"
        uses_grid = False

        def step(self, ctx, z, t, s, index):
            probs = ctx.denoise(z, t)
            chosen = ctx.masked(z) & (torch.arange(z.shape[1]) % 2 == 0)
            drawn, scored = ctx.reveal_scored(z, chosen, probs)
            assert torch.equal(drawn[~chosen], z[~chosen]) and not (drawn[chosen] == 5).any()
            again = probs.log_prob_of(drawn, torch.float64, where=chosen).exp()  # a second read
            assert torch.allclose(scored[chosen], again[chosen], rtol=1e-12, atol=0)
            assert bool((scored[~chosen] == 0).all()) and bool((scored[chosen] > 0).all())
            base_drawn, base_scored = StepContext.reveal_scored(ctx, z, chosen, probs)  # other draws
            again = probs.log_prob_of(base_drawn, torch.float64, where=chosen).exp()
            assert torch.equal(base_scored, torch.where(chosen, again, 0.0))
            return ctx.reveal(drawn, ctx.masked(drawn), probs), torch.zeros_like(t)

    logits = torch.randn(6, 5, generator=torch.Generator().manual_seed(1)) * 3
    denoiser = lambda x, t: logits.expand(len(x), -1, -1).clone()  # noqa: E731
    out = unmask.sample(denoiser, Both(), vocab_size=5, length=6, batch_size=4, generator=0)
    assert not (out.tokens == 5).any()
