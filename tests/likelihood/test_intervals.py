"""Error bars that mean what they say: Student-t quantiles, the skewness-corrected interval, its
measured coverage with exact denoisers, the reliability flag, and ``target_stderr`` runs that stop
at the cap."""

import math

import pytest
import torch

import unmask
from unmask.likelihood import nelbo
from unmask.likelihood.budget import RunningStats
from unmask.likelihood.intervals import skew_corrected_interval, t_quantile, t_quantiles


@pytest.mark.parametrize(
    ("probability", "dof", "expected"),
    [
        (0.975, 1, 12.706204736174707),
        (0.975, 2, 4.302652729749464),
        (0.995, 3, 5.840909309733351),
        (0.975, 7, 2.364624251592785),
        (0.95, 10, 1.812461122811676),
        (0.975, 30, 2.042272456301238),
        (0.975, 63, 1.998340542520710),
        (0.975, 1000, 1.962339080826415),
        (0.025, 7, -2.364624251592785),
    ],
)
def test_t_quantile_matches_tables(probability, dof, expected):
    """t quantiles to 1e-9 against published values, on both sides of the exact/series switch."""
    assert t_quantile(probability, dof) == pytest.approx(expected, abs=1e-9)


def test_t_quantiles_vectorised_and_normal_limit():
    """Per-entry quantiles, NaN below one degree of freedom; a huge dof gives the normal 1.95996."""
    q = t_quantiles(0.975, torch.tensor([7, 0, 63, 7]))
    assert q[0] == q[3] == pytest.approx(2.3646242516, abs=1e-9) and math.isnan(q[1])
    assert t_quantile(0.975, 10**12) == pytest.approx(1.959963984540054, abs=1e-12)


def test_running_skewness_matches_direct_formula():
    """Chunked Pebay merges of the third central moment equal the one-pass skewness."""
    values = torch.empty(3, 50, dtype=torch.float64).exponential_(generator=torch.Generator().manual_seed(0))
    stats = RunningStats(3, 1)
    index = torch.arange(3).repeat_interleave(50)
    flat = values.reshape(-1, 1)
    for chunk in (slice(0, 7), slice(7, 60), slice(60, 61), slice(61, 150)):
        stats.add(index[chunk], flat[chunk])
    d = values - values.mean(1, keepdim=True)
    direct = (d**3).mean(1) / (d**2).mean(1) ** 1.5
    torch.testing.assert_close(stats.skewness()[:, 0], direct)


def test_skew_correction_is_symmetric_without_skew_and_shifts_up_with_right_skew():
    """gamma = 0 gives mean -+ q stderr; a right skew moves both ends up (a low mean comes with a
    low stderr)."""
    mean, stderr, units, q = torch.tensor([1.0, 1.0]), torch.tensor([0.5, 0.5]), torch.tensor([16, 16]), 2.0
    low, high = skew_corrected_interval(mean, stderr, torch.tensor([0.0, 2.0]), units, torch.full((2,), q))
    assert low[0] == pytest.approx(0.0) and high[0] == pytest.approx(2.0)
    assert low[1] > low[0] and high[1] > high[0] and low[1] < mean[1] < high[1]


@pytest.fixture(scope="module")
def chain():
    target = unmask.targets.MarkovChain.random(vocab_size=3, length=6, concentration=0.3, seed=0)
    return target, target.sample(16, generator=torch.Generator().manual_seed(1))


REPEATS = 200  # 16 sequences x 200 = 3200 intervals per method: binomial stderr ~0.004 at 0.95


@pytest.mark.parametrize("method", ["time-free", "uniform-count"])
def test_interval_coverage_at_defaults(chain, method):
    """Property: for the methods marked reliable, the default 95 % interval (Student-t with
    units - 1 degrees of freedom, Hall's skewness correction) contains the exact -log pi(x) in
    93-97 % of runs at the default budget (128 draws), measured over 16 sequences x 200
    independent runs with the exact denoiser. The accepted band is 93-97 % widened by three
    binomial standard errors of the measured coverage (~0.012), so a coverage of 0.88 (the old
    normal interval of the stratified variant) fails and 0.95 passes except with odds ~1e-9."""
    target, x16 = chain
    x = x16.repeat(REPEATS, 1)
    exact = -target.log_prob(x)
    result = nelbo(target.denoiser(), x, 3, method=method, generator=11)
    assert result.reliable and result.caveat is None
    assert (result.units == 128).all() and (result.dof == 127).all()
    low, high = result.interval()
    coverage = float(((low <= exact) & (exact <= high)).double().mean())
    se = math.sqrt(coverage * (1 - coverage) / len(x))
    assert 0.93 - 3 * se <= coverage <= 0.97 + 3 * se, coverage


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("time-integral", {}),
        ("time-integral", {"variant": "antithetic"}),
        ("time-integral", {"variant": "stratified"}),
        ("discrete", {"steps": 64}),
    ],
)
def test_heavy_tailed_methods_say_their_error_bars_are_unreliable(chain, method, options):
    """The time-integral estimators (and the discrete bound with many steps) weigh a draw by ~1/t:
    their intervals under-cover (92-93 % measured), and the record says so and why."""
    target, x = chain
    result = nelbo(target.denoiser(), x[:2], 3, method=method, samples=16, generator=0, **options)
    assert not result.reliable and "heavy-tailed" in result.caveat
    record = result.to_dict()
    assert record["reliable"] is False and "heavy-tailed" in record["caveat"]


def test_stratified_units_set_the_degrees_of_freedom(chain):
    """64 stratified draws with 8 strata are 8 i.i.d. units: the plain t interval uses t_{0.975,7}."""
    target, x = chain
    result = nelbo(
        target.denoiser(), x[:3], 3, method="time-integral", variant="stratified", samples=64, generator=0
    )
    assert (result.units == 8).all() and (result.samples == 64).all()
    low, high = result.interval(skew=False)
    torch.testing.assert_close(high - result.nll, 2.3646242516 * result.stderr)
    torch.testing.assert_close(result.nll - low, 2.3646242516 * result.stderr)


def test_exact_interval_is_a_point(chain):
    target, x = chain
    result = nelbo(target.denoiser(), x[:3], 3, method="exact")
    low, high = result.interval()
    assert torch.equal(low, result.nll) and torch.equal(high, result.nll) and result.units is None
    assert result.to_dict()["reached_target"] is None


def test_target_stderr_not_reached_is_recorded(chain):
    """A target below what max_samples allows stops at the cap, and the record says so per
    sequence; a loose target is reached; without target_stderr the field is None."""
    target, x = chain
    capped = nelbo(target.denoiser(), x[:4], 3, samples=16, generator=0, target_stderr=1e-3, max_samples=64)
    assert (capped.samples == 64).all() and not capped.reached_target.any() and capped.unreached == 4
    record = capped.to_dict()
    assert record["reached_target"] == [False] * 4 and record["target_stderr"] == 1e-3
    loose = nelbo(target.denoiser(), x[:4], 3, samples=16, generator=0, target_stderr=5.0)
    assert loose.reached_target.all() and loose.unreached == 0
    assert nelbo(target.denoiser(), x[:4], 3, samples=16, generator=0).reached_target is None
