"""Output shapes, dtypes and the carry-over rule of the models, in float32 and under bf16 autocast."""

from __future__ import annotations

import pytest
import torch

from .helpers import DENOISER_KINDS, KINDS, L, V, call, tiny, tokens


@pytest.mark.parametrize("kind", KINDS)
def test_logits_have_shape_b_l_v_in_float32_for_any_length_up_to_config_length(kind) -> None:
    """Outputs are float32 ``[B, L', V]`` (no mask column) for every ``1 <= L' <= config.length``,
    with float64 times as the samplers pass them."""
    model = tiny(kind)
    for length in (1, 3, L):
        x = tokens(3, length, masked=kind != "autoregressive")
        logits = call(model, x, torch.rand(3, dtype=torch.float64))
        assert logits.shape == (3, length, V)
        assert logits.dtype == torch.float32
        assert torch.isfinite(logits).all()
    for p in model.parameters():
        assert p.dtype == torch.float32


@pytest.mark.parametrize("time_conditioning", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_bf16_autocast_gives_bf16_logits_close_to_float32(kind, time_conditioning) -> None:
    """Under ``torch.autocast("cpu", bfloat16)`` the logits are bf16, finite, and within bf16
    rounding of the float32 logits (a relative 2^-8 per matmul over a few layers: 0.1 of the spread)."""
    if kind == "autoregressive" and time_conditioning:
        return
    model = tiny(kind, noise=0.05, time_conditioning=time_conditioning)
    x = tokens(4, masked=kind != "autoregressive")
    t = torch.rand(4, dtype=torch.float64)
    exact = call(model, x, t)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = call(model, x, t)
    assert low.dtype == torch.bfloat16
    assert torch.isfinite(low).all()
    torch.testing.assert_close(low.float(), exact, atol=0.1 * exact.std().item(), rtol=0.05)


@pytest.mark.parametrize("kind", DENOISER_KINDS)
@pytest.mark.parametrize("autocast", [False, True])
def test_carry_over_unmasked_positions_are_point_masses_masked_ones_the_network(kind, autocast) -> None:
    """``forward``: at an unmasked position, logit 0 on the current token and -inf elsewhere; at a
    masked one, the finite network logits (``raw_logits``)."""
    model = tiny(kind)
    x = tokens(6, seed=3)
    assert (x == V).any() and (x != V).any()
    t = torch.full((6,), 0.5, dtype=torch.float64)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out, raw = model(x, t), model.raw_logits(x, t)
    assert out.shape == (6, L, V)
    unmasked = x != V
    point_mass = torch.full((int(unmasked.sum()), V), float("-inf"), dtype=out.dtype)
    point_mass[torch.arange(len(point_mass)), x[unmasked]] = 0.0
    assert torch.equal(out[unmasked], point_mass)
    assert torch.isfinite(out[~unmasked]).all()
    assert torch.equal(out[~unmasked], raw[~unmasked])


@pytest.mark.parametrize("kind", DENOISER_KINDS)
def test_time_conditioning_makes_outputs_depend_on_t_and_time_agnostic_says_so(kind) -> None:
    """With ``time_conditioning=True`` (adaLN active) the logits change with ``t`` and
    ``time_agnostic`` is False; with False they are identical for any ``t`` and it is True."""
    x = tokens(2, seed=4)
    early, late = torch.tensor([0.1, 0.1], dtype=torch.float64), torch.tensor([0.9, 0.9], dtype=torch.float64)
    conditioned = tiny(kind, noise=0.05, time_conditioning=True)
    assert conditioned.time_agnostic is False
    assert not torch.allclose(conditioned.raw_logits(x, early), conditioned.raw_logits(x, late), atol=1e-4)
    plain = tiny(kind, noise=0.05)
    assert plain.time_agnostic is True
    assert torch.equal(plain.raw_logits(x, early), plain.raw_logits(x, late))


@pytest.mark.parametrize("kind", DENOISER_KINDS)
def test_a_fresh_time_conditioned_model_starts_as_the_plain_one(kind) -> None:
    """adaLN starts at the identity (zero modulation weights, gate 1): a freshly built
    time-conditioned model gives the logits of the plain model with the same shared weights."""
    conditioned, plain = tiny(kind, time_conditioning=True), tiny(kind)
    shared = {k: v for k, v in conditioned.state_dict().items() if k in plain.state_dict()}
    plain.load_state_dict(shared)
    x = tokens(3, seed=5)
    torch.testing.assert_close(conditioned.raw_logits(x, 0.3), plain.raw_logits(x, 0.3))


@pytest.mark.parametrize("kind", DENOISER_KINDS)
def test_a_scalar_or_one_element_time_is_broadcast(kind) -> None:
    """``t`` given as a number or a one-element tensor acts as that time for every row."""
    model = tiny(kind, noise=0.05, time_conditioning=True)
    x = tokens(3, seed=6)
    per_row = model.raw_logits(x, torch.full((3,), 0.25, dtype=torch.float64))
    assert torch.equal(model.raw_logits(x, 0.25), per_row)
    assert torch.equal(model.raw_logits(x, torch.tensor([0.25])), per_row)


@pytest.mark.parametrize("kind", DENOISER_KINDS)
@pytest.mark.parametrize(
    ("x", "t", "error", "text"),
    [
        (torch.zeros(2, L + 1, dtype=torch.long), 0.5, ValueError, r"length 9.*1 to 8"),
        (torch.full((2, L), V + 1), 0.5, ValueError, r"x_t holds the id 6; ids must lie in 0..4 or 5"),
        (torch.full((2, L), -1), 0.5, ValueError, "x_t holds the id -1"),
        (torch.zeros(2, L), 0.5, TypeError, "integer token ids"),
        (torch.zeros(L, dtype=torch.long), 0.5, ValueError, r"shape \[B, L\]"),
        (torch.zeros(2, L, dtype=torch.long), 1.5, ValueError, r"t must lie in \[0, 1\].*1.5"),
        (torch.zeros(2, L, dtype=torch.long), torch.tensor([0.1, float("nan")]), ValueError, "nan"),
        (torch.zeros(2, L, dtype=torch.long), torch.zeros(3), ValueError, r"t must have shape \[B\] = \[2\]"),
        (torch.zeros(2, L, dtype=torch.long), torch.zeros(2, dtype=torch.long), TypeError, "float tensor"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(kind, x, t, error, text) -> None:
    """Bad tokens or times raise before any work, naming the argument and the value."""
    with pytest.raises(error, match=text):
        tiny(kind)(x, t)


@pytest.mark.parametrize("kind", KINDS)
def test_narrow_integer_ids_act_as_int64(kind) -> None:
    """Ids given as int32 or uint8 give the logits of the same ids as int64 (forward included)."""
    model = tiny(kind)
    x = tokens(3, seed=7, masked=kind != "autoregressive")
    run = (lambda z: model(z)) if kind == "autoregressive" else (lambda z: model(z, 0.5))
    for dtype in (torch.int32, torch.uint8):
        assert torch.equal(run(x.to(dtype)), run(x))
