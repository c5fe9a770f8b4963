"""Bad input to ``unmask.sample`` and ``unmask.exact.output_law``: every error is a ValueError or
TypeError that names the argument and the value, raised before the denoiser is called (checks of
the denoiser's own output necessarily happen at its first call, and then nothing else runs)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

import unmask
from unmask import MaskedProcess, UniformProcess
from unmask.schedules import GeometricSchedule, LogLinearSchedule
from unmask.targets import MarkovChain

V, L, B = 3, 4, 2


class Recording:
    """A time-agnostic denoiser that counts its calls; ``make(x_t)`` builds its output."""

    time_agnostic = True

    def __init__(self, make: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.calls = 0
        self.make = make or (lambda x: torch.zeros(x.shape[0], x.shape[1], V))

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.make(x_t)


def small_target() -> MarkovChain:
    """A chain with V = 3, L = 4 (the exact law has (V + 1)^L = 256 partial states)."""
    return MarkovChain.random(vocab_size=V, length=L, concentration=0.5, seed=0)


def _sample(denoiser, sampler="euler", **options):
    arguments = {"vocab_size": V, "steps": 2, "generator": 0}
    if "prompt" not in options:
        arguments.update(length=L, batch_size=B)
    arguments.update(options)
    return unmask.sample(denoiser, sampler, **arguments)


# (label, options for unmask.sample, error type, regex the message must match)
SAMPLE_ERRORS = [
    (
        "prompt id above V",
        {"prompt": torch.tensor([[0, 4, 1, 3]])},
        ValueError,
        r"prompt holds the id 4.*0\.\.2 or 3",
    ),
    ("prompt id below 0", {"prompt": torch.tensor([[0, -1, 1, 3]])}, ValueError, r"prompt holds the id -1"),
    (
        "prompt 1-D",
        {"prompt": torch.tensor([0, 1, 2, 3])},
        ValueError,
        r"prompt must have shape \[B, L\].*\(4,\)",
    ),
    (
        "prompt float",
        {"prompt": torch.zeros(B, L)},
        TypeError,
        r"prompt must hold integer token ids.*float32",
    ),
    ("prompt list", {"prompt": [[0, 1, 2, 3]]}, TypeError, r"prompt must be a LongTensor.*list"),
    (
        "prompt vs length",
        {"prompt": torch.zeros(B, L, dtype=torch.long), "length": 5},
        ValueError,
        r"length=5",
    ),
    ("steps 0", {"steps": 0}, ValueError, r"steps must be an integer >= 1, got 0"),
    ("steps -3", {"steps": -3}, ValueError, r"steps must be an integer >= 1, got -3"),
    ("steps float", {"steps": 2.5}, TypeError, r"steps must be an integer >= 1, got 2\.5"),
    ("steps bool", {"steps": True}, TypeError, r"steps must be an integer >= 1, got True"),
    ("steps missing", {"steps": None}, ValueError, r"steps is required"),
    ("vocab 0", {"vocab_size": 0}, ValueError, r"vocab_size must be an integer >= 1, got 0"),
    ("vocab float", {"vocab_size": 3.0}, TypeError, r"vocab_size must be an integer >= 1, got 3\.0"),
    ("batch 0", {"batch_size": 0}, ValueError, r"batch_size must be an integer >= 1, got 0"),
    (
        "grid above 1",
        {"steps": None, "grid": [1.2, 0.5, 0.0]},
        ValueError,
        r"grid must lie in \[0, 1\].*1\.2",
    ),
    (
        "grid below 0",
        {"steps": None, "grid": [1.0, 0.5, -0.5]},
        ValueError,
        r"grid must lie in \[0, 1\].*-0\.5",
    ),
    (
        "grid NaN",
        {"steps": None, "grid": [1.0, float("nan"), 0.0]},
        ValueError,
        r"grid must lie in \[0, 1\].*nan",
    ),
    (
        "grid increasing",
        {"steps": None, "grid": [1.0, 0.4, 0.6, 0.0]},
        ValueError,
        r"grid must be strictly decreasing",
    ),
    (
        "grid repeated",
        {"steps": None, "grid": [1.0, 0.5, 0.5, 0.0]},
        ValueError,
        r"grid must be strictly decreasing",
    ),
    (
        "grid vs steps",
        {"steps": 3, "grid": [1.0, 0.5, 0.0]},
        ValueError,
        r"steps=3 disagrees with the given grid",
    ),
    ("grid kind", {"grid": "cosine"}, ValueError, r"unknown grid 'cosine'"),
    (
        "draw dtype",
        {"draw_dtype": torch.float16},
        ValueError,
        r"draw dtype must be torch\.float64 or torch\.float32",
    ),
    (
        "process",
        {"process": "masked"},
        TypeError,
        r"process must be a MaskedProcess or a UniformProcess, got str",
    ),
    ("generator", {"generator": "seed"}, TypeError, r"generator must be a torch\.Generator.*str"),
    ("negative seed", {"generator": -1}, ValueError, r"generator must be a non-negative integer, got -1"),
    (
        "steps too many",
        {"steps": 10**12},
        ValueError,
        r"steps must be at most 1,000,000, got 1,000,000,000,000",
    ),
    ("steps bool", {"steps": True}, TypeError, r"steps must be an integer >= 1, got True"),
    ("steps numpy float", {"steps": np.float64(2.0)}, TypeError, r"steps must be an integer >= 1"),
    (
        "trajectory too large",
        {"steps": 10**6, "batch_size": 100, "return_trajectory": True},
        ValueError,
        r"return_trajectory=True would keep up to 1,000,002 states of \[B, L\] = \[100, 4\].*2\*\*28",
    ),
    (
        "vocab_size disagrees with the exact denoiser",
        {"vocab_size": 5},
        ValueError,
        r"vocab_size=5 disagrees with the denoiser, whose logits have last dimension 3.*pass vocab_size=3",
    ),
    (
        "final_denoise not a bool",
        {"final_denoise": "yes"},
        TypeError,
        r"final_denoise must be True, False or None",
    ),
]


@pytest.mark.parametrize(
    ("label", "options", "error", "match"), SAMPLE_ERRORS, ids=[c[0] for c in SAMPLE_ERRORS]
)
def test_sample_rejects_bad_arguments_before_any_call(label, options, error, match):
    """Each bad argument raises with a message naming it and its value; the denoiser is never called."""
    denoiser = Recording()
    denoiser.vocab_size = V  # declared, as exact target denoisers do
    with pytest.raises(error, match=match):
        _sample(denoiser, **options)
    assert denoiser.calls == 0, label


def test_sample_names_known_samplers_and_hyperparameters():
    """An unknown sampler name lists the known ones; an unknown hyperparameter lists the accepted
    ones (and no class attributes); a sampler of the other process is refused; first-hitting
    refuses steps. The denoiser is never called."""
    denoiser = Recording()
    known = ", ".join(unmask.samplers.names("masked"))
    with pytest.raises(
        ValueError, match=rf"unknown sampler 'eulr' for the masked process; known samplers: {known}"
    ):
        _sample(denoiser, "eulr")
    with pytest.raises(TypeError, match=r"sampler must be a name \(.*euler.*\) or a Sampler object, got int"):
        _sample(denoiser, 3)
    with pytest.raises(TypeError, match=r"'trapezoidal' has no hyperparameter 'thta'; it accepts: theta$"):
        unmask.samplers.get("trapezoidal", thta=0.3)
    with pytest.raises(ValueError, match=r"theta must lie in \(0, 1\), got 1\.5"):
        unmask.samplers.get("trapezoidal", theta=1.5)
    with pytest.raises(ValueError, match=r"first-hitting takes no steps.*steps=3"):
        _sample(denoiser, "first-hitting", steps=3)
    with pytest.raises(ValueError, match=r"unknown sampler 'first-hitting' for the uniform process"):
        _sample(denoiser, "first-hitting", steps=None, process=UniformProcess())
    with pytest.raises(ValueError, match=r"sampler 'tweedie' is for the masked process.*uniform"):
        _sample(denoiser, unmask.samplers.get("tweedie"), process=UniformProcess())
    with pytest.raises(TypeError, match=r"denoiser must be callable.*int"):
        _sample(3)
    assert denoiser.calls == 0


# (label, the denoiser's output for input x, error type, regex)
OUTPUT_ERRORS = [
    (
        "mask column",
        lambda x: torch.zeros(x.shape[0], L, V + 1),
        ValueError,
        r"shape \(2, 4, 4\), expected \(2, 4, 3\).*mask column",
    ),
    (
        "vocabulary",
        lambda x: torch.zeros(x.shape[0], L, V + 2),
        ValueError,
        r"vocabulary 5, but vocab_size=3",
    ),
    (
        "length",
        lambda x: torch.zeros(x.shape[0], L + 1, V),
        ValueError,
        r"shape \(2, 5, 3\), expected \(2, 4, 3\)",
    ),
    ("batch", lambda x: torch.zeros(1, L, V), ValueError, r"shape \(1, 4, 3\), expected \(2, 4, 3\)"),
    ("not a tensor", lambda x: x.tolist(), TypeError, r"must return a tensor of logits, got list"),
    ("integer", lambda x: torch.zeros(x.shape[0], L, V, dtype=torch.long), TypeError, r"float logits"),
    (
        "NaN",
        lambda x: torch.zeros(x.shape[0], L, V).index_fill_(2, torch.tensor([1]), float("nan")),
        ValueError,
        r"NaN logits",
    ),
    (
        "+inf",
        lambda x: torch.zeros(x.shape[0], L, V).index_fill_(1, torch.tensor([2]), float("inf")),
        ValueError,
        r"\+inf logits",
    ),
    ("all -inf", lambda x: torch.full((x.shape[0], L, V), float("-inf")), ValueError, r"all -inf"),
]


@pytest.mark.parametrize(
    ("label", "make", "error", "match"), OUTPUT_ERRORS, ids=[c[0] for c in OUTPUT_ERRORS]
)
@pytest.mark.parametrize("sampler", ["euler", "first-hitting", "trapezoidal"])
def test_sample_checks_the_denoiser_output_at_the_first_call(label, make, error, match, sampler):
    """A bad denoiser output raises at the first call, before anything is drawn from it."""
    denoiser = Recording(make)
    steps = None if sampler == "first-hitting" else 2
    with pytest.raises(error, match=match):
        _sample(denoiser, sampler, steps=steps)
    assert denoiser.calls == 1, label


def test_uniform_process_checks_the_denoiser_output():
    """The uniform process checks the denoiser output the same way."""
    if "tweedie" not in unmask.samplers.names("uniform"):
        pytest.skip("no uniform tweedie sampler registered")
    denoiser = Recording(lambda x: torch.zeros(x.shape[0], L, V + 1))
    with pytest.raises(ValueError, match="mask column"):
        _sample(denoiser, "tweedie", process=UniformProcess())
    assert denoiser.calls == 1


@pytest.mark.parametrize(
    "schedule", [LogLinearSchedule(), GeometricSchedule()], ids=["log-linear", "geometric"]
)
@pytest.mark.parametrize("sampler", ["euler", "first-hitting"])
def test_prior_mismatch_warns(schedule, sampler):
    """A masked sampler on a schedule with alpha(1) > 0 warns (UserWarning) that starting from
    all-mask is a prior mismatch, naming the schedule and alpha(1), before any call."""
    steps = None if sampler == "first-hitting" else 2

    class Failing(Recording):
        def __call__(self, x_t, t):
            raise RuntimeError("called")

    with (
        pytest.warns(
            UserWarning, match=rf"the {schedule.name} schedule has alpha\(1\) = .* > 0.*prior mismatch"
        ),
        pytest.raises(RuntimeError, match="called"),
    ):
        _sample(Failing(), sampler, steps=steps, process=MaskedProcess(schedule))


def test_no_prior_warning_for_exact_schedules(recwarn):
    """Linear and cosine schedules (alpha(1) = 0) do not warn."""
    for name in ("linear", "cosine"):
        _sample(Recording(), "euler", process=MaskedProcess(unmask.schedules.get_schedule(name)))
    assert not [w for w in recwarn if "prior mismatch" in str(w.message)]


# -- exact output laws --------------------------------------------------------------------------

LAW_ERRORS = [
    ("unknown sampler", {"sampler": "eulr"}, ValueError, r"unknown sampler 'eulr'.*known samplers: .*euler"),
    ("steps 0", {"steps": 0}, ValueError, r"steps must be an integer >= 1, got 0"),
    ("steps float", {"steps": 1.5}, TypeError, r"steps must be an integer >= 1, got 1\.5"),
    ("steps missing", {"steps": None}, ValueError, r"steps is required"),
    (
        "first-hitting steps",
        {"sampler": "first-hitting", "steps": 2},
        ValueError,
        r"first-hitting takes no steps",
    ),
    ("grid above 1", {"steps": None, "grid": [1.5, 0.0]}, ValueError, r"grid must lie in \[0, 1\].*1\.5"),
    ("grid increasing", {"steps": None, "grid": [1.0, 0.2, 0.4, 0.0]}, ValueError, r"strictly decreasing"),
    ("start", {"start": "noise"}, ValueError, r"start must be 'exact' or 'prior', got 'noise'"),
    ("process", {"process": 3}, TypeError, r"process must be a MaskedProcess or a UniformProcess, got int"),
    ("steps too many", {"steps": 10**7}, ValueError, r"steps must be at most 1,000,000, got 10,000,000"),
]


@pytest.mark.parametrize(("label", "options", "error", "match"), LAW_ERRORS, ids=[c[0] for c in LAW_ERRORS])
def test_output_law_rejects_bad_arguments_before_any_call(label, options, error, match):
    """output_law raises with a message naming the bad argument; the denoiser is never called."""
    denoiser = Recording()
    options = {"sampler": "euler", "steps": 2, **options}
    sampler, steps = options.pop("sampler"), options.pop("steps")
    with pytest.raises(error, match=match):
        unmask.exact.output_law(small_target(), sampler, steps, denoiser=denoiser, **options)
    assert denoiser.calls == 0, label


@pytest.mark.parametrize(
    ("label", "make", "error", "match"),
    OUTPUT_ERRORS[:3] + OUTPUT_ERRORS[6:],
    ids=[c[0] for c in OUTPUT_ERRORS[:3] + OUTPUT_ERRORS[6:]],
)
def test_output_law_checks_the_denoiser_output(label, make, error, match):
    """output_law checks a given denoiser's output at its first call (batch sizes differ there)."""
    denoiser = Recording(make)
    match = match.replace(r"\(2, ", r"\(\d+, ")
    with pytest.raises(error, match=match):
        unmask.exact.output_law(small_target(), "euler", 2, denoiser=denoiser)
    assert denoiser.calls == 1, label


