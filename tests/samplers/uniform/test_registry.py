"""Registration of the uniform samplers and the errors for a sampler of the wrong process."""

from __future__ import annotations

import pytest

import unmask
from unmask.exact import output_law
from unmask.samplers import get, names, uniform
from unmask.samplers.ancestral import Euler as MaskedEuler
from unmask.targets import MarkovChain

from .helpers import UNIFORM_SAMPLERS


def test_names_and_classes() -> None:
    """names("uniform") lists the four uniform samplers; get builds the uniform classes."""
    assert names("uniform") == sorted(UNIFORM_SAMPLERS)
    classes = {"euler": uniform.Euler, "tau-leaping": uniform.TauLeaping}
    classes |= {"tweedie": uniform.Tweedie, "trapezoidal": uniform.Trapezoidal}
    for name, cls in classes.items():
        sampler = get(name, "uniform")
        assert type(sampler) is cls and sampler.process_type.name == "uniform" and sampler.name == name
    assert get("trapezoidal", "uniform", theta=0.3).theta == 0.3
    assert uniform.Trapezoidal.calls_per_step == 2


@pytest.mark.parametrize("theta", [0.0, 1.0, -0.5, 2.0])
def test_trapezoid_rejects_theta_outside_open_unit_interval(theta: float) -> None:
    """theta must lie in (0, 1): a1 = 1/(2 theta (1 - theta)) is undefined at the ends."""
    with pytest.raises(ValueError, match="theta"):
        uniform.Trapezoidal(theta=theta)


def test_uniform_sampler_with_masked_process_raises() -> None:
    """A uniform sampler object with the (default) masked process is refused with a ValueError that
    names both processes, in sample() and in the exact law."""
    target = MarkovChain.mixing(2, 3, eps=0.5)
    with pytest.raises(ValueError, match="uniform process, but the process is masked"):
        unmask.sample(target.denoiser(), uniform.Euler(), vocab_size=2, length=3, batch_size=2, steps=2)
    with pytest.raises(ValueError, match="uniform process, but the process is masked"):
        output_law(target, uniform.Trapezoidal(), 2)


def test_masked_sampler_with_uniform_process_raises() -> None:
    """A masked sampler object with a UniformProcess is refused with a ValueError naming both."""
    target = MarkovChain.mixing(2, 3, eps=0.5)
    process = unmask.UniformProcess()
    with pytest.raises(ValueError, match="masked process, but the process is uniform"):
        unmask.sample(
            target.uniform_denoiser(process),
            MaskedEuler(),
            vocab_size=2,
            length=3,
            batch_size=2,
            steps=2,
            process=process,
        )
    with pytest.raises(ValueError, match="masked process, but the process is uniform"):
        output_law(target, MaskedEuler(), 2, process=process)


def test_unknown_uniform_name_lists_known_ones() -> None:
    """An unknown name for the uniform process names the four known samplers."""
    with pytest.raises(ValueError, match="euler, tau-leaping, trapezoidal, tweedie"):
        get("first-hitting", "uniform")
