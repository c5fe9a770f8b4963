"""``ModelConfig``: validation, JSON round trip, presets, the registry and parameter counts."""

from __future__ import annotations

import json

import pytest
import torch

from unmask.train.models import (
    MODEL_KINDS,
    PRESETS,
    AutoregressiveTransformer,
    HollowDenoiser,
    ModelConfig,
    TransformerDenoiser,
    build_model,
    parameter_count,
)

from .helpers import KINDS

GOOD = {"kind": "denoiser", "vocab_size": 5, "length": 8, "d_model": 32, "n_layers": 2, "n_heads": 2}


@pytest.mark.parametrize("kind", KINDS)
def test_to_dict_and_from_dict_round_trip_through_json(kind) -> None:
    """``from_dict(json(to_dict(c))) == c`` for every field, non-default values included."""
    config = ModelConfig(
        kind=kind, vocab_size=7, length=12, d_model=48, n_layers=3, n_heads=3, mlp_ratio=2.5, dropout=0.1,
        time_conditioning=kind != "autoregressive",
    )  # fmt: skip
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize(
    ("field", "value", "error", "text"),
    [
        ("kind", "gpt", ValueError, "kind"),
        ("vocab_size", 0, ValueError, "vocab_size"),
        ("length", -3, ValueError, "length"),
        ("n_layers", 2.0, TypeError, "n_layers"),
        ("d_model", True, TypeError, "d_model"),
        ("n_heads", 3, ValueError, "divisible by n_heads"),
        ("d_model", 6, ValueError, "even"),  # head dimension 3: rotary needs pairs
        ("mlp_ratio", 0, ValueError, "mlp_ratio"),
        ("mlp_ratio", "4", TypeError, "mlp_ratio"),
        ("dropout", 1.0, ValueError, "dropout"),
        ("dropout", -0.1, ValueError, "dropout"),
        ("time_conditioning", 1, TypeError, "time_conditioning"),
    ],
)
def test_bad_values_raise_naming_the_argument(field, value, error, text) -> None:
    """Each bad field raises the stated error, whose message names the field and shows the value."""
    with pytest.raises(error, match=text) as caught:
        ModelConfig(**{**GOOD, field: value})
    assert str(value) in str(caught.value)


def test_from_dict_rejects_unknown_and_missing_keys_and_fills_defaults() -> None:
    """An unknown key or a missing required key is named in a ValueError; optional keys default."""
    with pytest.raises(ValueError, match="'heads'"):
        ModelConfig.from_dict({**GOOD, "heads": 2})
    without_length = {k: v for k, v in GOOD.items() if k != "length"}
    with pytest.raises(ValueError, match="missing ModelConfig key.*'length'"):
        ModelConfig.from_dict(without_length)
    with pytest.raises(TypeError, match="mapping"):
        ModelConfig.from_dict([("kind", "denoiser")])
    config = ModelConfig.from_dict(GOOD)
    assert (config.mlp_ratio, config.dropout, config.time_conditioning) == (4.0, 0.0, False)


def test_presets_fill_the_sizes_and_take_overrides() -> None:
    """A preset sets d_model, n_layers, n_heads; vocabulary, length, kind and overrides are kept."""
    config = ModelConfig.preset("small", vocab_size=11, length=32, kind="hollow", dropout=0.1)
    assert (config.d_model, config.n_layers, config.n_heads) == (128, 4, 4)
    assert (config.kind, config.vocab_size, config.length, config.dropout) == ("hollow", 11, 32, 0.1)
    with pytest.raises(ValueError, match="unknown preset 'huge'.*tiny"):
        ModelConfig.preset("huge", vocab_size=5, length=8)


@pytest.mark.parametrize("kind", KINDS)
def test_build_model_dispatches_on_kind_and_classes_check_the_kind(kind) -> None:
    """``build_model`` builds ``MODEL_KINDS[kind]``; a class refuses a config of another kind."""
    config = ModelConfig.preset("tiny", vocab_size=5, length=8, kind=kind)
    model = build_model(config)
    assert type(model) is MODEL_KINDS[kind]
    assert model.config == config
    for cls in (TransformerDenoiser, HollowDenoiser, AutoregressiveTransformer):
        if cls.kind == kind:
            continue
        with pytest.raises(ValueError, match=f"config.kind is '{kind}'"):
            cls(config)
    with pytest.raises(TypeError, match="ModelConfig"):
        build_model(config.to_dict())


def test_the_autoregressive_model_refuses_time_conditioning() -> None:
    """An autoregressive model has no time: time_conditioning=True is a ValueError."""
    config = ModelConfig.preset("tiny", vocab_size=5, length=8, kind="autoregressive", time_conditioning=True)
    with pytest.raises(ValueError, match="time_conditioning"):
        build_model(config)


@pytest.mark.parametrize("time_conditioning", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_parameter_count_equals_the_built_model(kind, time_conditioning) -> None:
    """``parameter_count`` (built on the meta device) counts what ``build_model`` builds, and the
    non-embedding count leaves out exactly the embedding ``(V + 1) d`` and the head ``V d``."""
    if kind == "autoregressive" and time_conditioning:
        return
    config = ModelConfig(**{**GOOD, "kind": kind, "time_conditioning": time_conditioning})
    built = sum(p.numel() for p in build_model(config).parameters())
    assert parameter_count(config) == built
    assert parameter_count(config, embeddings=False) == built - (6 + 5) * 32


def test_gpt2_small_has_about_85m_non_embedding_parameters() -> None:
    """The gpt2-small denoiser has GPT-2 small's 12 d^2 per layer (~85M non-embedding parameters);
    the hollow model, two streams and a mixing block, a little over twice that."""
    config = ModelConfig.preset("gpt2-small", vocab_size=50257, length=1024)
    count = parameter_count(config, embeddings=False)
    assert 84e6 < count < 86e6
    assert abs(count - 12 * 12 * 768**2) < 0.01 * count
    hollow = parameter_count(ModelConfig.preset("gpt2-small", vocab_size=50257, length=1024, kind="hollow"))
    assert 2 * count < hollow - 2 * 50257 * 768 < 2.2 * count


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_valid_config_of_every_kind(name) -> None:
    """Each preset gives a valid config for each kind, with the preset's sizes."""
    for kind in KINDS:
        config = ModelConfig.preset(name, vocab_size=100, length=64, kind=kind)
        assert {key: getattr(config, key) for key in PRESETS[name]} == PRESETS[name]


def test_small_preset_builds_and_runs() -> None:
    """The "small" preset builds and gives logits [B, L, V] (it is the CPU training size)."""
    config = ModelConfig.preset("small", vocab_size=30, length=16)
    model = build_model(config)
    assert model(torch.full((2, 16), 30), torch.ones(2)).shape == (2, 16, 30)