def test_output_law_warns_on_prior_mismatch():
    """The exact law warns about the prior mismatch like the sampler does."""
    with pytest.warns(UserWarning, match=r"log-linear schedule has alpha\(1\) = 0\.001 > 0.*prior mismatch"):
        unmask.exact.output_law(small_target(), "euler", 2, process=MaskedProcess(LogLinearSchedule()))


def test_too_large_targets_say_how_large_and_why():
    """probs() and output_law refuse targets whose tables are too large, giving the size (V, L and
    the count) and the reason; output_law does so before building or calling any denoiser."""
    big = MarkovChain.random(vocab_size=5, length=12, concentration=0.5, seed=0)
    with pytest.raises(ValueError, match=r"5\*\*12 = 244140625.*dense"):
        big.probs()
    denoiser = Recording()
    with pytest.raises(ValueError, match=r"\(V \+ 1\)\^L = 6\^12 = 2,176,782,336.*enumerates every state"):
        unmask.exact.output_law(big, "euler", 2, denoiser=denoiser)
    with pytest.raises(ValueError, match=r"states V\^L = 5\^12.*enumerates every state"):
        unmask.exact.output_law(big, "euler", 2, denoiser=denoiser, process=UniformProcess())
    assert denoiser.calls == 0


# -- issue "Honest numbers, safe files, clear errors" ----------------------------------------------


