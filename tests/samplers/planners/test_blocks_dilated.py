"""Semi-autoregressive blocks and the dilated planner: exact laws where theory says so, draws that
follow their own exact laws, and the structure of each step's reveals."""

from __future__ import annotations

import pytest
import torch

import unmask
from stats import CHI_SQUARE_LEVEL, chi_square_pvalue
from unmask.exact import run_law, tv
from unmask.samplers import KRandom
from unmask.samplers.planned import (
    Dilated,
    EntropyBounded,
    SemiAutoregressive,
    Threshold,
    TopK,
)
from unmask.samplers.planned.blocks import current_block
from unmask.samplers.planned.dilated import spread_key
from unmask.samplers.planned.plan import first, order

from .planner_cases import chain

INNERS = {
    "top-k-k2": TopK(k=2),
    "top-k-entropy-k3": TopK(k=3, score="entropy"),
    "threshold-0.55": Threshold(0.55),
    "eb-0.6": EntropyBounded(gamma=0.6),
    "dilated-k2": Dilated(k=2),
}


def law(sampler, steps=None) -> torch.Tensor:
    return run_law(chain(), sampler, steps).law


def runs(masked: torch.Tensor) -> torch.Tensor:
    """LongTensor ``[n, L]``: the masked run each masked position lies in (numbered from 1)."""
    before = torch.nn.functional.pad(masked[:, :-1], (1, 0), value=False)
    return (masked & ~before).long().cumsum(-1) * masked


# -- semi-autoregressive ------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(INNERS))
def test_one_block_is_the_inner_planner(case: str) -> None:
    """A block at least as long as the row (5 and 8 on length 5) gives the inner planner's exact
    law to 1e-12."""
    inner = INNERS[case]
    expected = law(inner)
    for block_length in (5, 8):
        assert float((law(SemiAutoregressive(inner, block_length)) - expected).abs().max()) < 1e-12


def test_one_block_with_steps_is_top_k_with_steps() -> None:
    """With ``steps``, one block gets all the steps: the law of top-k with the same ``steps``."""
    expected = law(TopK(), 3)
    got = law(SemiAutoregressive(TopK(), 5), 3)
    assert float((got - expected).abs().max()) < 1e-12


@pytest.mark.parametrize("case", sorted(INNERS))
def test_block_length_one_is_left_to_right_ancestral(case: str) -> None:
    """``block_length = 1``: one eligible position per call, left to right: the target exactly,
    whatever the inner planner (it would reveal 2 or more tokens per call alone)."""
    sampler = SemiAutoregressive(INNERS[case], 1)
    target = chain()
    assert float(tv(law(sampler), target.probs())) < 1e-12
    assert sampler.predicted_order(None, 0.0)[0] == "exact"


def test_block_length_one_with_steps_is_exact() -> None:
    """With ``steps = L`` every block (one position) gets one step: exact."""
    assert float(tv(law(SemiAutoregressive(TopK(), 1), 5), chain().probs())) < 1e-12


SEMI_CASES = {
    "top-k-k2-block2": (SemiAutoregressive(TopK(k=2), 2), None),
    "top-k-k2-block3": (SemiAutoregressive(TopK(k=2), 3), None),
    "top-k-steps3-block3": (SemiAutoregressive(TopK(), 3), 3),
    "threshold-block3": (SemiAutoregressive(Threshold(0.55), 3), None),
    "dilated-k2": (Dilated(k=2), None),
    "dilated-steps3": (Dilated(), 3),
}


@pytest.mark.parametrize("case", sorted(SEMI_CASES))
def test_samples_follow_the_exact_law(case: str) -> None:
    """20,000 draws pass the chi-square test (significance 1e-3) against the sampler's own exact
    law on the chain (V = 3, L = 5), which is off the target (TV > 0.02)."""
    sampler, steps = SEMI_CASES[case]
    target = chain()
    expected = law(sampler, steps)
    assert abs(float(expected.sum()) - 1) < 1e-12
    assert tv(expected, target.probs()) > 0.02
    result = unmask.sample(
        target.denoiser(),
        sampler,
        vocab_size=3,
        length=5,
        batch_size=20_000,
        steps=steps,
        generator=torch.Generator().manual_seed(900 + sorted(SEMI_CASES).index(case)),
    )
    p = chi_square_pvalue(result.tokens, expected)
    assert p > CHI_SQUARE_LEVEL, f"{case}: chi-square p = {p:.2e}"


def test_current_block_is_counted_from_the_first_free_position() -> None:
    """Blocks start at each row's first free position; the current block is the first one holding
    a masked position, per row."""
    free = torch.tensor(
        [[1, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1]], dtype=torch.bool
    )
    masked = torch.tensor(
        [[1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 0, 1, 1]], dtype=torch.bool
    )
    got = current_block(masked, free, 3)
    expected = torch.tensor(
        [[1, 1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 1, 0, 0], [0, 0, 0, 1, 1, 1, 0]], dtype=torch.bool
    )
    assert torch.equal(got, expected)


