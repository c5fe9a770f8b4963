"""Bad hyperparameters of every masked sampler and corrector: each raises a ValueError or TypeError
that names the argument and the value, at construction, or at ``resolve(steps, length)`` / the
start of ``unmask.sample`` when the check needs the length, before any denoiser call. Also the
documented rules for sizes and block lengths that are legal although they do not fit exactly."""

from __future__ import annotations

import itertools
import math
import re

import pytest
import torch

import unmask
from unmask.samplers import registry
from unmask.samplers.correctors import (
    Corrector,
    ForwardBackward,
    Informed,
    PredictorCorrector,
    ReMDM,
    UniformGibbs,
)
from unmask.samplers.k_random import KRandom
from unmask.samplers.planned import EntropyBounded, SemiAutoregressive, Threshold, TopK
from unmask.targets import MarkovChain

V, L = 3, 5
NAN, INF = math.nan, math.inf

#: The samplers that share ``k``, ``sizes`` and ``blocks`` (block_sizes.BlockSizes).
SIZED = ("k-random", "top-k", "dilated", "low-confidence-remasking")


class Counting:
    """The tiny chain's denoiser, counting its calls (an error must come before the first)."""

    def __init__(self) -> None:
        self.denoiser = MarkovChain.random(V, L, seed=0).denoiser()
        self.calls = 0

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.denoiser(x_t, t)


def run(sampler, **options) -> unmask.SampleResult:
    """``unmask.sample`` on the tiny chain (V = 3, L = 5) with ``sampler``."""
    arguments = {"vocab_size": V, "length": L, "batch_size": 2, "generator": 0}
    arguments.update(options)
    return unmask.sample(MarkovChain.random(V, L, seed=0).denoiser(), sampler, **arguments)


def raises_before_any_call(error: type[Exception], match: str, sampler, **options) -> None:
    """Assert that ``unmask.sample`` raises ``error`` matching ``match`` without calling the model."""
    denoiser = Counting()
    arguments = {"vocab_size": V, "length": L, "batch_size": 2, "generator": 0}
    arguments.update(options)
    with pytest.raises(error, match=match):
        unmask.sample(denoiser, sampler, **arguments)
    assert denoiser.calls == 0


# -- eb, certified -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (-1, ValueError, r"gamma must be a finite number >= 0 \(nats\), got -1"),
        (-1e-9, ValueError, r"gamma must be a finite number >= 0 \(nats\), got -1e-09"),
        (NAN, ValueError, r"gamma must be a finite number >= 0 \(nats\), got nan"),
        (INF, ValueError, r"gamma must be a finite number >= 0 \(nats\), got inf"),
        (True, TypeError, r"gamma must be a number >= 0 \(nats\), got True \(bool\)"),
        ("0.1", TypeError, r"gamma must be a number >= 0 \(nats\), got '0\.1' \(str\)"),
        (None, TypeError, r"gamma must be a number >= 0 \(nats\), got None"),
    ],
)
def test_eb_gamma(value, error, message) -> None:
    """EB's gamma must be a finite real number >= 0 (bool and str refused)."""
    with pytest.raises(error, match=message):
        registry.get("eb", gamma=value)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (-1, ValueError, r"kl_budget must be a finite number >= 0.*got -1"),
        (NAN, ValueError, r"kl_budget must be a finite number >= 0.*got nan"),
        (INF, ValueError, r"kl_budget must be a finite number >= 0.*got inf"),
        (True, TypeError, r"kl_budget must be a number >= 0.*got True"),
        ("0.1", TypeError, r"kl_budget must be a number >= 0.*got '0\.1'"),
    ],
)
def test_certified_kl_budget(value, error, message) -> None:
    """Certified's kl_budget must be a finite real number >= 0."""
    with pytest.raises(error, match=message):
        registry.get("certified", kl_budget=value)


def test_eb_gamma_zero_and_numpy_scalars_are_valid() -> None:
    """gamma = 0 (exact) and a numpy float are accepted as before."""
    np = pytest.importorskip("numpy")
    assert registry.get("eb", gamma=0).is_exact
    assert registry.get("eb", gamma=np.float32(0.25)).gamma == np.float32(0.25)


