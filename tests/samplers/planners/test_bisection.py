"""The bisection planner: its plan is the prototype's rule (a pure-Python oracle kept here) on every
mask pattern, it is exact on Markov chains exactly when ``2^K - 1 >= L``, it finishes in its
``K`` calls, padded and prompted rows draw what they draw alone, its draws follow its own exact
law, and bad ``steps`` are refused."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
import torch

import unmask
from stats import CHI_SQUARE_LEVEL, chi_square_pvalue
from unmask.exact import reference_law, run_law, tv
from unmask.samplers.planned.bisection import Bisection, bisection_plan, exact_calls, masked_runs
from unmask.targets import MarkovChain

from ..test_conditioning import LENGTHS, PaddingBlind, _ragged
from .planner_cases import chain

V = 3
#: Laws are float64 sums of at most a few thousand products; identities hold to this.
EXACT = 1e-12


# -- the oracle: the prototype's rule (formerly unmask.bench.per_call.bisection_choice) -------------
def _even_sizes(total: int, blocks: int) -> tuple[int, ...]:
    base, extra = divmod(total, blocks)
    return tuple(base + 1 if j < extra else base for j in range(blocks))


def _runs(pattern: Sequence[bool]) -> list[tuple[int, int]]:
    """``(start, length)`` of each maximal stretch of True in ``pattern``."""
    runs, start = [], None
    for i, masked in enumerate(pattern):
        if masked and start is None:
            start = i
        if not masked and start is not None:
            runs.append((start, i - start))
            start = None
    if start is not None:
        runs.append((start, len(pattern) - start))
    return runs


def bisection_choice(pattern: Sequence[bool], calls_left: int) -> list[bool]:
    """The prototype's choice, one row at a time: a run of ``m`` gets
    ``p = max(1, ceil((m - cap) / (cap + 1)))`` picks (``cap = 2^(calls_left-1) - 1``; all ``m``
    on the last call), evenly spaced so that the ``p + 1`` pieces left differ by at most one
    (larger pieces first)."""
    chosen = [False] * len(pattern)
    cap = 2 ** (calls_left - 1) - 1
    for start, m in _runs(pattern):
        picks = m if calls_left <= 1 else min(m, max(1, -(-(m - cap) // (cap + 1))))
        pieces = _even_sizes(m - picks, picks + 1) if m > picks else (0,) * (picks + 1)
        position = start
        for j in range(picks):
            position += pieces[j]
            chosen[position] = True
            position += 1
    return chosen


def patterns(length: int) -> torch.Tensor:
    """Bool ``[2^length, length]``: every mask pattern of ``length`` positions."""
    return torch.tensor(list(itertools.product([False, True], repeat=length)), dtype=torch.bool)


# -- 1. the rule --------------------------------------------------------------------------------------
@pytest.mark.parametrize("length", range(1, 10))
def test_plan_is_the_prototype_rule_on_every_pattern(length: int) -> None:
    """On every mask pattern of ``length`` positions (all in one batch, so rows with different
    patterns share a call) and every ``left`` in 1..5, ``Bisection(steps=K).plan`` at call
    ``K - left`` reveals exactly the oracle's positions; it reveals at least one position in every
    row with a masked position and only masked positions."""
    masked = patterns(length)
    free = torch.ones_like(masked)
    lengths = torch.full((len(masked),), length)
    for left in range(1, 6):
        expected = torch.tensor([bisection_choice(p, left) for p in masked.tolist()], dtype=torch.bool)
        for steps in (left, left + 2):
            got = Bisection(steps=steps).plan(None, masked, steps - left, lengths, free)
            assert torch.equal(got, expected), (length, left, steps)
        assert not (got & ~masked).any()
        assert torch.equal(got.any(-1), masked.any(-1))
    assert torch.equal(bisection_plan(masked, 1), masked)  # the last call reveals everything


def test_rule_on_examples() -> None:
    """Hand-checked cases: the middle of a run is offset ``m // 2`` (the upper middle of an even
    run), extra picks are evenly spaced with the longer pieces first, and runs are split by
    unmasked positions; calls past the last one (index >= steps) still reveal everything."""

    def plan(pattern: str, left: int) -> str:
        masked = torch.tensor([[c == "m" for c in pattern]])
        return "".join("x" if c else "." for c in bisection_plan(masked, left)[0].tolist())

    assert plan("mmmmmm", 3) == "...x.."  # 6 <= 7: the middle only
    assert plan("mmmmm", 3) == "..x.."
    assert plan("mmmmmm", 2) == ".x.x.x"  # 6 > 3: 2 picks would leave a piece of 2 > cap 1
    assert plan("mmmmmmm", 2) == ".x.x.x."
    assert plan("mmmmmmmmmm", 3) == "...x...x.."  # 10 > 7: pieces of 3, 3, 2 <= cap 3
    assert plan("mmm-m", 2) == ".x..x"
    assert plan("m-mm-mmm", 1) == "x.xx.xxx"
    assert plan("mmmmmmmm", 9) == "....x..."  # left above the width: the middle
    masked = torch.ones(1, 4, dtype=torch.bool)
    assert torch.equal(Bisection(steps=2).plan(None, masked, 5, torch.tensor([4]), masked), masked)


def test_masked_runs() -> None:
    """Offsets count from each run's first position and every position of a run carries the run's
    length; off the runs the length is 0."""
    masked = torch.tensor([[1, 1, 0, 1, 1, 1, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0]], dtype=torch.bool)
    offset, length = masked_runs(masked)
    assert offset[0][masked[0]].tolist() == [0, 1, 0, 1, 2, 0]
    assert length.tolist() == [[2, 2, 0, 3, 3, 3, 0, 1], [0] * 8]


def test_plan_creates_tensors_on_the_mask_device() -> None:
    """Under a meta default device the plan still runs on the CPU tensors it is given (every
    tensor it creates names ``masked``'s device) and gives the same positions."""
    masked = patterns(7)
    expected = bisection_plan(masked, 2)
    torch.set_default_device("meta")
    try:
        got = bisection_plan(masked, 2)
    finally:
        torch.set_default_device(None)
    assert got.device.type == "cpu" and torch.equal(got, expected)


# -- 2. exactness on Markov chains --------------------------------------------------------------------
@pytest.mark.parametrize("length", range(1, 8))
def test_exact_on_markov_chains_iff_enough_calls(length: int) -> None:
    """With the exact denoiser of ``MarkovChain.random(3, L, 0.3, seed)`` (seeds 0..2), the exact
    law of bisection with ``K`` calls equals the target (TV < 1e-12) whenever ``2^K - 1 >= L``,
    and is off it (TV > 1e-6) whenever ``2^K - 1 < L``; ``steps=None`` takes
    ``ceil(log2(L + 1))`` calls on every path and is exact."""
    for seed in range(3):
        target = MarkovChain.random(V, length, concentration=0.3, seed=seed)
        reference = reference_law(target)
        for steps in range(1, 5):
            error = tv(run_law(target, Bisection(), steps).law, reference)
            if 2**steps - 1 >= length:
                assert error < EXACT, (length, seed, steps, error)
            else:
                assert error > 1e-6, (length, seed, steps, error)
        result = run_law(target, Bisection())
        assert tv(result.law, reference) < EXACT
        assert result.steps == exact_calls(length) == (length + 1 - 1).bit_length()
        assert result.expected_steps == pytest.approx(exact_calls(length), abs=EXACT)


# -- 3. calls --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("length", "steps"), [(1, 1), (5, 1), (5, 2), (5, 3), (5, 6), (7, 3), (9, 2), (9, 4)]
)
def test_every_call_reveals_and_the_run_ends_in_its_calls(length: int, steps: int) -> None:
    """64 rows: every call reveals at least one token in every row that still has a masked
    position, every row is done after ``min(K, ceil(log2(L + 1)))`` calls (``K`` when ``K`` is at
    most what exactness needs: no row finishes early; the middles alone when ``K`` is more), and no
    mask id is left."""
    target = MarkovChain.random(V, length, concentration=0.3, seed=1)
    result = unmask.sample(
        target.denoiser(), Bisection(), vocab_size=V, length=length, steps=steps, batch_size=64,
        generator=0, return_trajectory=True,
    )  # fmt: skip
    calls = min(steps, exact_calls(length))
    assert bool((result.tokens < V).all())
    assert result.nfe == calls
    assert torch.equal(result.nfe_per_row, torch.full((64,), calls))
    states = result.trajectory
    assert len(states) == calls + 1
    for before, after in zip(states[:-1], states[1:], strict=True):
        masked = before == V
        revealed = masked & (after != V)
        assert torch.equal(revealed.any(-1), masked.any(-1))


