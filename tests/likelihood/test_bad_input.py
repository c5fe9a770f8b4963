"""Bad input fails before any denoiser call, with an error naming the argument and the value."""

from __future__ import annotations

import numpy as np
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
        (
            X,
            {"method": "time-free", "eps": 1e-3},
            ValueError,
            "eps applies to method='time-integral' only.*eps=0.001",
        ),
        (X, {"method": "exact", "eps": 1e-3}, ValueError, "eps applies to method='time-integral' only"),
        (X, {"generator": -1}, ValueError, "^generator must be a non-negative integer, got -1$"),
        (X, {"samples": 10**12}, ValueError, "samples must be at most 10,000,000, got 1,000,000,000,000"),
        (X, {"samples": True}, TypeError, "samples must be an integer >= 1, got True"),
        (X, {"method": "discrete", "steps": 10**7}, ValueError, "steps must be at most 1,000,000"),
        (
            X.repeat(2000, 1),
            {"samples": 10**6},
            ValueError,
            "samples=1000000 for 4,000 sequences plans 4,000,000,000 draws in one round",
        ),
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


def test_a_denoiser_of_another_vocabulary_is_named():
    with pytest.raises(
        ValueError, match="vocab_size=4 disagrees with the denoiser, whose logits have last dimension 3"
    ):
        nelbo(TARGET.denoiser(), X, 4)


def test_numpy_integers_are_accepted():
    plain = nelbo(TARGET.denoiser(), X, 3, samples=8, generator=3)
    numpy = nelbo(TARGET.denoiser(), X, np.int64(3), samples=np.int64(8), generator=np.int64(3))
    assert torch.equal(plain.nll, numpy.nll)


def test_a_denoiser_returning_probabilities_warns():
    def probabilities(z, t):
        return torch.full((*z.shape, 3), 1 / 3)

    with pytest.warns(UserWarning, match="looks like probabilities"):
        nelbo(probabilities, X, 3, samples=2, generator=0)
