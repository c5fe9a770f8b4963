"""The options record: every option is checked once, with a message naming it, and the public
functions accept exactly its fields as keywords."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from unmask import MaskedProcess, UniformProcess
from unmask.likelihood import (
    LikelihoodOptions,
    draw_moments,
    log_ratio,
    nelbo,
    ratio_moments,
    unit_moments,
)
from unmask.likelihood.estimators import TimeIntegral
from unmask.schedules import CosineSchedule, LinearSchedule

X = torch.tensor([[0, 1, 2, 1], [2, 2, 0, 1]])


def never_called(z, t):
    raise AssertionError("the denoiser was called before the options were checked")


@pytest.mark.parametrize(
    "options,error,match",
    [
        ({"method": 3}, TypeError, "method must be a string"),
        ({"method": "elbo"}, ValueError, "unknown method 'elbo'; known methods: time-integral"),
        ({"samples": 0}, ValueError, "samples must be an integer >= 1, got 0"),
        ({"samples": 2.5}, TypeError, "samples must be an integer >= 1, got 2.5"),
        ({"schedule": "linear"}, TypeError, "schedule must be a Schedule, got str"),
        ({"process": "masked"}, TypeError, "process must be a MaskedProcess or a UniformProcess, got str"),
        ({"process": MaskedProcess(), "schedule": CosineSchedule()}, ValueError, "schedule .* not both"),
        ({"eps": 1.5}, ValueError, "eps must lie in \\(0, 1\\), got 1.5"),
        ({"eps": "small"}, TypeError, "eps must be a number"),
        ({"method": "time-integral", "variant": "sobol"}, ValueError, "variant must be one of .* 'sobol'"),
        ({"variant": "antithetic"}, ValueError, "variant='antithetic' applies to method='time-integral'"),
        ({"strata": 1}, ValueError, "strata must be an integer >= 2, got 1"),
        ({"method": "discrete", "steps": 0}, ValueError, "steps must be an integer >= 1, got 0"),
        ({"method": "discrete"}, ValueError, "method='discrete' needs steps"),
        ({"steps": 4}, ValueError, "steps applies to method='discrete', not 'time-free'"),
        ({"method": "exact", "steps": 4}, ValueError, "method='exact' takes no variant or steps"),
        ({"response": [True, False]}, TypeError, "response must be a bool tensor .* got list"),
        ({"response": torch.ones(4)}, TypeError, "response must be a bool tensor .* torch.float32"),
        ({"response": torch.ones(1, 2, 3, dtype=torch.bool)}, ValueError, "response must have shape"),
        ({"target_stderr": 0.0}, ValueError, "target_stderr must be a finite number > 0, got 0.0"),
        ({"max_samples": 10}, ValueError, "max_samples caps a target_stderr run"),
        ({"target_stderr": 0.1, "max_samples": 0}, ValueError, "max_samples must be an integer >= 1"),
        ({"max_rows": 0}, ValueError, "max_rows must be an integer >= 1, got 0"),
        ({"progress": "bar"}, TypeError, "progress must be callable"),
        ({"process": UniformProcess(), "method": "time-free"}, ValueError, "'time-free' is for the masked"),
        ({"process": UniformProcess(), "method": "exact", "eps": 0.1}, ValueError, "eps is the masked"),
        ({"process": UniformProcess(), "method": "discrete"}, ValueError, "needs steps=N"),
        (
            {"process": UniformProcess(), "method": "time-integral", "steps": 3},
            ValueError,
            "steps applies to method='discrete' \\(or 'exact'\\)",
        ),
        (
            {"process": UniformProcess(), "method": "discrete", "steps": 3, "variant": "stratified"},
            ValueError,
            "variant='stratified' applies to continuous time only",
        ),
        ({"process": UniformProcess(), "method": "exact", "variant": "antithetic"}, ValueError, "no variant"),
    ],
)
def test_each_bad_option_is_refused_naming_it(options, error, match):
    """The record refuses each bad option with a message naming the option, its value and what was
    expected; nelbo refuses it the same way before any denoiser call."""
    with pytest.raises(error, match=match):
        LikelihoodOptions(**options)
    with pytest.raises(error, match=match):
        nelbo(never_called, X, 3, **options)


def test_defaults_resolve_to_the_documented_choices():
    """No options: time-free on the masked process with the linear schedule, the clip 1e-3 and a
    budget of 128 draws in calls of at most 4096 rows; the record is frozen."""
    options = LikelihoodOptions()
    assert options.forward_process == MaskedProcess(LinearSchedule()) and not options.uniform
    assert options.clip == 1e-3
    assert (options.budget.samples, options.budget.max_rows, options.budget.cap()) == (128, 4096, 128)
    assert options.masked_estimator().name == "time-free"
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.samples = 3  # type: ignore[misc]
    chosen = LikelihoodOptions(method="time-integral", eps=1e-2, variant="stratified", strata=4)
    assert chosen.masked_estimator() == TimeIntegral(LinearSchedule(), 1e-2, "stratified", 4)
    uniform = LikelihoodOptions(method="discrete", steps=5, process=UniformProcess())
    assert uniform.uniform and uniform.uniform_bound().steps == 5 and uniform.eps is None


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: nelbo(never_called, X, 3, sample=5), "nelbo"),
        (lambda: log_ratio(never_called, X, X, 3, t_min=0.1), "log_ratio"),
        (lambda: draw_moments(never_called, X, 3, samples=5), "draw_moments"),
        (lambda: ratio_moments(never_called, X, X, 3, max_rows=5), "ratio_moments"),
        (lambda: unit_moments(torch.zeros(2, 16), progress=print), "unit_moments"),
    ],
)
def test_an_unknown_keyword_is_refused_listing_the_accepted_ones(call, name):
    """A keyword outside the record (or a budget given to the exact moments) raises a TypeError
    naming the function, the keyword and every keyword it accepts."""
    with pytest.raises(TypeError) as error:
        call()
    message = str(error.value)
    assert message.startswith(f"{name}() got an unexpected keyword argument"), message
    assert "it accepts method, " in message and "schedule, process, eps, variant" in message, message
    budget = "samples" in message.split("it accepts")[1]
    assert budget == (name in ("nelbo", "log_ratio")), message


def test_moments_need_a_masked_monte_carlo_method():
    """The exact moments of one draw exist for the masked Monte-Carlo estimators only."""
    with pytest.raises(ValueError, match="draw_moments .* method='exact' on the masked process"):
        draw_moments(never_called, X, 3, "exact")
    with pytest.raises(ValueError, match="on the uniform process"):
        draw_moments(never_called, X, 3, "time-integral", process=UniformProcess())