# -- names of scores, proxies, confidences, variants -------------------------------------------------
@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: registry.get("top-k", score="prob"),
            r"score must be one of 'confidence', 'margin', 'entropy', got 'prob'",
        ),
        (lambda: registry.get("top-k", score=None), r"score must be one of .*got None"),
        (lambda: registry.get("eb", proxy="entropies"), r"proxy must be one of .*got 'entropies'"),
        (lambda: registry.get("certified", proxy="Entropy"), r"proxy must be one of .*got 'Entropy'"),
        (lambda: Informed(confidence="logit"), r"confidence must be 'margin' or 'probability', got 'logit'"),
        (
            lambda: registry.get("remdm", variant="conf"),
            r"variant 'conf' is spelled 'confidence' here",
        ),
        (
            lambda: ReMDM(variant="CAP"),
            r"variant must be one of 'cap', 'rescale', 'loop', 'confidence', got 'CAP'",
        ),
    ],
)
def test_unknown_names(build, message) -> None:
    """A score, proxy, confidence or variant that is not a known name raises, listing the names."""
    with pytest.raises(ValueError, match=message):
        build()


# -- k, sizes, blocks (k-random, top-k, dilated, low-confidence-remasking) ---------------------------
SIZE_ERRORS = [
    ({"k": 0}, ValueError, r"k must be an integer >= 1, got 0"),
    ({"k": -2}, ValueError, r"k must be an integer >= 1, got -2"),
    ({"k": 2.0}, TypeError, r"k must be an integer >= 1, got 2\.0 \(float\)"),
    ({"k": True}, TypeError, r"k must be an integer >= 1, got True \(bool\)"),
    ({"k": "2"}, TypeError, r"k must be an integer >= 1, got '2' \(str\)"),
    ({"sizes": (2, 0, 3)}, ValueError, r"sizes\[1\] must be an integer >= 1, got 0"),
    ({"sizes": (2, 2, -1)}, ValueError, r"sizes\[2\] must be an integer >= 1, got -1"),
    ({"sizes": (2.0, 3)}, TypeError, r"sizes\[0\] must be an integer >= 1, got 2\.0 \(float\)"),
    ({"sizes": (True, 4)}, TypeError, r"sizes\[0\] must be an integer >= 1, got True \(bool\)"),
    ({"sizes": ()}, ValueError, r"sizes must hold at least one block size, got an empty sequence \(\)"),
    ({"sizes": []}, ValueError, r"sizes must hold at least one block size, got an empty sequence \[\]"),
    ({"sizes": "23"}, TypeError, r"sizes must be a sequence of positive integers.*got '23' \(str\)"),
    ({"sizes": 5}, TypeError, r"sizes must be a sequence of positive integers.*got 5 \(int\)"),
    ({"sizes": torch.ones(2, 2, dtype=torch.long)}, TypeError, r"sizes must be a sequence.*shape \(2, 2\)"),
    ({"blocks": 0}, ValueError, r"blocks must be an integer >= 1, got 0"),
    ({"blocks": -1}, ValueError, r"blocks must be an integer >= 1, got -1"),
    ({"blocks": 2.5}, TypeError, r"blocks must be an integer >= 1, got 2\.5 \(float\)"),
    ({"blocks": True}, TypeError, r"blocks must be an integer >= 1, got True \(bool\)"),
    ({"k": 2, "blocks": 2}, ValueError, r"give one of k, sizes or blocks to .*got k=2, sizes=None, blocks=2"),
    ({"k": 1, "sizes": (5,)}, ValueError, r"give one of k, sizes or blocks to .*got k=1, sizes=\(5,\)"),
]


@pytest.mark.parametrize("name", SIZED)
@pytest.mark.parametrize(("options", "error", "message"), SIZE_ERRORS)
def test_block_sizes(name, options, error, message) -> None:
    """Bad k / sizes / blocks raise at construction, and the message names the sampler built."""
    with pytest.raises(error, match=message) as raised:
        registry.get(name, **options)
    assert name in str(raised.value)
    assert not [other for other in SIZED if other != name and other in str(raised.value)]


