"""Bad input fails before any denoiser call, with an error naming the argument and the value."""

from __future__ import annotations

import pytest
import torch

from unmask import MaskedProcess, UniformProcess
from unmask.likelihood import conditional_nelbo, log_ratio, nelbo
from unmask.schedules import CosineSchedule, LogLinearSchedule
from unmask.targets import MarkovChain

TARGET = MarkovChain.random(3, 4, seed=1)
X = torch.tensor([[0, 1, 2, 1], [2, 2, 0, 1]])


def never_called(z, t):
    raise AssertionError("the denoiser was called before the input was checked")


@pytest.mark.parametrize(
    "x,options,error,match",
    [
        (torch.zeros(0, 4, dtype=torch.long), {}, ValueError, "at least one sequence"),
        (torch.zeros(2, 0, dtype=torch.long), {}, ValueError, "at least one sequence"),
        (torch.tensor([[0, 1, 5, 1]]), {}, ValueError, "x holds the id 5"),
        (torch.tensor([[0, 1, 3, 1]]), {}, ValueError, "x holds the id 3"),
        (torch.tensor([[0, -1, 2, 1]]), {}, ValueError, "x holds the id -1"),
        (torch.tensor([0, 1, 2]), {}, ValueError, "shape \\[B, L\\]"),
        (torch.tensor([[0.0, 1.0]]), {}, TypeError, "integer token ids"),
        (X, {"samples": 0}, ValueError, "samples must be an integer >= 1, got 0"),
        (X, {"method": "elbo"}, ValueError, "unknown method 'elbo'"),
        (X, {"method": "time-integral", "eps": 0.0}, ValueError, "eps must lie in \\(0, 1\\)"),
        (
            X,
            {"method": "time-free", "variant": "antithetic"},
            ValueError,
            "applies to method='time-integral' only",
        ),
        (X, {"method": "time-integral", "variant": "sobol"}, ValueError, "variant must be one of"),
        (X, {"method": "discrete"}, ValueError, "needs steps"),
        (X, {"method": "time-free", "steps": 4}, ValueError, "steps applies to method='discrete'"),
        (X, {"target_stderr": -1.0}, ValueError, "target_stderr must be a finite number > 0"),
        (X, {"max_samples": 10}, ValueError, "give target_stderr too"),
        (X, {"response": torch.tensor([False] * 4)}, ValueError, "marks no position in row 0"),
        (X, {"response": torch.ones(3, dtype=torch.bool)}, ValueError, "response must have shape"),
        (X, {"response": torch.ones(4)}, TypeError, "bool tensor"),
        (X, {"generator": "seed"}, TypeError, "generator must be"),
        (X, {"process": UniformProcess(), "method": "time-free"}, ValueError, "masked process"),
        (X, {"process": UniformProcess(), "eps": 0.1, "method": "time-integral"}, ValueError, "t_min"),
        (X, {"process": MaskedProcess(), "schedule": CosineSchedule()}, ValueError, "not both"),
        (torch.zeros(1, 17, dtype=torch.long), {"method": "exact"}, ValueError, "2\\^L"),
    ],
)
def test_bad_input_is_refused_before_any_work(x, options, error, match):
    """Each bad argument raises the stated error with a message naming it."""
    with pytest.raises(error, match=match):
        nelbo(never_called, x, 3, **options)


def test_non_callable_denoiser_and_bad_vocabulary():
    """A denoiser must be callable; vocab_size must be a positive integer."""
    with pytest.raises(TypeError, match="denoiser must be callable"):
        nelbo("model", X, 3)
    with pytest.raises(ValueError, match="vocab_size must be an integer >= 1"):
        nelbo(never_called, X, 0)


def test_denoiser_output_is_checked():
    """A denoiser returning the wrong shape or NaN fails with the contract's message."""
    with pytest.raises(ValueError, match="expected \\(2, 4, 3\\)"):
        nelbo(lambda z, t: torch.zeros(len(z), 4, 4), X, 3, samples=1)
    with pytest.raises(ValueError, match="NaN"):
        nelbo(lambda z, t: torch.full((len(z), 4, 3), float("nan")), X, 3, samples=1)


def test_prior_mismatch_schedule_warns():
    """A schedule with alpha(1) > 0 warns that the masked NELBO misses the prior term."""
    with pytest.warns(UserWarning, match="alpha\\(1\\)"):
        nelbo(TARGET.denoiser(), X, 3, "exact", schedule=LogLinearSchedule(eps=0.1))


def test_coupled_and_conditional_inputs():
    """log_ratio needs aligned pairs on the masked process; conditional_nelbo needs matching rows
    and a non-empty response."""
    with pytest.raises(ValueError, match="same shape"):
        log_ratio(never_called, X, X[:, :3], 3)
    with pytest.raises(ValueError, match="masked process"):
        log_ratio(never_called, X, X, 3, process=UniformProcess())
    with pytest.raises(ValueError, match="same number of rows"):
        conditional_nelbo(never_called, X[:1, :2], X[:, 2:], 3)
    with pytest.raises(ValueError, match="response must hold at least one"):
        conditional_nelbo(never_called, X, X[:, :0], 3)