@pytest.mark.parametrize(
    ("target", "match"),
    [
        (small_target().denoiser(), r"target must be an exact target.*got ExactMaskedDenoiser.*denoiser="),
        (None, r"target must be an exact target.*MarkovChain.*got NoneType"),
    ],
)
def test_output_law_takes_a_target_not_a_denoiser(target, match):
    with pytest.raises(TypeError, match=match):
        unmask.exact.output_law(target, "euler", steps=2)


def test_exact_law_refuses_a_denoiser_of_another_vocabulary():
    other = MarkovChain.random(vocab_size=V + 1, length=L, seed=0).denoiser()
    with pytest.raises(ValueError, match=r"vocab_size=3 disagrees with the denoiser.*last dimension 4"):
        unmask.exact.output_law(small_target(), "euler", steps=2, denoiser=other)


def test_numpy_integers_give_the_same_tokens_as_python_ints():
    target = small_target()
    plain = unmask.sample(
        target.denoiser(), "euler", vocab_size=V, length=L, batch_size=B, steps=4, generator=7
    )
    numpy = unmask.sample(
        target.denoiser(), "euler", vocab_size=np.int64(V), length=np.int64(L), batch_size=np.int32(B),
        steps=np.int64(4), generator=np.int64(7),
    )  # fmt: skip
    assert torch.equal(plain.tokens, numpy.tokens)
    law = unmask.exact.output_law(target, "euler", steps=np.int64(4))
    assert torch.equal(law, unmask.exact.output_law(target, "euler", steps=4))