@pytest.mark.parametrize("name", SIZED)
def test_sizes_summing_below_the_length(name) -> None:
    """sizes that sum to less than the length raise at the start of unmask.sample, naming sizes."""
    raises_before_any_call(
        ValueError,
        rf"{re.escape(name)}: sizes \(2, 1\) sum to 3, fewer than the length 5",
        registry.get(name, sizes=(2, 1)),
    )
    with pytest.raises(ValueError, match=r"sizes \(2, 2\) sum to 4, fewer than the length 5"):
        registry.get(name, sizes=[2, 2]).resolve(None, L)


@pytest.mark.parametrize("name", SIZED)
@pytest.mark.parametrize(
    ("sizes", "calls"), [((1, 1, 1, 1, 1), 5), ((2, 2, 1), 3), ((2, 2, 2), 3), ((2, 2, 1, 1), 3), ((7,), 1)]
)
def test_sizes_summing_to_at_least_the_length(name, sizes, calls) -> None:
    """Sizes summing to more than L are legal: calls are capped by what is masked, extra entries unused."""
    result = run(registry.get(name, sizes=sizes))
    assert result.steps == calls and result.nfe == calls
    assert bool((result.tokens < V).all())


@pytest.mark.parametrize("name", SIZED)
def test_sized_sampler_steps_and_sizes_together(name) -> None:
    """steps together with k, sizes or blocks raises, naming both."""
    for options in ({"k": 2}, {"sizes": (3, 2)}, {"blocks": 2}):
        raises_before_any_call(
            ValueError, rf"{re.escape(name)} got steps=3 and also k=", registry.get(name, **options), steps=3
        )


@pytest.mark.parametrize("name", SIZED)
@pytest.mark.parametrize(("options", "calls"), [({"k": 7}, 1), ({"blocks": 7}, 5), ({"steps": 7}, 5)])
def test_sizes_above_the_length(name, options, calls) -> None:
    """k, blocks or steps above the length are legal: one call for all, or one token per call."""
    options = dict(options)
    steps = options.pop("steps", None)
    result = run(registry.get(name, **options), steps=steps)
    assert result.nfe == calls


# -- threshold, factor-threshold ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (0, ValueError, r"threshold must lie in \(0, 1\], got 0"),
        (-0.1, ValueError, r"threshold must lie in \(0, 1\], got -0\.1"),
        (1.5, ValueError, r"threshold must lie in \(0, 1\], got 1\.5"),
        (NAN, ValueError, r"threshold must lie in \(0, 1\], got nan"),
        (INF, ValueError, r"threshold must lie in \(0, 1\], got inf"),
        (True, TypeError, r"threshold must be a number.*got True \(bool\)"),
        ("0.9", TypeError, r"threshold must be a number.*got '0\.9' \(str\)"),
    ],
)
def test_threshold(value, error, message) -> None:
    """threshold must be a number in (0, 1]."""
    with pytest.raises(error, match=message):
        registry.get("threshold", threshold=value)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (0, ValueError, r"factor must be a finite number > 0, got 0"),
        (-1, ValueError, r"factor must be a finite number > 0, got -1"),
        (NAN, ValueError, r"factor must be a finite number > 0, got nan"),
        (INF, ValueError, r"factor must be a finite number > 0, got inf"),
        (True, TypeError, r"factor must be a positive number, got True \(bool\)"),
        ("1", TypeError, r"factor must be a positive number, got '1' \(str\)"),
    ],
)
def test_factor_threshold(value, error, message) -> None:
    """factor-threshold's factor must be a finite number > 0."""
    with pytest.raises(error, match=message):
        registry.get("factor-threshold", factor=value)


@pytest.mark.parametrize("name", ["eb", "threshold", "certified", "factor-threshold"])
def test_steps_to_a_sampler_without_steps(name) -> None:
    """An adaptive sampler refuses steps at the start of unmask.sample."""
    raises_before_any_call(ValueError, rf"{re.escape(name)} takes no steps.*got steps=3", name, steps=3)