# -- 4. prompts and padding ---------------------------------------------------------------------------
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("steps", [None, 1, 2, 3])
def test_padded_rows_give_the_tokens_they_give_alone(side: str, steps: int | None) -> None:
    """Ragged prompts (lengths 5, 2, 4, 1, 3; the first existing position of each row fixed,
    padding on the ``side``) in one batch: each row gives exactly the tokens and calls it gives
    alone with the same seed and row id (the padding-blind denoiser of the conditioning tests),
    padding never changes, and prompted tokens are kept."""
    prompt, exists, alone = _ragged(side)
    tags = torch.arange(len(LENGTHS))
    batch = unmask.sample(
        PaddingBlind(max(LENGTHS), time_agnostic=False), Bisection(), vocab_size=V, steps=steps,
        prompt=prompt, attention_mask=exists, cond={"tag": tags}, generator=7,
    )  # fmt: skip
    assert bool((batch.tokens[~exists] == V).all())
    fixed = prompt < V
    assert torch.equal(batch.tokens[fixed], prompt[fixed])
    for b, row in enumerate(alone):
        single = unmask.sample(
            PaddingBlind(max(LENGTHS), time_agnostic=False), Bisection(), vocab_size=V, steps=steps,
            prompt=row, attention_mask=torch.ones_like(row, dtype=torch.bool), cond={"tag": tags[b : b + 1]},
            generator=7, row_ids=tags[b : b + 1],
        )  # fmt: skip
        assert torch.equal(batch.tokens[b][exists[b]], single.tokens[0]), (b, steps)
        assert int(batch.nfe_per_row[b]) == int(single.nfe_per_row[0])


