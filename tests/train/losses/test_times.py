"""Time draws of a batch: the antithetic draw puts one time in each stratum, every row's time is
marginally uniform, and a generator makes the draws reproducible."""

from __future__ import annotations

import math

import pytest
import torch

from unmask.train.losses import DEFAULT_T_MIN, antithetic_times, uniform_times
from unmask.train.losses.times import draw_times


def _ks_statistic(values: torch.Tensor, low: float, high: float) -> float:
    """Kolmogorov-Smirnov distance between the sample and ``U(low, high)``."""
    u = ((values - low) / (high - low)).sort().values
    n = len(u)
    above = torch.arange(1, n + 1, dtype=torch.float64) / n - u
    below = u - torch.arange(n, dtype=torch.float64) / n
    return float(torch.maximum(above, below).max())


#: KS critical value at significance 1e-3: sqrt(-log(1e-3 / 2) / 2) / sqrt(n).
def _ks_limit(n: int) -> float:
    return math.sqrt(-math.log(5e-4) / 2) / math.sqrt(n)


@pytest.mark.parametrize("batch", [1, 7, 64])
@pytest.mark.parametrize(("t_min", "t_max"), [(DEFAULT_T_MIN, 1.0), (0.25, 0.75)])
def test_antithetic_times_fill_every_stratum_once(batch, t_min, t_max):
    """The B antithetic times lie in [t_min, t_max], one in each of the B equal strata, as float64 [B]."""
    t = antithetic_times(batch, torch.Generator().manual_seed(3), "cpu", t_min=t_min, t_max=t_max)
    assert t.shape == (batch,) and t.dtype == torch.float64
    assert bool(((t >= t_min) & (t <= t_max)).all())
    strata = ((t - t_min) / (t_max - t_min) * batch).floor().long().clamp(max=batch - 1)
    assert strata.sort().values.tolist() == list(range(batch))


@pytest.mark.parametrize("draw", [antithetic_times, uniform_times])
def test_times_are_reproducible(draw):
    """The same seed gives the same times; another seed gives other times."""
    first = draw(16, torch.Generator().manual_seed(5))
    again = draw(16, torch.Generator().manual_seed(5))
    other = draw(16, torch.Generator().manual_seed(6))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_every_antithetic_row_is_marginally_uniform():
    """Row 3 of a batch of 8 antithetic times, over 3000 draws, passes a KS test against
    U(t_min, 1) at significance 1e-3 (the property that keeps a one-draw loss unbiased per row)."""
    g = torch.Generator().manual_seed(0)
    values = torch.stack([antithetic_times(8, g, t_min=0.1)[3] for _ in range(3000)])
    assert _ks_statistic(values, 0.1, 1.0) < _ks_limit(3000)


def test_uniform_times_are_uniform_and_draw_times_dispatches():
    """3000 i.i.d. times pass the KS test against U(0.2, 0.9); draw_times(antithetic=...) gives
    exactly the draw it names for the same seed."""
    values = uniform_times(3000, torch.Generator().manual_seed(1), t_min=0.2, t_max=0.9)
    assert _ks_statistic(values, 0.2, 0.9) < _ks_limit(3000)
    for antithetic, draw in ((True, antithetic_times), (False, uniform_times)):
        got = draw_times(5, torch.Generator().manual_seed(2), "cpu", antithetic=antithetic, t_min=0.1)
        assert torch.equal(got, draw(5, torch.Generator().manual_seed(2), "cpu", t_min=0.1))


def test_times_default_to_the_generators_device_and_accept_no_generator():
    """Without a device the times live on the generator's device (the CPU here); without a
    generator torch's global stream is used."""
    assert antithetic_times(4, torch.Generator()).device.type == "cpu"
    torch.manual_seed(0)
    assert uniform_times(4).shape == (4,)