# -- ReMDM -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (-0.1, ValueError, r"eta must lie in \[0, 1\], got -0\.1"),
        (1.5, ValueError, r"eta must lie in \[0, 1\], got 1\.5"),
        (NAN, ValueError, r"eta must lie in \[0, 1\], got nan"),
        (INF, ValueError, r"eta must lie in \[0, 1\], got inf"),
        (True, TypeError, r"eta must be a number in \[0, 1\], got True \(bool\)"),
        ("0.05", TypeError, r"eta must be a number in \[0, 1\], got '0\.05' \(str\)"),
    ],
)
@pytest.mark.parametrize("variant", ["cap", "rescale"])
def test_remdm_eta(value, error, message, variant) -> None:
    """ReMDM's eta must lie in [0, 1] for both variants."""
    with pytest.raises(error, match=message):
        registry.get("remdm", eta=value, variant=variant)


def test_remdm_ends_of_eta_are_valid() -> None:
    """eta = 0 (Tweedie's steps) and eta = 1 are accepted and sample."""
    for eta in (0, 1):
        assert bool((run(ReMDM(eta=eta, variant="rescale"), steps=3).tokens < V).all())


# -- predictor-corrector and correctors --------------------------------------------------------------
class NotASampler:
    """Something with a step method that is not a Sampler."""

    name = "not-a-sampler"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: PredictorCorrector(predictor=None, corrector=UniformGibbs()),
            r"predictor must be a Sampler object.*got None",
        ),
        (
            lambda: PredictorCorrector("k-random", UniformGibbs()),
            r"predictor must be a Sampler object.*got 'k-random' \(str\)",
        ),
        (
            lambda: PredictorCorrector(KRandom, UniformGibbs()),
            r"predictor must be a Sampler object.*the class KRandom.*KRandom\(\.\.\.\)",
        ),
        (
            lambda: PredictorCorrector(NotASampler(), UniformGibbs()),
            r"predictor must be a Sampler object.*NotASampler",
        ),
        (lambda: PredictorCorrector(KRandom(), None), r"corrector must be a Corrector object.*got None"),
        (
            lambda: PredictorCorrector(KRandom(), "gibbs"),
            r"corrector must be a Corrector object.*got 'gibbs' \(str\)",
        ),
        (
            lambda: PredictorCorrector(KRandom(), UniformGibbs),
            r"corrector must be a Corrector object.*the class UniformGibbs",
        ),
        (
            lambda: PredictorCorrector(KRandom(), KRandom()),
            r"corrector must be a Corrector object.*\(KRandom\)",
        ),
        (
            lambda: PredictorCorrector(KRandom(), Corrector),
            r"corrector must be a Corrector object.*the class Corrector",
        ),
        (
            lambda: PredictorCorrector(KRandom(), UniformGibbs(), corrector_steps=1.0),
            r"corrector_steps must be a non-negative integer, got 1\.0",
        ),
        (
            lambda: PredictorCorrector(KRandom(), UniformGibbs(), corrector_steps=True),
            r"corrector_steps must be a non-negative integer, got True",
        ),
        (
            lambda: PredictorCorrector(KRandom(), UniformGibbs(), final_steps="1"),
            r"final_steps must be a non-negative integer, got '1'",
        ),
        (
            lambda: PredictorCorrector(KRandom(), UniformGibbs(), steps=2.0),
            r"steps must be an integer >= 1, got 2\.0",
        ),
    ],
)
def test_predictor_corrector_types(build, message) -> None:
    """A non-Sampler predictor or non-Corrector corrector (None, a name, a class) is a TypeError."""
    with pytest.raises(TypeError, match=message):
        build()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: PredictorCorrector(KRandom(), UniformGibbs(), corrector_steps=-1),
            r"corrector_steps must be a non-negative integer, got -1",
        ),
        (
            lambda: PredictorCorrector(registry.get("euler"), UniformGibbs(), final_steps=-2),
            r"final_steps must be a non-negative integer, got -2",
        ),
        (
            lambda: PredictorCorrector(KRandom(), UniformGibbs(), final_steps=1),
            r"final_steps needs a grid predictor.*'k-random'",
        ),
        (
            lambda: PredictorCorrector(registry.get("euler", "uniform"), UniformGibbs()),
            r"'euler' samples the uniform process",
        ),
        (
            lambda: PredictorCorrector(KRandom(), UniformGibbs(), steps=0),
            r"steps must be an integer >= 1, got 0",
        ),
        (
            lambda: PredictorCorrector(registry.get("euler"), UniformGibbs(), final_steps=1).resolve(None, L),
            r"final_steps needs the number of grid steps: pass steps=",
        ),
    ],
)
def test_predictor_corrector_values(build, message) -> None:
    """Negative step counts, final moves without grid or steps, a uniform predictor: ValueError."""
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: UniformGibbs(k=0), ValueError, r"k must be an integer >= 1, got 0"),
        (lambda: UniformGibbs(k=-1), ValueError, r"k must be an integer >= 1, got -1"),
        (lambda: UniformGibbs(k=1.0), TypeError, r"k must be an integer >= 1, got 1\.0 \(float\)"),
        (lambda: UniformGibbs(k=True), TypeError, r"k must be an integer >= 1, got True \(bool\)"),
        (lambda: Informed(k=0), ValueError, r"k must be an integer >= 1, got 0"),
        (lambda: Informed(k="1"), TypeError, r"k must be an integer >= 1, got '1' \(str\)"),
        (lambda: Informed(tau=0), ValueError, r"tau must be a finite number > 0, got 0"),
        (lambda: Informed(tau=-1.0), ValueError, r"tau must be a finite number > 0, got -1"),
        (lambda: Informed(tau=NAN), ValueError, r"tau must be a finite number > 0, got nan"),
        (lambda: Informed(tau=INF), ValueError, r"tau must be a finite number > 0, got inf"),
        (lambda: Informed(tau=True), TypeError, r"tau must be a positive number, got True \(bool\)"),
        (lambda: ForwardBackward(k=0), ValueError, r"k must be an integer >= 1, got 0"),
        (lambda: ForwardBackward(k=2.0), TypeError, r"k must be an integer >= 1, got 2\.0 \(float\)"),
        (lambda: ForwardBackward(p=-0.1), ValueError, r"p must lie in \[0, 1\], got -0\.1"),
        (lambda: ForwardBackward(p=1.5), ValueError, r"p must lie in \[0, 1\], got 1\.5"),
        (lambda: ForwardBackward(p=NAN), ValueError, r"p must lie in \[0, 1\], got nan"),
        (lambda: ForwardBackward(p=True), TypeError, r"p must be a number in \[0, 1\], got True \(bool\)"),
        (lambda: ForwardBackward(k=2, p=0.5), ValueError, r"takes k .* or p .*not both: got k=2, p=0\.5"),
    ],
)
def test_corrector_hyperparameters(build, error, message) -> None:
    """Each corrector's k, tau, p (and k with p) are checked at construction, naming the argument."""
    with pytest.raises(error, match=message):
        build()