def test_final_denoise_false_warns_on_the_masked_process():
    target = small_target()
    with pytest.warns(UserWarning, match=r"final_denoise=False is ignored by the masked process"):
        ignored = _sample(target.denoiser(), final_denoise=False)
    assert torch.equal(ignored.tokens, _sample(target.denoiser()).tokens)
    assert torch.equal(ignored.tokens, _sample(target.denoiser(), final_denoise=True).tokens)


def test_uniform_final_denoise_defaults_to_true():
    process = UniformProcess()
    target = small_target()
    denoiser = process.exact_denoiser(target)
    default = _sample(denoiser, "tau-leaping", process=process, steps=4)
    explicit = _sample(denoiser, "tau-leaping", process=process, steps=4, final_denoise=True)
    assert torch.equal(default.tokens, explicit.tokens)


def test_a_denoiser_returning_probabilities_warns_once():
    denoiser = Recording(lambda x: torch.full((x.shape[0], x.shape[1], V), 1 / V))
    with pytest.warns(UserWarning, match=r"looks like probabilities.*must return logits.*probs\.log\(\)"):
        _sample(denoiser, steps=3)


def test_logits_do_not_warn(recwarn):
    _sample(small_target().denoiser(), steps=3)
    _sample(Recording(lambda x: torch.full((x.shape[0], x.shape[1], V), 0.5)), steps=3)
    assert not [w for w in recwarn if "probabilities" in str(w.message)]
