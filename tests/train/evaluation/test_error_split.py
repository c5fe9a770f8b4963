"""``error_split``: exact model and sampler parts of a model's error on a small target."""

from __future__ import annotations

import pytest
import torch

from unmask.exact import kl, output_law, tv
from unmask.samplers import get
from unmask.train.data import default_target
from unmask.train.evaluation import Limits, error_split
from unmask.train.models import ModelConfig, build_model

TARGET = default_target(length=4)  # V = 4, L = 4: 256 sequences, 625 partial states
SAMPLERS = ["first-hitting", "euler", "tau-leaping", "k-random", "top-k", "trapezoidal:theta=0.4"]


def tiny_model(seed: int = 0, **overrides) -> torch.nn.Module:
    """An untrained tiny denoiser for V = 4, L = 4."""
    torch.manual_seed(seed)
    return build_model(ModelConfig.preset("tiny", vocab_size=4, length=4, **overrides)).eval()


def test_exact_denoiser_has_no_model_part_and_the_sampler_part_is_the_samplers_own_error():
    """With the target's exact denoiser in place of a model, the model's law is the target (model
    KL and TV below 1e-12), and each sampler's part equals its known exact error
    (unmask.exact.output_law against the target), as does the total."""
    split = error_split(TARGET, TARGET.denoiser(), SAMPLERS, (2, 4))
    assert abs(split.model_kl) < 1e-12 and split.model_tv < 1e-12
    assert len(split.rows) == 1 + 5 * 2  # first-hitting takes no steps
    errors = []
    for row in split.rows:
        sampler = get(row.sampler.partition(":")[0], theta=0.4) if "theta" in row.sampler else row.sampler
        law = output_law(TARGET, sampler, row.steps)
        assert row.sampler_tv == pytest.approx(tv(law, TARGET.probs()), abs=1e-12)
        assert row.sampler_kl == pytest.approx(kl(TARGET.probs(), law), abs=1e-10)
        assert row.total_tv == pytest.approx(row.sampler_tv, abs=1e-12)
        errors.append(row.sampler_tv)
    assert max(errors) > 0.01  # the grid samplers at 2 steps do err: the comparison has teeth


def test_untrained_model_obeys_the_triangle_inequality():
    """With an untrained model: total TV <= model TV + sampler TV on every row; the model's part
    is large (an untrained model is far from the target) and first-hitting, the model's own law,
    has sampler part 0 and total = model part."""
    split = error_split(TARGET, tiny_model(), SAMPLERS, (2, 4))
    assert split.model_tv > 0.1 and split.model_kl > 0.1 and split.tabulated
    for row in split.rows:
        assert not row.refused, row
        assert row.total_tv <= row.model_tv + row.sampler_tv + 1e-12, row
        assert (row.model_tv, row.model_kl) == (split.model_tv, split.model_kl)
        assert row.nfe is not None and row.nfe > 0
    first = next(row for row in split.rows if row.sampler == "first-hitting")
    assert first.sampler_tv == 0 and first.total_tv == pytest.approx(split.model_tv, abs=1e-15)
    assert any(row.sampler_tv > 1e-3 for row in split.rows)


def test_refused_samplers_are_listed_with_their_reason():
    """A sampler without an exact law (ReMDM-conf) is a row per step count with the reason of
    Sampler.exact_law_refusal and no numbers; the others are computed."""
    refused = "remdm:variant=confidence"
    split = error_split(TARGET, tiny_model(), ["euler", refused], (2, 4))
    rows = [row for row in split.rows if row.sampler == refused]
    assert [row.steps for row in rows] == [2, 4]
    reason = get("remdm", variant="confidence").exact_law_refusal()
    for row in rows:
        assert row.refused and row.refusal == reason
        assert (row.total_tv, row.sampler_tv, row.total_kl, row.sampler_kl, row.nfe) == (None,) * 5
        assert row.to_dict()["refusal"] == reason
    assert all(not row.refused for row in split.rows if row.sampler == "euler")


def test_workers_with_limits_give_the_same_numbers_and_report_a_time_limit():
    """Laws computed in forked workers under limits equal the laws computed in this process; a law
    that outlasts the time limit becomes a refusal naming the limit."""
    here = error_split(TARGET, tiny_model(1), ["euler", "top-k"], (2, 4))
    there = error_split(
        TARGET, tiny_model(1), ["euler", "top-k"], (2, 4), limits=Limits(seconds=60, workers=2)
    )
    assert [row.to_dict() | {"seconds": 0} for row in here.rows] == [
        row.to_dict() | {"seconds": 0} for row in there.rows
    ]
    # a forked worker's law at 16 steps takes far longer than 1 ms
    split = error_split(TARGET, tiny_model(2), ["euler"], (16,), limits=Limits(seconds=1e-3))
    assert split.rows[0].refusal == "stopped after the time limit of 0.001 s"


def test_bad_arguments_are_refused_before_any_call():
    """A time-conditioned model, a model of another vocabulary, a target too large for exact laws,
    bad step counts and unknown samplers raise, naming the problem."""
    with pytest.raises(ValueError, match="time-conditioned"):
        error_split(TARGET, tiny_model(time_conditioning=True), ["euler"], (2,))
    other = build_model(ModelConfig.preset("tiny", vocab_size=5, length=4)).eval()
    with pytest.raises(ValueError, match="vocab_size"):
        error_split(TARGET, other, ["euler"], (2,))
    with pytest.raises(ValueError, match="exact-law limit"):
        error_split(default_target(length=11), tiny_model(), ["euler"], (2,))
    with pytest.raises(ValueError, match="positive integers"):
        error_split(TARGET, tiny_model(), ["euler"], (0,))
    with pytest.raises(TypeError, match="sequence of step counts"):
        error_split(TARGET, tiny_model(), ["euler"], 4)
    with pytest.raises(ValueError, match="warp"):
        error_split(TARGET, tiny_model(), ["warp"], (2,))
    with pytest.raises(TypeError, match="exact target"):
        error_split(tiny_model(), tiny_model(), ["euler"], (2,))