def test_corrector_k_above_the_clean_positions_is_capped() -> None:
    """The documented rule: a corrector k above the clean positions resamples all of them."""
    result = run(PredictorCorrector(KRandom(), UniformGibbs(k=9)))
    assert bool((result.tokens < V).all())


# -- semi-autoregressive -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: SemiAutoregressive(TopK(), 0), ValueError, r"block_length must be an integer >= 1, got 0"),
        (lambda: SemiAutoregressive(TopK(), -4), ValueError, r"block_length must be an integer >= 1, got -4"),
        (
            lambda: SemiAutoregressive(TopK(), 2.0),
            TypeError,
            r"block_length must be an integer >= 1, got 2\.0",
        ),
        (
            lambda: SemiAutoregressive(TopK(), True),
            TypeError,
            r"block_length must be an integer >= 1, got True",
        ),
        (
            lambda: SemiAutoregressive("top-k", 2),
            TypeError,
            r"inner must be a planner object.*got 'top-k' \(str\)",
        ),
        (
            lambda: SemiAutoregressive(TopK, 2),
            TypeError,
            r"inner must be a planner object.*the class TopK.*TopK\(\.\.\.\)",
        ),
        (lambda: SemiAutoregressive(KRandom(), 2), TypeError, r"inner must be a planner object.*\(KRandom\)"),
        (lambda: SemiAutoregressive(TopK(), 2, steps=0), ValueError, r"steps must be an integer >= 1, got 0"),
        (
            lambda: registry.get("semi-autoregressive", block_length=0),
            ValueError,
            r"block_length must be an integer >= 1, got 0",
        ),
    ],
)
def test_semi_autoregressive_construction(build, error, message) -> None:
    """block_length must be an integer >= 1 and inner a planner object."""
    with pytest.raises(error, match=message):
        build()