def test_reveals_stay_in_the_current_block_with_prompts() -> None:
    """With random infilling prompts, every step of every row reveals only masked positions of the
    row's first block (counted from its first free position) that still held a masked position."""
    length, block_length = 9, 3
    g = torch.Generator().manual_seed(3)
    prompt = torch.randint(0, 3, (64, length), generator=g)
    prompt = torch.where(torch.rand(64, length, generator=g) < 0.6, 3, prompt)  # 3 = free (mask)
    target = unmask.targets.MarkovChain.random(vocab_size=3, length=length, concentration=0.3, seed=1)
    result = unmask.sample(
        target.denoiser(),
        SemiAutoregressive(TopK(k=2), block_length),
        vocab_size=3,
        prompt=prompt,
        generator=4,
        return_trajectory=True,
    )
    free = prompt == 3
    states = result.trajectory
    for before, after in zip(states[:-1], states[1:], strict=True):
        masked = before == 3
        revealed = masked & (after != 3)
        current = current_block(masked, free, block_length)
        assert not (revealed & ~current).any()
        assert (revealed.sum(-1) == torch.minimum((masked & current).sum(-1), torch.tensor(2))).all()


def test_semi_autoregressive_validation() -> None:
    with pytest.raises(TypeError, match="inner must be a planner"):
        SemiAutoregressive(KRandom(k=2), 4)
    with pytest.raises(TypeError, match="inner must be a planner"):
        SemiAutoregressive("top-k", 4)
    for bad in (0, -2):
        with pytest.raises(ValueError, match="block_length"):
            SemiAutoregressive(TopK(), bad)
    for bad in (2.0, True):
        with pytest.raises(TypeError, match="block_length"):
            SemiAutoregressive(TopK(), bad)
    with pytest.raises(ValueError, match="steps=3 and also"):
        SemiAutoregressive(TopK(k=2), 2).resolve(3, 5)
    with pytest.raises(ValueError, match="at least one step per block"):
        SemiAutoregressive(TopK(), 2).resolve(2, 5)  # 3 blocks
    with pytest.raises(ValueError, match="takes no steps"):
        unmask.sample(
            chain().denoiser(),
            SemiAutoregressive(Threshold(0.5), 2),
            vocab_size=3,
            length=5,
            batch_size=1,
            steps=3,
        )


def test_steps_are_split_over_blocks() -> None:
    """LLaDA's split: 5 steps over blocks (4, 4, 2) of length 10 -> (2, 2, 1) steps, each block's
    tokens split evenly over its steps."""
    resolved = SemiAutoregressive(TopK(), 4).resolve(5, 10)
    assert resolved.inner.sizes == (2, 2, 2, 2, 2)
    assert resolved.resolve(5, 10) is resolved
    assert SemiAutoregressive(TopK(), 4).resolve(6, 10).inner.sizes == (2, 2, 2, 2, 1, 1)


# -- dilated -------------------------------------------------------------------------------------------
def test_dilated_one_per_call_is_exact() -> None:
    target = chain()
    for sampler, steps in ((Dilated(k=1), None), (Dilated(), 5), (Dilated(sizes=(1, 1, 1, 1, 1)), None)):
        assert float(tv(law(sampler, steps), target.probs())) < 1e-12
        if steps is None:  # as for top-k, blocks = L is not known to be one per call
            assert sampler.predicted_order(None, 0.0)[0] == "exact"


def test_dilated_picks_spread_over_runs() -> None:
    """On random mask patterns: a step of ``k`` at most the number of masked runs takes at most one
    position per run, the first ``k`` runs' first positions; a larger step touches every run."""
    g = torch.Generator().manual_seed(0)
    masked = torch.rand(500, 16, generator=g) < 0.7
    run = runs(masked)
    count_runs = run.amax(-1)
    key = spread_key(masked)
    for k in (1, 2, 3, 5, 8):
        count = torch.full((500,), k).minimum(masked.sum(-1))
        chosen = first(order(key, masked), count)
        assert not (chosen & ~masked).any()
        assert torch.equal(chosen.sum(-1), count)
        per_run = torch.zeros(500, 17, dtype=torch.long).scatter_add(-1, run, chosen.long())[:, 1:]
        small = count <= count_runs
        assert (per_run[small] <= 1).all()
        starts = masked & ~torch.nn.functional.pad(masked[:, :-1], (1, 0), value=False)
        assert torch.equal(chosen[small], (starts & (run <= k))[small])
        has_run = torch.arange(1, 17) <= count_runs.unsqueeze(-1)
        assert (per_run[~small] >= 1)[has_run[~small]].all()


def test_dilated_spreads_within_a_run() -> None:
    """Within one run of 8 the picks follow the van der Corput order 0, 4, 2, 6, 1, 5, 3, 7."""
    masked = torch.ones(1, 8, dtype=torch.bool)
    assert order(spread_key(masked), masked)[0].tolist() == [0, 4, 2, 6, 1, 5, 3, 7]


def test_dilated_beats_left_to_right_blocks_on_a_markov_chain() -> None:
    """At the same calls (k = 2, 3 calls on L = 5), spreading the reveals apart gives a lower exact
    TV than revealing the k lowest masked positions (TV 0.049 against 0.337)."""
    target = chain()
    dilated = float(tv(law(Dilated(k=2)), target.probs()))
    by_position = float(tv(law(SemiAutoregressive(TopK(k=2), 2)), target.probs()))
    assert dilated < by_position