@pytest.mark.parametrize("steps", [None, 2])
def test_prompt_prefixes_split_runs_and_rows_match_alone(steps: int | None) -> None:
    """Rows of a Markov chain (L = 7) with prompt prefixes of 0..3 tokens and an infilling row:
    each row gives the tokens it gives alone (same seed, row id); a row's free positions form one
    run after its prefix, so with ``steps=None`` it takes ``ceil(log2(free + 1))`` calls."""
    length = 7
    target = MarkovChain.random(V, length, concentration=0.3, seed=2)
    prompt = torch.full((5, length), V)
    for b in range(4):
        prompt[b, :b] = torch.arange(b) % V
    prompt[4, 3] = 1  # infilling: two runs of 3
    batch = unmask.sample(
        target.denoiser(), Bisection(), vocab_size=V, steps=steps, prompt=prompt, generator=5
    )
    for b in range(5):
        single = unmask.sample(
            target.denoiser(), Bisection(), vocab_size=V, steps=steps, prompt=prompt[b : b + 1],
            generator=5, row_ids=torch.tensor([b]),
        )  # fmt: skip
        assert torch.equal(batch.tokens[b], single.tokens[0]), b
    free = (prompt == V).sum(-1)
    if steps is None:
        expected = [exact_calls(int(f)) for f in free[:4]] + [exact_calls(3)]
        assert batch.nfe_per_row.tolist() == expected
    assert torch.equal(batch.tokens[prompt < V], prompt[prompt < V])


# -- 5. draws follow the exact law --------------------------------------------------------------------
AGREEMENT = {"L5-K1": (5, 1), "L5-K2": (5, 2), "L7-K2": (7, 2)}


@pytest.mark.parametrize("case", sorted(AGREEMENT))
def test_samples_follow_the_exact_law(case: str) -> None:
    """20,000 draws pass Pearson's chi-square test (expected counts < 5 pooled) against bisection's
    own exact law at significance 1e-3, and never land on a sequence of probability 0; the law is
    off the target (TV > 0.05), so a sampler that ignored the plan (or drew one token per call)
    would fail."""
    length, steps = AGREEMENT[case]
    target = chain() if length == 5 else MarkovChain.random(V, length, concentration=0.3, seed=0)
    law = run_law(target, Bisection(), steps).law
    assert abs(float(law.sum()) - 1) < EXACT
    assert tv(law, target.probs()) > 0.05
    result = unmask.sample(
        target.denoiser(), Bisection(), vocab_size=V, length=length, steps=steps, batch_size=20_000,
        generator=torch.Generator().manual_seed(1300 + sorted(AGREEMENT).index(case)),
    )  # fmt: skip
    p = chi_square_pvalue(result.tokens, law)
    assert p > CHI_SQUARE_LEVEL, f"{case}: chi-square p = {p:.2e}"


# -- 6. bad steps --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("bad", "error"), [(0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_bad_steps_are_refused(bad, error) -> None:
    """``steps`` 0, -1 (ValueError), 2.5 or True (TypeError) are refused by the constructor, by
    ``resolve`` and by ``unmask.sample``, each naming ``steps``."""
    with pytest.raises(error, match="steps"):
        Bisection(steps=bad)
    with pytest.raises(error, match="steps"):
        Bisection().resolve(bad, 5)
    with pytest.raises(error, match="steps"):
        unmask.sample(chain().denoiser(), Bisection(), vocab_size=V, length=5, batch_size=2, steps=bad)


def test_steps_resolution() -> None:
    """``resolve`` stores the run's ``steps``; without it a built ``steps`` stays and none gives
    ``ceil(log2(L + 1))``; a run's ``steps`` that differs from a built one is refused."""
    assert Bisection().resolve(3, 9).steps == 3
    assert Bisection(steps=3).resolve(None, 9).steps == 3
    assert Bisection(steps=3).resolve(3, 9) == Bisection(steps=3)
    assert [Bisection().resolve(None, n).steps for n in (1, 2, 3, 4, 7, 8, 15, 16)] == [
        1,
        2,
        2,
        3,
        3,
        4,
        4,
        5,
    ]
    with pytest.raises(ValueError, match="steps=2 and was built with steps=3"):
        Bisection(steps=3).resolve(2, 9)
    assert Bisection.takes_steps and not Bisection.uses_grid