@pytest.mark.parametrize(
    ("sampler", "steps", "error", "message"),
    [
        (
            SemiAutoregressive(TopK(), 2),
            2,
            ValueError,
            r"at least one step per block: 3 blocks of 2 positions on length 5, got steps=2",
        ),
        (
            SemiAutoregressive(TopK(), 1),
            4,
            ValueError,
            r"at least one step per block: 5 blocks .*got steps=4",
        ),
        (
            SemiAutoregressive(TopK(k=2), 2),
            3,
            ValueError,
            r"got steps=3 and also its inner top-k sizes \(k=2",
        ),
        (
            SemiAutoregressive(EntropyBounded(), 2),
            3,
            ValueError,
            r"semi-autoregressive takes no steps.*got steps=3",
        ),
        (
            SemiAutoregressive(Threshold(), 2),
            3,
            ValueError,
            r"semi-autoregressive takes no steps.*got steps=3",
        ),
        (
            SemiAutoregressive(TopK(sizes=(1, 1)), 2),
            None,
            ValueError,
            r"top-k: sizes \(1, 1\) sum to 2, fewer than the length 5",
        ),
        (SemiAutoregressive(TopK(), 2), 0, ValueError, r"steps must be an integer >= 1, got 0"),
    ],
)
def test_semi_autoregressive_run(sampler, steps, error, message) -> None:
    """Too few steps, steps with inner sizes or an adaptive inner, short inner sizes raise at start."""
    raises_before_any_call(error, message, sampler, steps=steps)


@pytest.mark.parametrize(
    ("block_length", "steps", "calls"),
    [
        (2, 3, 3),
        (2, 4, 4),
        (2, 5, 5),
        (3, 2, 2),
        (3, 4, 4),
        (4, 2, 2),
        (4, 4, 4),
        (4, 5, 5),
        (7, 3, 3),
        (2, 9, 5),
    ],
)
def test_semi_autoregressive_short_last_block(block_length, steps, calls) -> None:
    """A block_length not dividing L is legal; a full row then takes exactly min(steps, L) calls."""
    result = run(SemiAutoregressive(TopK(), block_length), steps=steps)
    assert result.nfe == calls == min(steps, L)
    assert bool((result.tokens < V).all())


def test_semi_autoregressive_split_gives_unused_steps_to_earlier_blocks() -> None:
    """A short last block's unusable share of steps goes to the earlier blocks."""
    assert SemiAutoregressive(TopK(), 4).resolve(4, 5).inner.sizes == (2, 1, 1, 1)
    assert SemiAutoregressive(TopK(), 6).resolve(8, 8).inner.sizes == (1,) * 8
    assert SemiAutoregressive(TopK(), 4).resolve(5, 10).inner.sizes == (2, 2, 2, 2, 2)  # unchanged


def test_semi_autoregressive_prompt_rows_never_exceed_steps() -> None:
    """With any prompt pattern, no row takes more calls than steps."""
    patterns = [p for p in itertools.product((0, 1), repeat=L) if any(p)]
    prompt = torch.tensor([[V if free else 0 for free in p] for p in patterns])
    for block_length in range(1, L + 1):
        for steps in range(-(-L // block_length), L + 2):
            result = run(
                SemiAutoregressive(TopK(), block_length),
                prompt=prompt,
                steps=steps,
                batch_size=None,
                length=None,
            )
            assert int(result.nfe_per_row.max()) <= steps
            assert bool((result.tokens < V).all())
